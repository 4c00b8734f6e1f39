"""The training loop: read it top to bottom.

    plan -> run directory -> [batch -> step -> record, checkpoint] x steps -> weights, summary

``train`` runs one ``RunPlan`` (train/plan.py: defaults, steps, cadence, config and id). Each step
is forward and backward over ``grad_accum`` micro-batches, clipping and AdamW (train/step.py): fp32
on CPU; on CUDA, bf16 autocast (or --precision), fused AdamW and torch.compile. What the run
leaves behind (config first, metric records, weights and summary at the end, the store row) is
train/runlog.py's, shared with K-model training (train/batched.py).

Around that core, a few hooks:
- checkpoints every ``checkpoint_every`` steps (``train/checkpoint.py``); ``resume="auto"`` picks
  up from the newest valid one, with the stream fast-forwarded to the step's first token;
- the store follows the run: running, then trained, or failed with its reason (``train/failure.py``);
- under torchrun, DistributedDataParallel over the global batch (``train/ddp.py``);
- optionally, TensorBoard (``train/tensorboard.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import torch

from kcap.errors import KcapError
from kcap.model.spec import ModelSpec
from kcap.store.db import RunStore
from kcap.train import checkpoint, ddp
from kcap.train.branch import branch_point
from kcap.train.claim import claim, decide, finished_summary
from kcap.train.compile import compile_model
from kcap.train.config import TrainConfig
from kcap.train.plan import RunPlan, plan_run
from kcap.train.producer import Producer
from kcap.train.progress import TrainProgress
from kcap.train.runlog import Probe, RunLog
from kcap.train.step import make_optimizer, make_step
from kcap.train.tensorboard import TensorBoardLog

Step = Callable[..., torch.Tensor]
RESUME = ("never", "auto")


def train(data: Path, spec: ModelSpec, cfg: TrainConfig, out: Path, progress: bool = True,
          record: bool = True, dry_run: bool = False, probe: Probe | None = None, resume: str = "never",
          checkpoint_every: int | None = None, tensorboard: bool = False, overwrite: bool = False,
          branch_from: Path | None = None) -> dict:
    """Train one model on a dataset (bioS, bioD, random strings) for exactly ``cfg.exposures``
    exposures of every person (or sequence); return a summary.

    With ``dry_run``, return the run's config (``plan_run``) without writing or training anything.
    At every evaluation point the loop logs the held-out loss and, with ``probe``, whatever the
    probe returns for the current model (e.g. bits stored), so knowledge can be followed along training.

    ``resume="auto"``: if ``out`` holds this very run (same id), finished, return its summary
    without training; unfinished, continue from its newest valid checkpoint (bit-identical to an
    uninterrupted run on CPU); a different run there is refused. ``"never"`` starts afresh, and
    refuses a finished run or another run in ``out`` unless ``overwrite`` (train/claim.py).
    ``checkpoint_every``: steps between checkpoints (None: about 20 per run; 0: none). Neither
    changes the run's id: they change how it is computed, not what. Nor does ``branch_from``, a
    checkpoint of another run that trained exactly as this one up to its step (train/branch.py):
    training starts there instead of from scratch."""
    if resume not in RESUME:
        raise KcapError(f"--resume must be one of {', '.join(RESUME)}, got {resume!r}")
    dist = ddp.from_env()
    plan = plan_run(data, spec, cfg, checkpoint_every, world_size=dist.world)
    if dry_run:
        return plan.config
    out = Path(out)
    with ExitStack() as cleanup:
        store = cleanup.enter_context(RunStore()) if record and dist.main else None
        if dist.main:  # the process that writes holds the directory's lock until training ends
            action = cleanup.enter_context(claim(out, plan, resume, overwrite, store))
        else:
            action = decide(out, plan, resume, overwrite)
        if action == "done":
            return {"id": plan.id, "run_dir": str(out), **finished_summary(out, plan.id), "already_finished": True}
        if dist.enabled:
            device = ddp.setup(dist, plan.device)
            cleanup.callback(ddp.teardown)
        else:
            device = plan.device
        model = plan.model.to(device)
        optimizer = make_optimizer(model, plan.cfg, device)
        start, state = _resume_point(out, plan, model, optimizer, action == "resume", dist)
        if start == 0 and branch_from is not None:
            start, state = branch_point(branch_from, plan, model, optimizer)
        do_step = _make_step(model, optimizer, plan.cfg, device, dist)
        if start and state.get("grad_scaler"):  # fp16's loss scale is part of the training state
            do_step.scaler.load_state_dict(state["grad_scaler"])
        tb = None
        if tensorboard and dist.main:  # on resume, events past the resumed step are dropped
            tb = cleanup.enter_context(TensorBoardLog(out, purge_step=start + 1 if start else None))
        log = RunLog(plan, out, device, state, store, tb, writes=dist.main)
        cleanup.callback(log.close)
        try:
            save = _checkpointer(out, plan, model, optimizer, do_step.scaler, log) if dist.main else None
            wait_s = _steps(plan, log, do_step, start, progress=progress and dist.main,
                            evaluate=model if dist.main else None, probe=probe, save=save)
            return log.finish(model, log.summary(wait_s, world_size=dist.world))
        except BaseException as e:
            log.failed(e)
            if isinstance(e, torch.OutOfMemoryError):
                raise KcapError(f"run {plan.id} ran out of memory; try a smaller --batch or more --grad-accum") from None
            raise


def _steps(plan: RunPlan, log: RunLog, do_step: Step, start: int, progress: bool,
           evaluate: torch.nn.Module | None, probe: Probe | None, save: Callable[[int], None] | None) -> float:
    """Steps ``start`` to the end: one optimizer step per batch, a metric record (with an
    evaluation of ``evaluate``) and a checkpoint (``save``) where the plan says. Returns the time
    spent waiting for data."""
    bar = TrainProgress(plan.steps, enabled=progress)
    bar.update(start)
    # the stream is a pure function of the seeds: resuming at step k starts at its first window,
    # rendered in a background thread (the same iterator, so the same tokens); its wait is measured
    batches = Producer(plan.stream.batches(plan.cfg.seq, plan.cfg.batch, start=start))
    try:
        step = start - 1
        for step, (x, y) in enumerate(batches, start=start):
            lr = plan.lr_at(step)
            log.add(do_step(x, y, lr), int((y >= 0).sum()))
            if plan.logs_at(step):
                rec = log.record(step, lr, batches.wait_s, evaluate if plan.evaluates_at(step) else None, probe)
                bar.update(step + 1, loss=rec["loss"], tok_s=rec["tokens_per_s"], mfu=rec.get("mfu"))
            else:
                bar.update(step + 1)
            if save is not None and plan.checkpoints_at(step):
                save(step + 1)
    finally:
        batches.close()
        bar.close()
    if step + 1 != plan.steps:  # the stream's length is computed exactly, so this is a bug if it fires
        raise RuntimeError(f"stream gave {step + 1} steps, expected {plan.steps}")
    return batches.wait_s


def _make_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, cfg: TrainConfig, device: torch.device,
               dist: ddp.Dist) -> Step:
    """One optimizer step, (x, y, lr) -> loss; its ``scaler`` is fp16's loss scale (else a pass-through)."""
    # compiled artifacts are cached in the workspace, so runs of one shape compile once
    if dist.enabled:
        step_model = compile_model(ddp.wrap(model, device), cfg.compile, device)
        return ddp.make_ddp_step(model, step_model, optimizer, cfg, device, dist)
    return make_step(model, compile_model(model, cfg.compile, device), optimizer, cfg, device)


def _resume_point(out: Path, plan: RunPlan, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  resume: bool, dist: ddp.Dist) -> tuple[int, dict | None]:
    """The step to start from and the loop's state there: the newest valid checkpoint's (model,
    optimizer and RNGs restored), or 0 and None."""
    found = None
    if resume:
        found = checkpoint.load_latest(out, plan.id, model, optimizer, warn=_warn if dist.main else lambda m: None)
    start, state = found if found is not None else (0, None)
    if state is not None:
        state["resumed_at"].append(start)
    if dist.enabled:
        ddp.agree(start, "the step to resume from")
    return start, state


def _checkpointer(out: Path, plan: RunPlan, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler, log: RunLog) -> Callable[[int], None]:
    """save(step): a checkpoint of everything training continues from, and a store heartbeat."""
    def save(step: int) -> None:
        state = {**log.state(), "grad_scaler": scaler.state_dict() if scaler.is_enabled() else None}
        # a wsd run keeps its stable-phase checkpoints: shorter horizons branch from them
        keep = None if plan.stable_until >= 0 else 2
        checkpoint.save_checkpoint(out, plan.id, step, model, optimizer, state, keep=keep)
        if log.store is not None:
            log.store.heartbeat(plan.id)
    return save


def _warn(msg: str) -> None:
    print(f"kcap: warning: {msg}", file=sys.stderr)
