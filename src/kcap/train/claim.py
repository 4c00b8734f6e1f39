"""Who may train into a run directory, and what becomes of what it holds.

    --out holds                  --resume never (default)         --resume auto
    nothing (absent, empty)      train                            train
    this run, unfinished         train afresh (drop checkpoints)  continue from its newest checkpoint
    this run, finished           refused (or --overwrite)         nothing to do (broken: train afresh)
    another run                  refused (or --overwrite)         refused
    a dataset, an HF model,
    anything else                refused                          refused

``--overwrite`` (with ``--resume never``) replaces the run there: its weights, summary, metrics,
checkpoints and measurements (``measure*.json``) are removed before the new config is written,
and its store row (with its measurements) is retired, so no listing keeps a number for weights
that are gone.

While a process trains, it holds the directory's lock (``kcap.outdir.lock_dir``): a second
trainer is refused naming the holder, and ``kcap measure`` refuses weights being replaced.

One run id, one directory: a config already trained (or training) in another directory that the
store row names is refused here, naming that directory, rather than silently re-pointing the row
and dropping its measurement. If that directory no longer holds the run (deleted, moved,
unfinished), the row follows the new one.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kcap.errors import KcapError
from kcap.outdir import Holding, holding, lock_dir
from kcap.store import rundir
from kcap.store.db import RunStore
from kcap.train import checkpoint
from kcap.train.plan import RunPlan

# what a run leaves in its directory (config.json is rewritten by the new run)
RUN_FILES = (rundir.CONFIG, rundir.WEIGHTS, rundir.SUMMARY, rundir.METRICS)


def decide(out: Path, plan: RunPlan, resume: str, overwrite: bool, warn: bool = True) -> str:
    """How to train ``plan`` into ``out``: "fresh", "resume" or "done" (resume auto, finished);
    a one-line KcapError if it would replace something without being told to. Writes nothing."""
    if overwrite and resume == "auto":
        raise KcapError("--overwrite trains afresh; it cannot be combined with --resume auto")
    h = holding(out)
    if h.kind == "file":
        raise KcapError(f"--out {out} exists and is not a directory")
    if h.kind in ("absent", "empty"):
        return "fresh"
    if h.kind != "run":
        raise KcapError(f"--out {out} holds {h.what}; choose a new or empty directory")
    if resume == "auto":
        return _resume_auto(out, plan, h, warn)
    if overwrite or (h.run_id == plan.id and not h.finished):
        return "fresh"
    if h.run_id == plan.id:
        raise KcapError(f"--out {out} already holds this run, {h.what}: --resume auto keeps it, "
                        "--overwrite trains it again")
    raise KcapError(f"--out {out} holds {h.what}; pass --overwrite to replace it, or choose another --out")


def _resume_auto(out: Path, plan: RunPlan, h: Holding, warn: bool) -> str:
    if h.run_id != plan.id:
        old = rundir.read_config(out) if h.run_id else {}
        diff = _config_diff(old, plan.config)
        raise KcapError(f"--resume auto: {out} holds {h.what}, whose config differs in "
                        f"{', '.join(diff[:5]) or 'its id'}; use another --out, or --overwrite to replace it")
    if finished_summary(out, plan.id, warn) is not None:
        return "done"
    # finished but broken (weights corrupted, summary unreadable): trained again from the start, its
    # files and measurements cleared first; unfinished: continued from its newest checkpoint
    return "fresh" if (out / rundir.SUMMARY).is_file() else "resume"


def _config_diff(old: dict, new: dict) -> list[str]:
    """The fields (e.g. ``train.lr``) in which two run configs differ, for a one-line refusal."""
    diff = []
    for part in ("data", "model", "train"):
        a, b = old.get(part) or {}, new.get(part) or {}
        diff += [f"{part}.{k}" for k in sorted(set(a) | set(b)) if k != "path" and a.get(k) != b.get(k)]
    return diff


def finished_summary(out: Path, rid: str, warn: bool = True) -> dict | None:
    """The summary of an intact finished run ``rid`` in ``out``, else None (a broken one is
    reported and trained again)."""
    if not (out / rundir.SUMMARY).is_file():
        return None
    try:
        config = rundir.check_run(out, verify=True)
    except KcapError as e:
        if warn:
            print(f"kcap: warning: {e}; training it again", file=sys.stderr)
        return None
    return rundir.read_json(out / rundir.SUMMARY, "training summary") if config["id"] == rid else None


@contextmanager
def claim(out: Path, plan: RunPlan, resume: str, overwrite: bool, store: RunStore | None) -> Iterator[str]:
    """Lock ``out`` for this process and prepare it for ``plan``: yields what ``decide`` says,
    decided again under the lock. A fresh start clears what a run left there (retiring a
    replaced run's store row), then writes the new config."""
    decide(out, plan, resume, overwrite, warn=False)  # refusals before anything is created
    if store is not None:
        check_one_home(store, plan.id, out)
    with lock_dir(out):  # then again under the lock, which another trainer may have taken meanwhile
        if store is not None:
            check_one_home(store, plan.id, out)
        action = decide(out, plan, resume, overwrite)
        if action == "fresh":
            clear_run(out, plan.id, store)
            rundir.write_json(out / rundir.CONFIG, plan.config)
        elif action == "resume":
            rundir.write_json(out / rundir.CONFIG, plan.config)
        yield action


def check_one_home(store: RunStore, rid: str, out: Path) -> None:
    """Refuse to train run ``rid`` into ``out`` while the store has it in another directory that
    still holds it finished, or that a live process is training."""
    st = store.run_status(rid)
    if st is None or Path(st.run_dir) == Path(out).resolve():
        return
    other = holding(Path(st.run_dir)) if Path(st.run_dir).is_dir() else Holding("absent")
    if other.kind != "run" or other.run_id != rid:
        return  # that directory no longer holds the run: the row follows this one
    if st.status == "running" and st.alive is not False:
        raise KcapError(f"run {rid} (the same config) is being trained in {st.run_dir}; wait for it, "
                        "it is the same run")
    if other.finished:
        raise KcapError(f"run {rid} (the same config) is already {other.state} in {st.run_dir}; "
                        "use that one, or delete it to train the run here")


def clear_run(out: Path, rid: str, store: RunStore | None) -> None:
    """Remove what a run left in ``out`` (the directory is locked) before run ``rid`` starts there,
    and retire the replaced run's store row (the same run's row is reset when it starts)."""
    h = holding(out)
    if h.kind == "run" and h.run_id and h.run_id != rid and store is not None:
        store.retire(h.run_id, out)
    # the config goes first: from here on the directory names no run beside the old weights
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for f in out.glob("measure*.json"):  # measurements of weights that are gone
        f.unlink(missing_ok=True)
    checkpoint.remove_checkpoints(out)
    shutil.rmtree(out / "tb", ignore_errors=True)
