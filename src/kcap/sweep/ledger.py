"""Where a sweep keeps the state of each run: the one interface between the sweep and the store.

States: ``done`` (trained and measured, in the store), ``failed`` (with a reason), ``running``
(a live process holds it), ``interrupted`` (started, never finished, nobody holds it), ``pending``.

A sweep run covers more than training (generating its dataset, measuring, quantized measuring),
so its running marker and failure live in the run directory (``failed.json``, ``running.json``,
written atomically), and a run is done when the store holds it measured. Failures are also
recorded in the store (``RunStore.record_failed``) once training has given the run its store id,
so ``kcap runs`` lists them with their reasons. Training itself checkpoints: an interrupted run
resumes from its newest checkpoint.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path

from kcap.atomic import write_json
from kcap.errors import KcapError
from kcap.store import rundir
from kcap.store.db import RunStore
from kcap.store.workspace import store_path

FAILED, RUNNING = "failed.json", "running.json"
STATES = ("done", "running", "failed", "interrupted", "pending")


def _read(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_bytes())
    except (OSError, ValueError):  # absent, unreadable, not JSON, not even text: no marker
        return None
    return d if isinstance(d, dict) else None


def _alive(marker: dict) -> bool:
    """Whether the process in a running marker still runs (trusted as alive on another host)."""
    if marker.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(marker["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True
    return True


def run_state(run, store: RunStore | None = None) -> tuple[str, str | None]:
    """(state, detail) of a planned run; detail is the failure reason or the running pid."""
    d = run.run_dir
    failed = _read(d / FAILED)
    if failed is not None:
        return "failed", failed.get("reason", "unknown")
    running = _read(d / RUNNING)
    if running is not None and _alive(running):
        return "running", f"pid {running.get('pid')} on {running.get('host')}"
    if _finished(run, store):
        return "done", None
    if running is not None or (d / rundir.CONFIG).exists():
        return "interrupted", None
    return "pending", None


def _finished(run, store: RunStore | None) -> bool:
    """Trained and measured as the spec asks: the full-precision measurement in the store and a
    file for each quantization it lists (a run two specs share may have been measured for the
    one that asked for less: it is not done for the other until measured again)."""
    if not trained(run, store):
        return False
    if not run.measure["enabled"]:
        return True
    quantized = all((run.run_dir / rundir.quantized_measure(q)).is_file() for q in run.measure["quantize"] if q != "none")
    return quantized and _in_store(run, store, measured=True)


def trained(run, store: RunStore | None = None) -> bool:
    """Training finished and was recorded (weights, summary, store row): only measuring may be left."""
    d = run.run_dir
    if not (d / rundir.SUMMARY).is_file() or not (d / rundir.WEIGHTS).is_file():
        return False
    return _in_store(run, store, measured=False)


def store_id(run) -> str | None:
    """The id training gave a planned run in the store (its config.json's), None before training."""
    config = _read(run.run_dir / rundir.CONFIG)
    return config.get("id") if config else None


def _in_store(run, store: RunStore | None, measured: bool) -> bool:
    config = _read(run.run_dir / rundir.CONFIG)
    if config is None or "id" not in config:
        return False
    if measured and not (run.run_dir / rundir.MEASURE).is_file():
        return False
    own = store is None
    if own and not store_path().exists():  # no store yet: nothing finished (and none is created)
        return False
    store = store or RunStore()
    try:
        rows = store.runs(ids=[config["id"]], measured_only=measured)
    finally:
        if own:
            store.close()
    return bool(rows)


def mark_running(run) -> None:
    run.run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run.run_dir / RUNNING, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})


def clear_running(run) -> None:
    (run.run_dir / RUNNING).unlink(missing_ok=True)


def record_failed(run, reason: str) -> None:
    """Record a failed run with its reason (one line); the sweep goes on.

    The run directory's ``failed.json`` is what the sweep reads; where training got far enough to
    give the run its store id, the store learns it as well."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run.run_dir / FAILED, {"reason": reason, "time": time.time(), "name": run.name})
    clear_running(run)
    config = _read(run.run_dir / rundir.CONFIG)
    if config and "id" in config and store_path().exists():
        try:
            with RunStore() as store:
                store.record_failed(config["id"], reason)
        except (KcapError, sqlite3.Error):
            pass  # failed.json holds the failure; the store's copy is a convenience for listings


def clear_failure(run) -> None:
    (run.run_dir / FAILED).unlink(missing_ok=True)


def summary(run) -> dict | None:
    return _read(run.run_dir / rundir.SUMMARY)


def progress_fraction(run) -> float | None:
    """How far a running run is (its last logged step over its steps), from its run directory."""
    config = _read(run.run_dir / rundir.CONFIG)
    if not config:
        return None
    try:
        with open(run.run_dir / rundir.METRICS, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            last = f.read().splitlines()[-1]
        return json.loads(last)["step"] / config["derived"]["steps"]
    except (OSError, IndexError, KeyError, ValueError, ZeroDivisionError):
        return 0.0
