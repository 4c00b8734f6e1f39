"""Where the laws get their numbers: the run store, or anyone's CSV table of runs.

Compute law, from the store: one row per logged evaluation point of every run, (params, tokens
seen so far, held-out loss, exact training FLOPs so far). From a CSV: columns ``params,tokens,loss``
(optionally ``flops``; otherwise C = 6·N·D) with one row per run *or* per logged point, as the
user chooses; Approach 3 treats every row as one observation of L(N, D).

Capacity law, from the store: measured runs (params, bits, bits_max); from a CSV: columns
``params,bits,bits_max``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from kcap.errors import KcapError
from kcap.store.db import RunStore, usable


def read_csv(path: Path, required: tuple[str, ...], positive: tuple[str, ...] | None = None,
             optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Numeric columns of a CSV table. ``required`` and (when present) ``optional`` columns must be
    finite numbers in every row; those in ``positive`` (default: all of them) must also be > 0.
    Other columns are kept when numeric and ignored otherwise."""
    path = Path(path)
    positive = required + optional if positive is None else positive
    if not path.is_file():
        raise KcapError(f"input file {path} does not exist")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets write a BOM
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            missing = [c for c in required if c not in fields]
            if missing:
                raise KcapError(f"{path}: missing column(s) {', '.join(missing)} (need {', '.join(required)})")
            rows = list(reader)
    except UnicodeDecodeError:
        raise KcapError(f"{path} is not a UTF-8 text CSV file") from None
    if not rows:
        raise KcapError(f"{path} has no rows")
    checked = [c for c in required + optional if c in fields]
    out = {}
    for col in fields:
        values = [_to_float(r.get(col)) for r in rows]  # a short row leaves None in its missing cells
        bad = next((i for i, v in enumerate(values) if v is None), None)
        if bad is None:
            out[col] = np.array(values)
        elif col in checked:
            raise KcapError(f"{path}, row {bad + 2}: column {col!r} is not a number: {rows[bad].get(col)!r}")
    for col in checked:
        v = out[col]
        if not np.isfinite(v).all():
            raise KcapError(f"{path}: column {col!r} must hold finite numbers")
        if col in positive and not (v > 0).all():
            raise KcapError(f"{path}: column {col!r} must hold positive numbers")
    return out


def _to_float(s: str | None) -> float | None:
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def compute_points(source: str | Path = "store") -> dict[str, np.ndarray]:
    """params, tokens, loss, flops arrays for the compute law (and ``run`` ids from the store)."""
    if str(source) != "store":
        t = read_csv(Path(source), ("params", "tokens", "loss"), optional=("flops",))
        t.setdefault("flops", 6 * t["params"] * t["tokens"])
        return t
    cols = {k: [] for k in ("params", "tokens", "loss", "flops", "run")}
    with RunStore() as store:
        for run in usable(store.runs(), "the compute fit"):
            for p in store.points(run["id"]):
                if p["heldout_loss"] is not None:
                    cols["params"].append(run["params"])
                    cols["tokens"].append(p["tokens"])
                    cols["loss"].append(p["heldout_loss"])
                    cols["flops"].append(p["flops"])
                    cols["run"].append(run["id"])
    if not cols["params"]:
        raise KcapError("no held-out losses in the run store (train some runs first)")
    out = {k: np.array(v, float) if k != "run" else v for k, v in cols.items()}
    for field in ("loss", "tokens", "flops", "params"):  # name the run: the fit itself only knows row numbers
        bad = np.flatnonzero(~(np.isfinite(out[field]) & (out[field] > 0)))
        if bad.size:
            i = bad[0]
            where = f" at {out['tokens'][i]:g} tokens" if field != "tokens" else ""
            hint = " (a diverged run?)" if field == "loss" else ""
            raise KcapError(f"run {out['run'][i]}: {field} {out[field][i]:g}{where} is not a positive finite "
                            f"number{hint}; the compute fit cannot use it")
    return out


def capacity_points(source: str | Path = "store") -> dict[str, np.ndarray]:
    """params, bits, bits_max arrays, ``names`` (run ids, or "row N" as numbered in a CSV file) and,
    from the store, run ids, people and exposures."""
    if str(source) != "store":
        # a model can store nothing or less than nothing (bits <= 0): only params and bits_max must be > 0
        t = read_csv(Path(source), ("params", "bits", "bits_max"), positive=("params", "bits_max"))
        t["names"] = [f"row {i + 2}" for i in range(t["params"].size)]  # the header is row 1
        return t
    with RunStore() as store:
        rows = usable(store.runs(measured_only=True), "the capacity fit")
    if not rows:
        raise KcapError("no measured runs in the run store (run `kcap measure RUN` first)")
    return {"params": np.array([r["params"] for r in rows], float), "bits": np.array([r["bits"] for r in rows]),
            "bits_max": np.array([r["bits_max"] for r in rows]), "people": np.array([r["people"] for r in rows]),
            "exposures": np.array([r["exposures"] for r in rows]), "run": [r["id"] for r in rows],
            "names": [f"run {r['id']}" for r in rows]}


def passes_curves(fraction: float = 0.9) -> list[dict]:
    """Per run with a bits-tracked training curve: params, exposures needed to reach
    ``fraction`` of its final bits (None when it never stored positive bits: kept, so the run is
    shown rather than silently dropped), people and exposures."""
    from kcap.laws.passes import exposures_to_reach

    out = []
    with RunStore() as store:
        for run in usable(store.runs(), "the passes fit"):
            pts = [p for p in store.points(run["id"]) if p["bits"] is not None]
            if len(pts) < 2:
                continue
            need = exposures_to_reach(np.array([p["exposures"] for p in pts]), np.array([p["bits"] for p in pts]),
                                      fraction)
            out.append({"run": run["id"], "params": run["params"], "needed": need, "people": run["people"],
                        "exposures": run["exposures"], "final_bits": pts[-1]["bits"]})
    if not out:
        raise KcapError("no runs with tracked bits in the store (train with `kcap train --track-bits`)")
    return out
