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
from kcap.store.db import RunStore


def read_csv(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise KcapError(f"input file {path} does not exist")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise KcapError(f"{path}: missing column(s) {', '.join(missing)} (need {', '.join(required)})")
        rows = list(reader)
    if not rows:
        raise KcapError(f"{path} has no rows")
    out = {}
    for col in reader.fieldnames:
        try:
            out[col] = np.array([float(r[col]) for r in rows])
        except ValueError:
            if col in required:
                bad = next(i for i, r in enumerate(rows) if not _is_float(r[col]))
                raise KcapError(f"{path}, row {bad + 2}: column {col!r} is not a number: {rows[bad][col]!r}") from None
    for col in required:
        if not (np.isfinite(out[col]).all() and (out[col] > 0).all()):
            raise KcapError(f"{path}: column {col!r} must hold positive finite numbers")
    return out


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def compute_points(source: str | Path = "store") -> dict[str, np.ndarray]:
    """params, tokens, loss, flops arrays for the compute law (and ``run`` ids from the store)."""
    if str(source) != "store":
        t = read_csv(Path(source), ("params", "tokens", "loss"))
        t.setdefault("flops", 6 * t["params"] * t["tokens"])
        return t
    cols = {k: [] for k in ("params", "tokens", "loss", "flops", "run")}
    with RunStore() as store:
        for run in store.runs():
            for p in store.points(run["id"]):
                if p["heldout_loss"] is not None:
                    cols["params"].append(run["params"])
                    cols["tokens"].append(p["tokens"])
                    cols["loss"].append(p["heldout_loss"])
                    cols["flops"].append(p["flops"])
                    cols["run"].append(run["id"])
    if not cols["params"]:
        raise KcapError("no held-out losses in the run store (train some runs first)")
    return {k: np.array(v) if k != "run" else v for k, v in cols.items()}


def capacity_points(source: str | Path = "store") -> dict[str, np.ndarray]:
    """params, bits, bits_max arrays (plus people and exposures from the store)."""
    if str(source) != "store":
        return read_csv(Path(source), ("params", "bits", "bits_max"))
    with RunStore() as store:
        rows = store.runs(measured_only=True)
    if not rows:
        raise KcapError("no measured runs in the run store (run `kcap measure RUN` first)")
    return {"params": np.array([r["params"] for r in rows], float), "bits": np.array([r["bits"] for r in rows]),
            "bits_max": np.array([r["bits_max"] for r in rows]), "people": np.array([r["people"] for r in rows]),
            "exposures": np.array([r["exposures"] for r in rows]), "run": [r["id"] for r in rows]}


def passes_curves(fraction: float = 0.9) -> list[dict]:
    """Per run with a bits-tracked training curve: params, exposures needed to reach
    ``fraction`` of its final bits, people and exposures."""
    from kcap.laws.passes import exposures_to_reach

    out = []
    with RunStore() as store:
        for run in store.runs():
            pts = [p for p in store.points(run["id"]) if p["bits"] is not None]
            if len(pts) < 2:
                continue
            need = exposures_to_reach(np.array([p["exposures"] for p in pts]), np.array([p["bits"] for p in pts]),
                                      fraction)
            if need is not None:
                out.append({"run": run["id"], "params": run["params"], "needed": need, "people": run["people"],
                            "exposures": run["exposures"], "final_bits": pts[-1]["bits"]})
    if not out:
        raise KcapError("no runs with tracked bits in the store (train with `kcap train --track-bits`)")
    return out
