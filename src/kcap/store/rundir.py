"""The run directory: everything that describes one run, next to its store row.

    RUN/config.json        data, model, training config (resolved), parameters, provenance
    RUN/model.safetensors  final weights
    RUN/metrics.jsonl      one JSON object per logged step
    RUN/summary.json       training outcome (tokens, steps, final loss, wall time, tokens/s)
    RUN/measure.json       measurement (bits, losses, per-attribute accuracy)
    RUN/measure-int8.json  the same after quantizing the weights (int8, int4, int4-g32, ...)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kcap.atomic import write_json  # noqa: F401  (re-exported: run files are written atomically)
from kcap.errors import KcapError

CONFIG, WEIGHTS, METRICS, SUMMARY, MEASURE = (
    "config.json", "model.safetensors", "metrics.jsonl", "summary.json", "measure.json")


# Settings added after runs were first recorded, left out of the id while they hold the value that
# those runs implicitly had: a run from before them keeps its id, and a rerun replaces its row.
LATER_DEFAULTS = {
    "model": {"n_kv_head": None, "n_expert": 0, "top_k": 1, "capacity_factor": 1.25, "tie_embeddings": True,
              "norm_eps": 1e-5},
    "train": {"precision": "auto"},
}


def quantized_measure(method: str) -> str:
    """File name of a quantized measurement, e.g. measure-int4-g32.json."""
    return f"measure-{method}.json"


def run_id(config: dict) -> str:
    """Hash of the run's resolved configuration (data identity, model, training)."""
    key = {k: config[k] for k in ("data", "model", "train")}
    key["data"] = {k: v for k, v in key["data"].items() if k != "path"}
    for section, defaults in LATER_DEFAULTS.items():
        key[section] = {k: v for k, v in key[section].items() if k not in defaults or v != defaults[k]}
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
