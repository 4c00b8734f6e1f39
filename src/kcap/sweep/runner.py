"""Run a sweep: plan, refuse what cannot run, skip what is done, generate datasets, run the rest."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from kcap.errors import KcapError
from kcap.store.db import RunStore
from kcap.store.workspace import store_path, workspace_dir
from kcap.sweep import ledger
from kcap.sweep.backends import BACKENDS, run_local, run_ray
from kcap.sweep.datasets import ensure_dataset
from kcap.sweep.grouping import default_group_size, group_runs
from kcap.sweep.plan import PlannedRun, plan
from kcap.sweep.progress import SweepProgress
from kcap.sweep.schema import load_spec_file


@contextmanager
def _sigterm_interrupts():
    """SIGTERM (a scheduler, `kill`) stops the sweep like Ctrl-C: the backend stops its runs and
    leaves them to be resumed, instead of dying and leaving orphaned run processes behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def plan_spec(spec: Path | dict) -> tuple[dict, list[PlannedRun]]:
    """The validated spec and its planned runs (with estimates); writes nothing."""
    tree = spec if isinstance(spec, dict) else load_spec_file(spec)
    return tree, plan(tree)


def sweep_status(runs: list[PlannedRun]) -> list[tuple[PlannedRun, str, str | None]]:
    """(run, state, detail) of every run; reads the store if there is one, creates nothing."""
    if not store_path().exists():
        return [(r, *ledger.run_state(r)) for r in runs]
    with RunStore() as store:
        return [(r, *ledger.run_state(r, store)) for r in runs]


def run_sweep(spec: Path | dict, jobs: int | None = 1, backend: str = "local", retry_failed: bool = False,
              address: str | None = None, echo: Callable[[str], None] = print,
              group_models: int | None = None) -> Counter:
    """Run every run of the spec that is not done; returns the final count of states.

    Finished runs are skipped; interrupted ones resume from their newest checkpoint; failed ones
    are retried only with ``retry_failed``. Every check (spec, models, datasets) happens before the
    first run starts. Up to ``group_models`` compatible runs train at once as one batched
    computation (default: 16 with a GPU, 1 on CPU; see ``grouping.py``)."""
    _check_args(backend, jobs, group_models)
    tree, runs = plan_spec(spec)
    return run_planned(runs, tree.get("name", "sweep"), jobs, backend, retry_failed, address, echo, group_models)


def _check_args(backend: str, jobs: int | None, group_models: int | None) -> None:
    if backend not in BACKENDS:
        raise KcapError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if jobs is not None and jobs < 1:
        raise KcapError(f"--jobs must be at least 1, got {jobs}")
    if group_models is not None and group_models < 1:
        raise KcapError(f"--group-models must be at least 1, got {group_models}")


def merge_shared(runs: list[PlannedRun]) -> dict[str, PlannedRun]:
    """The runs by key, once each. A run that two specs share (same data, model and training: one
    key) is measured for both: every quantization either lists, measurement on if either has it."""
    out: dict[str, PlannedRun] = {}
    for r in runs:
        if r.key in out:
            m, n = out[r.key].measure, r.measure
            r = replace(out[r.key], measure={"enabled": m["enabled"] or n["enabled"],
                                             "quantize": list(dict.fromkeys(m["quantize"] + n["quantize"]))})
        out[r.key] = r
    return out


def run_planned(runs: list[PlannedRun], name: str, jobs: int | None = 1, backend: str = "local",
                retry_failed: bool = False, address: str | None = None, echo: Callable[[str], None] = print,
                group_models: int | None = None) -> Counter:
    """Run planned runs (of one spec or several: ``kcap reproduce`` queues a whole scale at once,
    so no core idles at the end of each spec); see ``run_sweep``. Runs start longest first."""
    _check_args(backend, jobs, group_models)
    if jobs is None and backend == "local":
        jobs = 1
    runs = list(merge_shared(runs).values())
    states = {r.key: st for r, st, _ in sweep_status(runs)}
    todo = []
    for r in runs:
        st = states[r.key]
        if st == "failed" and retry_failed:
            ledger.clear_failure(r)
            states[r.key] = "pending"
        if states[r.key] in ("pending", "interrupted"):
            todo.append(r)
    c = Counter(states.values())
    echo(f"[{name}] {len(runs)} runs: {c['done']} done, {c['failed']} failed"
         f"{'' if retry_failed or not c['failed'] else ' (not retried; --retry-failed)'}, "
         f"{c['running']} running elsewhere, {len(todo)} to run")
    if not todo:
        return c
    todo.sort(key=lambda r: -(r.est.get("flops") or 0))  # longest first: the last runs to finish are short
    if backend == "local":  # the runs' devices exist here (a Ray cluster's nodes may differ)
        from kcap.device import resolve_device

        for device in dict.fromkeys(r.train["device"] for r in todo):
            resolve_device(device)
    # the store exists (created, migrated) before runs start: K runs finishing at once must not
    # race to create it (SQLite refuses a concurrent switch to WAL with "database is locked")
    RunStore().close()
    for key in dict.fromkeys(r.dataset_key for r in todo):
        r = next(r for r in todo if r.dataset_key == key)
        if ensure_dataset(r):
            echo(f"[{name}] generated dataset {r.dataset_dir.name}")
    size = default_group_size() if group_models is None else group_models
    groups = group_runs(todo, size, interrupted={r.key for r in todo if states[r.key] == "interrupted"})
    if any(len(g) > 1 for g in groups):
        echo(f"[{name}] {len(todo)} runs as {len(groups)} jobs: " +
             ", ".join(f"{len(g)} runs of {g[0].model['name']} at once" for g in groups if len(g) > 1))
    progress = SweepProgress(name, runs, states, jobs or 1, echo)
    workspace = str(workspace_dir())
    with _sigterm_interrupts():
        if backend == "local":
            run_local(groups, jobs, workspace, progress.start, progress.end)
        else:
            run_ray(groups, jobs, workspace, progress.start, progress.end, address=address)
    echo(f"[{name}] finished: {progress.line()}")
    return progress.counts()
