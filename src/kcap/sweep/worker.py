"""One run of a sweep, as a backend executes it: train, then measure, in the calling process.

Any exception is turned into a recorded failure with a one-line reason (diverged loss, out of
memory, bad data, crash) and the function returns normally, so the sweep goes on; a process that
dies outright (SIGKILL, segfault) is recorded by the backend that watched it. Nothing here is
imported at module level beyond the standard library, so a worker process can set its threads and
visible GPU before torch starts.
"""

from __future__ import annotations

import os


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
        from kcap.train.failure import failure_reason

        reason = failure_reason(e)
        ledger.record_failed(run, reason)
        return {"key": run.key, "state": "failed", "reason": reason, "wall_s": time.perf_counter() - t0}
    ledger.clear_running(run)
    return {"key": run.key, "state": "done", "reason": None, "wall_s": time.perf_counter() - t0}


def _train_and_measure(run, resume: bool) -> None:
    from kcap.model.spec import ModelSpec
    from kcap.sweep import ledger
    from kcap.sweep.bindings import model_kwargs
    from kcap.train.config import TrainConfig
    from kcap.train.loop import train

    if ledger.trained(run):  # stopped after training, before or while measuring: only measure
        _measure(run)
        return
    probe = None
    if run.options.get("track_bits"):
        from kcap.measure.evaluate import bits_probe

        probe = bits_probe(run.dataset_dir)
    # an interrupted run continues from its newest checkpoint, bit-identical to an uninterrupted one
    train(run.dataset_dir, ModelSpec(**model_kwargs(run.model)), TrainConfig.from_dict(run.train), run.run_dir,
          progress=False, probe=probe, resume="auto" if resume else "never")
    _measure(run)


def _measure(run) -> None:
    """Measure the trained weights as they are and after each quantization the spec asks for."""
    if not run.measure["enabled"]:
        return
    from kcap.measure.evaluate import measure_run

    for q in run.measure["quantize"]:
        if q != "none":  # before the full-precision one, whose store row marks the run done
            measure_run(run.run_dir, device=run.train["device"], quantize=q)
    measure_run(run.run_dir, device=run.train["device"])
