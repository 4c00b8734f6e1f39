"""One run of a sweep, as a backend executes it: train, then measure, in the calling process.

Any exception is turned into a recorded failure with a one-line reason (diverged loss, out of
memory, bad data, crash) and the function returns normally, so the sweep goes on; a process that
dies outright (SIGKILL, segfault) is recorded by the backend that watched it. Nothing here is
imported at module level beyond the standard library, so a worker process can set its threads and
visible GPU before torch starts.
"""

from __future__ import annotations

import os


def _set_up(workspace: str, threads: int | None, gpu: int | None) -> None:
    """The worker process's workspace, visible GPU (before torch starts) and CPU threads."""
    os.environ["KCAP_WORKSPACE"] = workspace  # the store and run dirs of the sweep, whatever the host
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    import torch

    if threads:
        torch.set_num_threads(threads)


def run_one(run_dict: dict, workspace: str, threads: int | None = None, gpu: int | None = None,
            resume: bool = True) -> dict:
    """Train and measure one planned run; returns {"key", "state", "reason", "wall_s"}."""
    _set_up(workspace, threads, gpu)
    import time

    from kcap.sweep import ledger
    from kcap.sweep.plan import PlannedRun

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


def run_group(run_dicts: list[dict], workspace: str, threads: int | None = None, gpu: int | None = None,
              resume: bool = True) -> list[dict]:
    """Train compatible runs as one batched computation (``train_many``), then measure each; a
    single run goes through ``run_one``. One result per run, as ``run_one`` returns it."""
    if len(run_dicts) == 1:
        return [run_one(run_dicts[0], workspace, threads, gpu, resume)]
    _set_up(workspace, threads, gpu)
    import time

    from kcap.model.spec import ModelSpec
    from kcap.sweep import ledger
    from kcap.sweep.bindings import model_kwargs
    from kcap.sweep.plan import PlannedRun
    from kcap.train.batched import RunRequest, train_many
    from kcap.train.config import TrainConfig
    from kcap.train.failure import failure_reason

    runs = [PlannedRun.from_dict(d) for d in run_dicts]
    t0 = time.perf_counter()
    for run in runs:
        ledger.mark_running(run)

    def failed(run, reason: str) -> dict:
        ledger.record_failed(run, reason)
        return {"key": run.key, "state": "failed", "reason": reason, "wall_s": time.perf_counter() - t0}

    # a run trained before (its measurement failed, or was cut short) is only measured, as in run_one:
    # training it again would replace finished weights, which train_many refuses
    todo = [r for r in runs if not ledger.trained(r)]
    try:
        trained = train_many([RunRequest(r.dataset_dir, ModelSpec(**model_kwargs(r.model)),
                                         TrainConfig.from_dict(r.train), r.run_dir) for r in todo], progress=False)
    except KeyboardInterrupt:
        for run in runs:
            ledger.clear_running(run)
        raise
    except BaseException as e:  # the whole batch failed: every run in it did
        reason = failure_reason(e)
        return [failed(run, reason) for run in runs]
    outs = {r.key: out for r, out in zip(todo, trained, strict=True)}
    results = []
    for run in runs:
        error = outs.get(run.key, {}).get("error")
        if error:  # this model diverged; the others went on
            results.append(failed(run, f"nan: {error}"))
            continue
        try:
            _measure(run)
        except KeyboardInterrupt:
            for r in runs:
                ledger.clear_running(r)
            raise
        except BaseException as e:
            results.append(failed(run, failure_reason(e)))
            continue
        ledger.clear_running(run)
        results.append({"key": run.key, "state": "done", "reason": None, "wall_s": time.perf_counter() - t0,
                        "batched_with": len(runs)})
    return results


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
