"""Where a sweep's runs execute: ``local`` (K processes on this machine, the default) or ``ray``
(a Ray cluster or a local Ray instance, one run per GPU, CPU tasks where there is no GPU).

A backend takes the runs to do and two callbacks, ``on_start(run)`` and ``on_end(run, result)``;
every run ends ``done`` or ``failed`` (a crashed process is recorded here, by the watcher). Runs
share the workspace (store, datasets, run directories): on a cluster it must be a shared file system.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import wait

from kcap.errors import KcapError
from kcap.sweep import ledger
from kcap.sweep.worker import run_group

BACKENDS = ("local", "ray")
OnStart = Callable[[object], None]
OnEnd = Callable[[object, dict], None]


def _crash_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hint = " (out of memory?)" if sig == signal.SIGKILL else ""
        return f"crash: killed by {name}{hint}"
    return f"crash: process exited with code {exitcode}"


def _outcome(run, exitcode: int | None, t0: float) -> dict:
    """The result of a finished run process, from what it left in the ledger."""
    state, detail = ledger.run_state(run)
    if state not in ("done", "failed"):
        detail = _crash_reason(exitcode) if exitcode else "crash: ended without a result"
        ledger.record_failed(run, detail)
        state = "failed"
    return {"key": run.key, "state": state, "reason": detail, "wall_s": time.perf_counter() - t0}


def _child(run_dicts: list[dict], workspace: str, threads: int, gpu: int | None, resume: bool) -> None:
    run_group(run_dicts, workspace, threads, gpu, resume)


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_local(groups: list[list], jobs: int, workspace: str, on_start: OnStart, on_end: OnEnd,
              resume: bool = True) -> None:
    """K jobs at a time, each in its own process (spawned: a clean torch, and a crash or OOM kill
    takes down one job, not the sweep). A job is one run, or a group of runs trained together
    (``grouping.py``). CPU threads are split between the K processes; with GPUs, job slots take
    GPUs in turn (``device: auto`` runs only)."""
    ctx = mp.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    gpus = _gpu_count()
    queue, active, free = list(groups), {}, list(range(jobs))
    try:
        while queue or active:
            while queue and free:
                slot, group = free.pop(0), queue.pop(0)
                gpu = slot % gpus if gpus and group[0].train["device"] == "auto" else None
                p = ctx.Process(target=_child, args=([r.to_dict() for r in group], workspace, threads, gpu, resume),
                                name=f"kcap-run-{group[0].key}")
                p.start()
                active[p.sentinel] = (p, group, slot, time.perf_counter())
                for run in group:
                    on_start(run)
            for sentinel in wait(list(active)):
                p, group, slot, t0 = active.pop(sentinel)
                p.join()
                free.append(slot)
                for run in group:
                    on_end(run, _outcome(run, p.exitcode, t0))
    finally:  # interrupted: stop our runs; they are resumed (or restarted) by the next `sweep run`
        for p, _, _, _ in active.values():
            p.terminate()
        for p, group, _, _ in active.values():
            p.join()
            for run in group:
                ledger.clear_running(run)


def run_ray(groups: list[list], jobs: int | None, workspace: str, on_start: OnStart, on_end: OnEnd, resume: bool = True,
            address: str | None = None) -> None:
    """One Ray task per job (a run or a group): ``num_gpus=1`` on a cluster with GPUs, else a CPU task. Connects to
    ``address`` (or $RAY_ADDRESS), else starts a local Ray instance for the sweep's duration."""
    try:
        import ray
    except ImportError:
        raise KcapError("--backend ray needs Ray: pip install 'kcap[ray]'") from None
    own = not ray.is_initialized()
    if own:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        res = ray.cluster_resources()
        gpus, cpus = int(res.get("GPU", 0)), max(1, int(res.get("CPU", 1)))
        limit = jobs or gpus or cpus
        if gpus:
            task, threads = ray.remote(num_gpus=1, max_retries=0)(run_group), None
        else:
            per = max(1, cpus // limit)
            task, threads = ray.remote(num_cpus=per, max_retries=0)(run_group), per
        queue, refs = list(groups), {}
        while queue or refs:
            while queue and len(refs) < limit:
                group = queue.pop(0)
                refs[task.remote([r.to_dict() for r in group], workspace, threads, None, resume)] = \
                    (group, time.perf_counter())
                for run in group:
                    on_start(run)
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                group, t0 = refs.pop(ref)
                try:
                    results = ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker died or the task could not run
                    reason = f"crash: {type(e).__name__}: {' '.join(str(e).split())[:500]}"
                    results = []
                    for run in group:
                        ledger.record_failed(run, reason)
                        results.append({"key": run.key, "state": "failed", "reason": reason,
                                        "wall_s": time.perf_counter() - t0})
                for run, result in zip(group, results, strict=True):
                    on_end(run, result)
    finally:
        if own:
            ray.shutdown()
