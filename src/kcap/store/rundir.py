"""The run directory: everything that describes one run, next to its store row.

    RUN/config.json        data, model, training config (resolved), parameters, provenance
    RUN/model.safetensors  final weights
    RUN/metrics.jsonl      one JSON object per logged step
    RUN/summary.json       training outcome (tokens, steps, final loss, wall time, tokens/s)
    RUN/measure.json       measurement (bits, losses, per-attribute accuracy)
    RUN/measure-int8.json  the same after quantizing the weights (int8, int4, int4-g32, ...)
    RUN/checkpoints/       step-indexed checkpoints while training (removed once it finishes)

A run directory is checked before it is used (``check_run``): a partial or corrupted one (missing
or truncated weights, unreadable JSON, a config whose hash is not its id, weights whose checksum
differs from the one recorded when training ended) is reported in one line, never silently used.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

from kcap.atomic import (
    file_sha256,
    write_json,  # noqa: F401  (re-exported: run files are written atomically)
)
from kcap.errors import KcapError

CONFIG, WEIGHTS, METRICS, SUMMARY, MEASURE = (
    "config.json", "model.safetensors", "metrics.jsonl", "summary.json", "measure.json")


# Settings added after runs were first recorded, left out of the id while they hold the value that
# those runs implicitly had: a run from before them keeps its id, and a rerun replaces its row.
LATER_DEFAULTS = {
    "model": {"n_kv_head": None, "n_expert": 0, "top_k": 1, "capacity_factor": 1.25, "tie_embeddings": True,
              "norm_eps": 1e-5},
    "train": {"precision": "auto", "schedule": "cosine", "decay_fraction": 0.2, "eval_spacing": "even",
              "popularity": 0.0},
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
        d = json.loads(path.read_bytes())
    except OSError as e:
        raise KcapError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:  # bad JSON, or bytes that are not even text
        raise KcapError(f"{path} is corrupted: {' '.join(str(e).split())[:200]}") from None
    if not isinstance(d, dict):
        raise KcapError(f"{path} is corrupted: it holds a JSON {type(d).__name__}, not an object")
    return d


def read_config(run: Path) -> dict:
    run = Path(run)
    if not run.is_dir():
        raise KcapError(f"run directory {run} {'is a file' if run.exists() else 'does not exist'}")
    return read_json(run / CONFIG, "run config")


def check_safetensors(path: Path) -> None:
    """Raise KcapError unless ``path`` is a whole safetensors file (header readable, size exact).

    Cheap (reads the header only): a truncated or garbled file fails here without torch."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except (OSError, ValueError, struct.error, KeyError, TypeError, IndexError, AttributeError) as e:
        raise KcapError(f"{path} is corrupted: unreadable safetensors header ({e})") from None
    if 8 + n + end != size:
        raise KcapError(f"{path} is truncated or corrupted: {size} bytes, its header describes {8 + n + end}")


def check_run(run: Path, verify: bool = True) -> dict:
    """The config of a finished, intact run directory; KcapError (one line) naming what is wrong.

    With ``verify`` the weights' SHA-256 is compared with the one recorded when training ended."""
    run = Path(run)
    config = read_config(run)
    if not all(k in config for k in ("id", "data", "model", "train")):
        raise KcapError(f"{run / CONFIG} is corrupted: id, data, model or train is missing")
    try:
        rid = run_id(config)
    except (TypeError, AttributeError, KeyError) as e:
        raise KcapError(f"{run / CONFIG} is corrupted: {e}") from None
    if rid != config["id"]:
        raise KcapError(f"{run / CONFIG} was altered: its contents hash to {rid}, not its id {config['id']}")
    summary = read_json(run / SUMMARY, "training summary")
    weights = run / WEIGHTS
    if not weights.is_file():
        raise KcapError(f"{run} has no trained weights ({WEIGHTS}); did training finish?")
    check_safetensors(weights)
    expected = summary.get("weights_sha256")
    if verify and expected and file_sha256(weights) != expected:
        raise KcapError(f"{weights} is corrupted: its checksum differs from the one recorded at the end of training")
    return config


def run_problem(run: Path, verify: bool = False) -> str | None:
    """What is wrong with a finished run's directory, or None if it looks intact."""
    try:
        check_run(run, verify=verify)
    except KcapError as e:
        return str(e)
    return None
