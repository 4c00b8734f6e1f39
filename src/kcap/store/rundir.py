"""The run directory: everything that describes one run, next to its store row.

    RUN/config.json        data, model, training config (resolved), parameters, provenance
    RUN/model.safetensors  final weights
    RUN/metrics.jsonl      one JSON object per logged step
    RUN/summary.json       training outcome (tokens, steps, final loss, wall time, tokens/s)
    RUN/measure.json       measurement (bits, losses, per-attribute accuracy)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kcap.atomic import write_json  # noqa: F401  (re-exported: run files are written atomically)
from kcap.errors import KcapError

CONFIG, WEIGHTS, METRICS, SUMMARY, MEASURE = (
    "config.json", "model.safetensors", "metrics.jsonl", "summary.json", "measure.json")


def run_id(config: dict) -> str:
    """Hash of the run's resolved configuration (data identity, model, training)."""
    key = {k: config[k] for k in ("data", "model", "train")}
    key["data"] = {k: v for k, v in key["data"].items() if k != "path"}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise KcapError(f"{path.parent} is not a finished run: {path.name} is missing ({what})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise KcapError(f"{path} is corrupted: {e}") from None


def read_config(run: Path) -> dict:
    run = Path(run)
    if not run.is_dir():
        raise KcapError(f"run directory {run} does not exist")
    return read_json(run / CONFIG, "run config")
