"""The SQLite run store: one row per run, with its config, training metrics and results.

Plots and listings read from here, never from logs. The schema version is kept in
``PRAGMA user_version``. Several processes may write at once (runs of a sweep finishing together):
WAL mode lets readers and one writer proceed side by side, every write is one ``BEGIN IMMEDIATE``
transaction that takes the write lock up front (so SQLite's busy timeout applies and no
transaction has to be abandoned half-way), and the rare "database is locked" that escapes the
timeout is retried.

A run's life in the store (``status``):

    running -> trained -> measured        (finished)
    running -> failed     (reason: "nan: ...", "oom: ...", "error: ...", "crash: ...")
    running -> interrupted (KeyboardInterrupt), or stays running with a dead pid (SIGKILL)

``run_status(id)`` tells a sweep which of these a run is in, and whether it can be resumed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kcap.errors import KcapError
from kcap.outdir import LOCK, busy, holding
from kcap.store.workspace import store_path, workspace_label

T = TypeVar("T")

SCHEMA_VERSION = 4
FINISHED = ("trained", "measured")
# Each migration takes the store from version i to i + 1; a new store runs them all.
_MIGRATIONS = ["""
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT PRIMARY KEY,
    run_dir     TEXT NOT NULL,
    created     REAL NOT NULL,
    updated     REAL NOT NULL,
    status      TEXT NOT NULL,         -- running | interrupted | failed | trained | measured
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
ALTER TABLE runs ADD COLUMN reason TEXT;                          -- why a run failed
ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;  -- times training was started
ALTER TABLE runs ADD COLUMN pid INTEGER;                          -- process training it (running)
ALTER TABLE runs ADD COLUMN host TEXT;                            -- and its host
""", """
-- v3 was two different changes on two development branches (run status; quantized table): a store
-- at v3 gets whichever it lacks. ADD COLUMN is skipped where the column exists (see _migrate).
ALTER TABLE runs ADD COLUMN reason TEXT;
ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN host TEXT;
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
_STATUS_FIELDS = ("id", "status", "reason", "run_dir", "attempts", "pid", "host", "updated")
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


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (``executescript`` would commit mid-transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out


def _locked(e: sqlite3.OperationalError) -> bool:
    return "locked" in str(e) or "busy" in str(e)


@dataclass
class RunStatus:
    """Where a run stands in the store."""

    id: str
    status: str
    """running | interrupted | failed | trained | measured."""
    reason: str | None
    """Why it failed ("nan: ...", "oom: ...", "error: ...", "crash: ..."; see train/failure.py)."""
    run_dir: str
    attempts: int
    pid: int | None
    host: str | None
    updated: float
    """Last write (start, checkpoint, end): a heartbeat for runs on other hosts."""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def alive(self) -> bool | None:
        """For a running run: is its process alive? None if it runs on another host (unknowable here)."""
        if self.status != "running" or self.pid is None:
            return False
        if self.host != socket.gethostname():
            return None
        if (Path(self.run_dir) / LOCK).is_file():  # a trainer holds its run directory's lock while it lives
            return busy(Path(self.run_dir)) is not None  # (a recycled pid cannot fool this)
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by someone else
            return True
        return True

    @property
    def resumable(self) -> bool:
        """Interrupted, or marked running by a process that is gone (killed): resume it."""
        return self.status == "interrupted" or (self.status == "running" and self.alive is False)


def usable(rows: list[dict], use: str) -> list[dict]:
    """``rows`` from ``RunStore.runs``, refused in one line if the store cannot vouch for one
    (``use``: what would have used it), rather than computing with its holes."""
    bad = next((r for r in rows if r.get("problem")), None)
    if bad is not None:
        raise KcapError(f"run {bad['id']}: {bad['problem']}; {use} cannot use it")
    return rows


def _effective(row: dict) -> dict:
    """A row as it stands now: marked running by a process on this host that is gone (SIGKILL,
    power loss), it is interrupted, not running forever. Read only: the row is not rewritten."""
    if row["status"] == "running" and RunStatus(**{k: row[k] for k in _STATUS_FIELDS}).alive is False:
        row = {**row, "status": "interrupted",
               "reason": row.get("reason") or f"interrupted: its process ({row['pid']} on {row['host']}) is gone"}
    return row


def _shape(model: dict) -> tuple[int | None, int | None, int | None]:
    """Layers, heads and width of a run's model section (ours, or a Hugging Face config)."""
    hf = model.get("hf_config", {})
    return (model.get("n_layer", hf.get("num_hidden_layers")), model.get("n_head", hf.get("num_attention_heads")),
            model.get("d_model", hf.get("hidden_size")))


class RunStore:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else store_path()
        where = f"run store {self.path}" + ("" if path else f" ({workspace_label()})")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise KcapError(f"{where}: {self.path.parent} is a file, not a directory") from None
        except OSError as e:
            raise KcapError(f"{where}: cannot create {self.path.parent} ({e.strerror or e})") from None
        if self.path.is_dir():
            raise KcapError(f"{where} is a directory, not a SQLite file")
        try:
            self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self._retry(lambda: self.conn.execute("PRAGMA journal_mode=WAL"))
            self._retry(self._migrate)
        except sqlite3.DatabaseError as e:  # not a database, unwritable place, read-only file
            raise KcapError(f"{where} cannot be used: {e}") from None

    def _migrate(self) -> None:
        if self.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        # the version is read again under the write lock: two processes opening a new store at
        # once must not both run a migration (ALTER TABLE is not idempotent)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise KcapError(f"run store {self.path} has schema {version}, newer than this kcap ({SCHEMA_VERSION})")
            for v in range(version, SCHEMA_VERSION):
                for stmt in _statements(_MIGRATIONS[v]):
                    if not self._has_column_added_by(stmt):
                        self.conn.execute(stmt)
                self.conn.execute(f"PRAGMA user_version={v + 1}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _has_column_added_by(self, stmt: str) -> bool:
        """Whether ``stmt`` is an ALTER TABLE ... ADD COLUMN whose column already exists."""
        m = re.match(r"(?:--[^\n]*\n|\s)*ALTER TABLE (\w+) ADD COLUMN (\w+)", stmt, re.IGNORECASE)
        if not m:
            return False
        return m.group(2) in {r[1] for r in self.conn.execute(f"PRAGMA table_info({m.group(1)})")}

    def _retry(self, fn: Callable[[], T], tries: int = 20) -> T:
        """Run ``fn``, retrying when the database stays locked beyond the busy timeout."""
        for i in range(tries):
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if not _locked(e) or i == tries - 1:
                    raise
                time.sleep(0.05 * (i + 1))
        raise AssertionError("unreachable")

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside one write transaction that holds the lock from its start."""
        def attempt() -> T:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(self.conn)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return out
        return self._retry(attempt)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record_started(self, run_id: str, run_dir: Path, config: dict) -> None:
        """Mark a run as running in this process (a new row, or a retry/resume of an old one)."""
        now = time.time()
        d, m = config["data"], config["model"]

        def write(conn: sqlite3.Connection) -> None:
            # a run trained again replaces its weights: an earlier attempt's curve and measurement go
            conn.execute("DELETE FROM points WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM quantized WHERE run_id = ?", (run_id,))
            conn.execute(
                """INSERT INTO runs (id, run_dir, created, updated, status, dataset, people, exposures,
                                     arch, layers, heads, d_model, params, config, attempts, pid, host)
                   VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET run_dir=excluded.run_dir, updated=excluded.updated,
                     status='running', reason=NULL, config=excluded.config, attempts=attempts + 1,
                     pid=excluded.pid, host=excluded.host, metrics=NULL, results=NULL, bits=NULL,
                     bits_max=NULL, bits_per_param=NULL""",
                (run_id, str(Path(run_dir).resolve()), now, now, dataset_label(d), d["people"],
                 config["train"]["exposures"], m["arch"], *_shape(m),
                 config["params"]["total"], json.dumps(config), os.getpid(), socket.gethostname()))
        self._write(write)

    def retire(self, run_id: str, run_dir: Path) -> None:
        """Forget a run whose directory is given to another run (``kcap train --overwrite``): its
        row, curve and measurements go with its weights. Only if the row names that directory: the
        same config trained elsewhere keeps its row."""
        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT run_dir FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None or row["run_dir"] != str(Path(run_dir).resolve()):
                return
            for table, key in (("points", "run_id"), ("quantized", "run_id"), ("runs", "id")):
                conn.execute(f"DELETE FROM {table} WHERE {key} = ?", (run_id,))
        self._write(write)

    def heartbeat(self, run_id: str) -> None:
        """Note that a running run is still making progress (called at each checkpoint)."""
        self._write(lambda c: c.execute("UPDATE runs SET updated=? WHERE id=?", (time.time(), run_id)))

    def record_failed(self, run_id: str, reason: str, status: str = "failed") -> None:
        """Mark a run failed (or ``interrupted``) with a one-line reason, e.g. "nan: loss is nan at step 7".

        The run must be in the store (``record_started``, or an older attempt)."""
        if status not in ("failed", "interrupted"):
            raise ValueError(f"status must be failed or interrupted, got {status!r}")
        reason = " ".join(str(reason).split())  # one line
        cur = self._write(lambda c: c.execute("UPDATE runs SET status=?, reason=?, updated=?, pid=NULL WHERE id=?",
                                              (status, reason, time.time(), run_id)))
        if cur.rowcount == 0:
            raise KcapError(f"run {run_id} is not in the store {self.path}")

    def run_status(self, run_id: str) -> RunStatus | None:
        """Where a run stands, or None if the store has never seen it."""
        r = self.conn.execute("SELECT id, status, reason, run_dir, attempts, pid, host, updated FROM runs WHERE id=?",
                              (run_id,)).fetchone()
        return RunStatus(**_effective(dict(r))) if r else None

    def statuses(self) -> dict[str, RunStatus]:
        """Every run's status, by id (one query, for sweep progress views)."""
        rows = self.conn.execute("SELECT id, status, reason, run_dir, attempts, pid, host, updated FROM runs")
        return {r["id"]: RunStatus(**_effective(dict(r))) for r in rows}

    def record_trained(self, run_id: str, run_dir: Path, config: dict, metrics: dict,
                       points: list[dict] = ()) -> None:
        """Insert or replace a trained run and its training curve, in one transaction."""
        now = time.time()
        d, m = config["data"], config["model"]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM points WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM quantized WHERE run_id = ?", (run_id,))  # measured old weights
            conn.executemany(
                f"INSERT INTO points (run_id, {', '.join(_POINT_COLUMNS)}) VALUES (?{', ?' * len(_POINT_COLUMNS)})",
                [(run_id, *(p.get(c) for c in _POINT_COLUMNS)) for p in points])
            conn.execute(
                """INSERT INTO runs (id, run_dir, created, updated, status, dataset, people, exposures,
                                     arch, layers, heads, d_model, params, config, metrics)
                   VALUES (?, ?, ?, ?, 'trained', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET run_dir=excluded.run_dir, updated=excluded.updated,
                     status='trained', params=excluded.params, config=excluded.config, reason=NULL, pid=NULL,
                     metrics=excluded.metrics, results=NULL, bits=NULL, bits_max=NULL, bits_per_param=NULL""",
                (run_id, str(Path(run_dir).resolve()), now, now, dataset_label(d), d["people"],
                 config["train"]["exposures"], m["arch"], *_shape(m),
                 config["params"]["total"], json.dumps(config), json.dumps(metrics)))
        self._write(write)

    def _check_measurable(self, conn: sqlite3.Connection, run_id: str, weights_sha256: str | None) -> sqlite3.Row:
        """Refuse a measurement the row cannot own: a run not in the store, not finished, or whose
        weights (by checksum) are not the ones trained for it (a copy trained elsewhere, replaced)."""
        row = conn.execute("SELECT status, run_dir, metrics FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KcapError(f"run {run_id} is not in the store {self.path}; train it first")
        if row["status"] not in FINISHED:
            raise KcapError(f"run {run_id} is {row['status']} in the store (in {row['run_dir']}); "
                            "measure it once its training has finished")
        try:
            recorded = (json.loads(row["metrics"] or "{}") or {}).get("weights_sha256")
        except (ValueError, AttributeError):
            recorded = None
        if weights_sha256 and recorded and weights_sha256 != recorded:
            raise KcapError(f"these weights are not those of run {run_id} in the store (trained in "
                            f"{row['run_dir']}); measure that directory")
        return row

    def check_measurable(self, run_id: str, weights_sha256: str | None = None) -> None:
        """``record_results``'s refusals, before the work of measuring (read only)."""
        self._check_measurable(self.conn, run_id, weights_sha256)

    def record_results(self, run_id: str, results: dict, weights_sha256: str | None = None,
                       run_dir: Path | None = None) -> None:
        """Store a run's measurement; ``weights_sha256``: of the weights measured, checked against
        the ones its training recorded. ``run_dir``: where they were measured; the row follows it
        when the directory it names no longer holds the run (the run directory was moved)."""
        def write(conn: sqlite3.Connection) -> None:
            row = self._check_measurable(conn, run_id, weights_sha256)
            if run_dir is not None and holding(Path(row["run_dir"])).run_id != run_id:
                conn.execute("UPDATE runs SET run_dir=? WHERE id=?", (str(Path(run_dir).resolve()), run_id))
            conn.execute(
                """UPDATE runs SET status='measured', updated=?, bits=?, bits_max=?, bits_per_param=?,
                       results=? WHERE id=?""",
                (time.time(), results["bits"], results["bits_max"], results["bits_per_param"],
                 json.dumps(results), run_id))
        self._write(write)

    def record_quantized(self, run_id: str, method: str, results: dict, weights_sha256: str | None = None) -> None:
        """Store a measurement of the run's quantized weights beside the full-precision one."""
        def write(conn: sqlite3.Connection) -> None:
            self._check_measurable(conn, run_id, weights_sha256)
            conn.execute(
                """INSERT INTO quantized (run_id, method, updated, bits, bits_per_param, results)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(run_id, method) DO UPDATE SET updated=excluded.updated, bits=excluded.bits,
                     bits_per_param=excluded.bits_per_param, results=excluded.results""",
                (run_id, method, time.time(), results["bits"], results["bits_per_param"], json.dumps(results)))
        self._write(write)

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
        """Rows of the runs table, as dicts with config, metrics and results decoded; a running
        run whose process is gone reads as interrupted. A row the store cannot vouch for (a JSON
        column that does not decode, a missing count) gets ``problem`` set and no results."""
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
            row = _effective(dict(r))
            row["problem"] = None
            for k in ("config", "metrics", "results"):
                try:
                    row[k] = json.loads(row[k]) if row[k] else None
                except (ValueError, TypeError):
                    row[k], row["problem"] = None, f"its {k} in the store is corrupted (not JSON)"
            if row["problem"] is None and (row["params"] is None or row["config"] is None):
                row["problem"] = "its row in the store is incomplete (no params or config)"
            if row["problem"] and row["status"] == "measured":  # a number nobody can vouch for
                row["results"] = row["bits"] = row["bits_per_param"] = None
            row["quantized"] = {q["method"]: {"bits": q["bits"], "bits_per_param": q["bits_per_param"]}
                                for q in self.conn.execute("SELECT method, bits, bits_per_param FROM quantized "
                                                           "WHERE run_id = ? ORDER BY method", (row["id"],))}
            rows.append(row)
        return rows
