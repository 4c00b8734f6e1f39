"""The SQLite run store: one row per run, with its config, training metrics and results.

Plots and listings read from here, never from logs. The schema version is kept in
``PRAGMA user_version``; WAL mode and a busy timeout let several processes write at once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from kcap.errors import KcapError
from kcap.store.workspace import store_path

SCHEMA_VERSION = 3
# Each migration takes the store from version i to i + 1; a new store runs them all.
_MIGRATIONS = ["""
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT PRIMARY KEY,
    run_dir     TEXT NOT NULL,
    created     REAL NOT NULL,
    updated     REAL NOT NULL,
    status      TEXT NOT NULL,         -- trained | measured | failed
    dataset     TEXT,                  -- e.g. bioS-multi
    people      INTEGER,
    exposures   INTEGER,
    arch        TEXT,
    layers      INTEGER,
    heads       INTEGER,
    d_model     INTEGER,
    params      INTEGER,
    bits        REAL,
    bits_max    REAL,
    bits_per_param REAL,
    config      TEXT NOT NULL,         -- JSON: the run's config.json
    metrics     TEXT,                  -- JSON: training summary
    results     TEXT                   -- JSON: measurement
);
""", """
CREATE TABLE IF NOT EXISTS points (    -- the training curve: one row per logged step
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step        INTEGER NOT NULL,
    tokens      INTEGER NOT NULL,
    exposures   REAL,
    flops       REAL,
    flops_6nd   REAL,
    loss        REAL,
    heldout_loss REAL,
    bits        REAL,
    PRIMARY KEY (run_id, step)
);
""", """
CREATE TABLE IF NOT EXISTS quantized ( -- measurements after quantizing a run's weights
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    method      TEXT NOT NULL,         -- int8, int4, int4-g32, ...
    updated     REAL NOT NULL,
    bits        REAL,
    bits_per_param REAL,
    results     TEXT NOT NULL,         -- JSON: measurement, as RUN/measure-<method>.json
    PRIMARY KEY (run_id, method)
);
"""]
_POINT_COLUMNS = ("step", "tokens", "exposures", "flops", "flops_6nd", "loss", "heldout_loss", "bits")


def dataset_label(data: dict) -> str:
    """Short name of a run's dataset: kind-variant, plus junk and domain-token options."""
    label = f"{data['kind']}-{data['variant']}"
    junk = data.get("junk")
    if junk:
        label += f"+junk{junk['fraction']:g}" + (f"/{junk['people']}" if junk.get("people") else "")
    if data.get("domain_token"):
        label += "+domain"
    return label


def _shape(model: dict) -> tuple[int | None, int | None, int | None]:
    """Layers, heads and width of a run's model section (ours, or a Hugging Face config)."""
    hf = model.get("hf_config", {})
    return (model.get("n_layer", hf.get("num_hidden_layers")), model.get("n_head", hf.get("num_attention_heads")),
            model.get("d_model", hf.get("hidden_size")))


class RunStore:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise KcapError(f"run store {self.path} has schema {version}, newer than this kcap ({SCHEMA_VERSION})")
            for v in range(version, SCHEMA_VERSION):
                self.conn.executescript(f"BEGIN; {_MIGRATIONS[v]} PRAGMA user_version={v + 1}; COMMIT;")
        except sqlite3.DatabaseError as e:
            raise KcapError(f"run store {self.path} is unreadable: {e}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record_trained(self, run_id: str, run_dir: Path, config: dict, metrics: dict,
                       points: list[dict] = ()) -> None:
        """Insert or replace a trained run and its training curve, in one transaction."""
        now = time.time()
        d, m = config["data"], config["model"]
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("DELETE FROM points WHERE run_id = ?", (run_id,))
        self.conn.execute("DELETE FROM quantized WHERE run_id = ?", (run_id,))  # measured old weights
        self.conn.executemany(
            f"INSERT INTO points (run_id, {', '.join(_POINT_COLUMNS)}) VALUES (?{', ?' * len(_POINT_COLUMNS)})",
            [(run_id, *(p.get(c) for c in _POINT_COLUMNS)) for p in points])
        self.conn.execute(
            """INSERT INTO runs (id, run_dir, created, updated, status, dataset, people, exposures,
                                 arch, layers, heads, d_model, params, config, metrics)
               VALUES (?, ?, ?, ?, 'trained', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET run_dir=excluded.run_dir, updated=excluded.updated,
                 status='trained', params=excluded.params, config=excluded.config,
                 metrics=excluded.metrics, results=NULL, bits=NULL, bits_max=NULL, bits_per_param=NULL""",
            (run_id, str(Path(run_dir).resolve()), now, now, dataset_label(d), d["people"],
             config["train"]["exposures"], m["arch"], *_shape(m),
             config["params"]["total"], json.dumps(config), json.dumps(metrics)))
        self.conn.execute("COMMIT")

    def record_results(self, run_id: str, results: dict) -> None:
        cur = self.conn.execute(
            """UPDATE runs SET status='measured', updated=?, bits=?, bits_max=?, bits_per_param=?,
                   results=? WHERE id=?""",
            (time.time(), results["bits"], results["bits_max"], results["bits_per_param"],
             json.dumps(results), run_id))
        if cur.rowcount == 0:
            raise KcapError(f"run {run_id} is not in the store {self.path}; train it first")

    def record_quantized(self, run_id: str, method: str, results: dict) -> None:
        """Store a measurement of the run's quantized weights beside the full-precision one."""
        if self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise KcapError(f"run {run_id} is not in the store {self.path}; train it first")
        self.conn.execute(
            """INSERT INTO quantized (run_id, method, updated, bits, bits_per_param, results) VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT(run_id, method) DO UPDATE SET updated=excluded.updated, bits=excluded.bits,
                 bits_per_param=excluded.bits_per_param, results=excluded.results""",
            (run_id, method, time.time(), results["bits"], results["bits_per_param"], json.dumps(results)))

    def quantized(self, run_id: str) -> dict[str, dict]:
        """A run's quantized measurements by method."""
        rows = self.conn.execute("SELECT method, results FROM quantized WHERE run_id = ? ORDER BY method", (run_id,))
        return {r["method"]: json.loads(r["results"]) for r in rows}

    def points(self, run_id: str) -> list[dict]:
        """A run's training curve, by step."""
        rows = self.conn.execute(f"SELECT {', '.join(_POINT_COLUMNS)} FROM points WHERE run_id = ? ORDER BY step",
                                 (run_id,))
        return [dict(r) for r in rows]

    def runs(self, ids: list[str] | None = None, measured_only: bool = False) -> list[dict]:
        sql, args = "SELECT * FROM runs", []
        clauses = []
        if ids is not None:
            clauses.append(f"id IN ({','.join('?' * len(ids))})")
            args += ids
        if measured_only:
            clauses.append("status = 'measured'")
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        rows = []
        for r in self.conn.execute(sql + " ORDER BY created", args):
            row = dict(r)
            for k in ("config", "metrics", "results"):
                row[k] = json.loads(row[k]) if row[k] else None
            row["quantized"] = {q["method"]: {"bits": q["bits"], "bits_per_param": q["bits_per_param"]}
                                for q in self.conn.execute("SELECT method, bits, bits_per_param FROM quantized "
                                                           "WHERE run_id = ? ORDER BY method", (row["id"],))}
            rows.append(row)
        return rows
