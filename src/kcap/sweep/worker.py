"""One run of a sweep, as a backend executes it: train, then measure, in the calling process.

Any exception is turned into a recorded failure with a one-line reason (diverged loss, out of
memory, bad data, crash) and the function returns normally, so the sweep goes on; a process that
dies outright (SIGKILL, segfault) is recorded by the backend that watched it. Nothing here is
imported at module level beyond the standard library, so a worker process can set its threads and
visible GPU before torch starts.
"""

from __future__ import annotations

import os
import traceback


def failure_reason(e: BaseException) -> str:
    name = type(e).__name__
    if "OutOfMemoryError" in name or "out of memory" in str(e).lower():
        return f"out of memory: {str(e).splitlines()[0] if str(e) else name}"
    from kcap.errors import KcapError

    if isinstance(e, KcapError):
        return str(e)
    # a crash: the exception and where it came from, on one line
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""
    msg = str(e).splitlines()[0] if str(e) else ""
    return f"crashed: {name}{where}{': ' + msg if msg else ''}"


def run_one(run_dict: dict, workspace: str, threads: int | None = None, gpu: int | None = None,
            resume: bool = True) -> dict:
    """Train and measure one planned run; returns {"key", "state", "reason", "wall_s"}."""
    os.environ["KCAP_WORKSPACE"] = workspace  # the store and run dirs of the sweep, whatever the host
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    import time

    import torch

    from kcap.sweep import ledger
    from kcap.sweep.plan import PlannedRun

    if threads:
        torch.set_num_threads(threads)
    run = PlannedRun.from_dict(run_dict)
    t0 = time.perf_counter()
    ledger.mark_running(run)
    try:
        _train_and_measure(run, resume)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            ledger.clear_running(run)
            raise
        reason = failure_reason(e)
        ledger.record_failed(run, reason)
        return {"key": run.key, "state": "failed", "reason": reason, "wall_s": time.perf_counter() - t0}
    ledger.clear_running(run)
    return {"key": run.key, "state": "done", "reason": None, "wall_s": time.perf_counter() - t0}


def _train_and_measure(run, resume: bool) -> None:
    import inspect

    from kcap.model.spec import ModelSpec
    from kcap.sweep import ledger
    from kcap.sweep.capabilities import model_kwargs
    from kcap.train.config import TrainConfig
    from kcap.train.loop import train

    if ledger.trained(run):  # stopped after training, before or while measuring: only measure
        _measure(run)
        return
    probe = None
    if run.options.get("track_bits"):
        from kcap.measure.evaluate import bits_probe

        probe = bits_probe(run.dataset_dir)
    kwargs = {}
    # exact resume of an interrupted run, where the training loop offers it (issue 5, part 3)
    if resume and "resume" in inspect.signature(train).parameters:
        kwargs["resume"] = "auto"
    train(run.dataset_dir, ModelSpec(**model_kwargs(run.model)), TrainConfig.from_dict(run.train), run.run_dir,
          progress=False, probe=probe, **kwargs)
    _measure(run)


def _measure(run) -> None:
    if run.measure["enabled"]:
        from kcap.measure.evaluate import measure_run

        measure_run(run.run_dir, device=run.train["device"])
