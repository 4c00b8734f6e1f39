"""Train K models of one shape at once, as one batched computation.

A tiny model leaves an accelerator mostly idle; K of them stacked fill it. The K models' weights
are stacked along a new leading dimension (``torch.func.stack_module_state``) and one vmapped
``functional_call`` of the ordinary model runs all K forwards and backwards as batched matmuls, so
any ``nn.Module`` architecture works unchanged. Everything else stays per model:

- initialization (each model seeded as ``train`` seeds it), data stream and its order,
- learning rate, warm-up, schedule, weight decay, number of steps (a model whose stream ends
  earlier stops updating: zero learning rate, zero-weighted loss),
- gradient clipping (each model's own global norm) and AdamW state (a vectorized AdamW with the
  same update as ``torch.optim.AdamW``),
- its plan (``kcap.train.plan.plan_run``) and its run directory, metrics, summary and store row,
  written by the same ``RunLog`` as a single run's (plus ``batched_with``), so a sweep can mix
  batched and single runs.

Results equal training each model alone up to floating-point reassociation (tests/test_batched.py).

For a sweep runner: ``batch_key(config)`` of each run's config (``plan_run(...).config``) groups
compatible runs; ``train_many(requests)`` trains one group.
"""

from __future__ import annotations

import copy
import json
import math
import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call, stack_module_state

from kcap.errors import KcapError
from kcap.model.spec import ModelSpec
from kcap.store.db import RunStore
from kcap.train.claim import claim, decide
from kcap.train.config import TrainConfig
from kcap.train.failure import TrainingDiverged
from kcap.train.plan import RunPlan, plan_run
from kcap.train.precision import autocast, resolve_precision
from kcap.train.producer import Producer
from kcap.train.progress import TrainProgress
from kcap.train.runlog import RunLog

# Training settings that must agree for runs to share one computation; everything else in
# TrainConfig (lr, wd, warmup, min_lr_ratio, seed, exposures, logging, held-out) is per model.
SHARED = ("batch", "grad_accum", "seq", "beta1", "beta2", "eps", "grad_clip", "device", "precision")


@dataclass
class RunRequest:
    """One run, as ``kcap.train.loop.train(data, spec, cfg, out)`` would take it."""

    data: Path
    spec: ModelSpec
    cfg: TrainConfig
    out: Path


def batch_key(config: dict) -> tuple:
    """Runs whose configs (``RunPlan.config``) have equal keys can be trained together by ``train_many``."""
    t = config["train"]
    return (json.dumps(config["model"], sort_keys=True),) + tuple(t[k] for k in SHARED)


def _stack_param(stacked: torch.Tensor) -> bool:
    return stacked.dim() >= 3  # a matrix or embedding of one model: weight decay applies (as make_optimizer)


class BatchedAdamW:
    """AdamW over stacked parameters (K, ...), with per-model lr and weight decay.

    The update is torch.optim.AdamW's: decoupled decay p *= 1 - lr*wd, then
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(self, params: dict[str, torch.Tensor], betas: tuple[float, float], eps: float):
        self.params = params
        self.b1, self.b2 = betas
        self.eps = eps
        self.m = {n: torch.zeros_like(p) for n, p in params.items()}
        self.v = {n: torch.zeros_like(p) for n, p in params.items()}
        self.t = 0

    @torch.no_grad()
    def step(self, lr: torch.Tensor, wd: torch.Tensor) -> None:
        self.t += 1
        bc1, bc2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for name, p in self.params.items():
            shape = (-1,) + (1,) * (p.dim() - 1)
            lr_k = lr.view(shape)
            g = p.grad
            if _stack_param(p):
                p.mul_(1 - lr_k * wd.view(shape))
            m, v = self.m[name], self.v[name]
            m.lerp_(g, 1 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
            p.addcdiv_(m * (lr_k / bc1), denom, value=-1.0)
            p.grad = None


@torch.no_grad()
def clip_per_model(params: dict[str, torch.Tensor], max_norm: float) -> None:
    """Each model's gradients scaled to global norm <= max_norm, as clip_grad_norm_ does alone."""
    sq = sum(p.grad.flatten(1).pow(2).sum(1) for p in params.values())
    coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for p in params.values():
        p.grad.mul_(coef.view((-1,) + (1,) * (p.dim() - 1)))


class BatchedStep:
    """One optimizer step of K stacked models: the part of batched training a benchmark times.

    ``models`` (same architecture, any nn.Module whose forward(x, y) returns the mean loss) are
    stacked once; ``step(x, y, lr, active)`` takes (K, B, T) inputs and targets and per-model
    learning rates and 0/1 activity, and returns the K losses. An inactive model's loss is
    zero-weighted and its lr must be 0, so it does not change."""

    def __init__(self, models: list[torch.nn.Module], cfg: TrainConfig, wd: list[float], device: torch.device):
        self.params, _ = stack_module_state(models)  # leaves (K, ...), tied weights stored once
        self.base = copy.deepcopy(models[0])  # functional_call runs it with the stacked weights
        buffers = dict(self.base.named_buffers())
        self.optimizer = BatchedAdamW(self.params, (cfg.beta1, cfg.beta2), cfg.eps)
        self.wd = torch.tensor(wd, dtype=torch.float32, device=device)
        self.grad_clip = cfg.grad_clip
        self.device, self.precision = device, resolve_precision(cfg.precision, device)

        def one_loss(p, x, y):
            return functional_call(self.base, (p, buffers), (x, y))

        self.losses_of = torch.vmap(one_loss)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.precision), warnings.catch_warnings():
            # CPU flash attention has no vmap rule yet: torch loops over the models for that op
            warnings.filterwarnings("ignore", message=".*batching rule.*")
            losses = self.losses_of(self.params, x, y)
            (losses.float() * active.float()).sum().backward()
        if self.grad_clip > 0:
            clip_per_model(self.params, self.grad_clip)
        self.optimizer.step(lr.float(), self.wd)
        return losses.detach()


def train_many(requests: list[RunRequest], progress: bool = True, record: bool = True) -> list[dict]:
    """Train the requested runs (all of one ``batch_key``) as one batched computation.

    Returns one summary per request, as ``train`` returns it, or, for a run that diverged, its id,
    run_dir and ``error`` (that run stops; the others finish and are saved). grad_accum must be 1
    and compile is not used (the vmapped step runs eagerly)."""
    if not requests:
        return []
    plans = [plan_run(r.data, r.spec, r.cfg) for r in requests]
    _check_batchable(requests, plans)
    device, cfg = plans[0].device, plans[0].cfg
    for r, plan in zip(requests, plans):  # every directory is checked before any is written
        decide(Path(r.out), plan, "never", overwrite=False)
    with ExitStack() as cleanup:
        # the store follows the runs as it follows single ones: running, then trained or failed
        store = cleanup.enter_context(RunStore()) if record else None
        for r, plan in zip(requests, plans):  # each directory locked and given its config, as ``train`` does
            cleanup.enter_context(claim(Path(r.out), plan, "never", False, store))
        models = [plan.model.to(device) for plan in plans]  # each initialized as ``train`` initializes it
        do_step = BatchedStep(models, cfg, [plan.cfg.wd for plan in plans], device)
        logs = []
        for r, plan in zip(requests, plans):
            logs.append(RunLog(plan, r.out, device, store=store))
            cleanup.callback(logs[-1].close)
        batches = [cleanup.enter_context(Producer(plan.stream.batches(cfg.seq, cfg.batch))) for plan in plans]
        try:
            return _train_steps(logs, batches, do_step, models[0], progress)
        except BaseException as e:
            for log in logs:  # those still running (not finished, not diverged)
                log.failed(e)
            raise


def _check_batchable(requests: list[RunRequest], plans: list[RunPlan]) -> None:
    """Refuse, before anything is written, runs that cannot share one batched computation."""
    keys = [batch_key(plan.config) for plan in plans]
    for i, k in enumerate(keys):
        if k != keys[0]:
            diff = [n for n, a, b in zip(("model",) + SHARED, keys[0], k) if a != b]
            raise KcapError(f"run {requests[i].out} cannot be batched with {requests[0].out}: "
                            f"{', '.join(diff)} differ")
    if len({str(Path(r.out).resolve()) for r in requests}) < len(requests):
        raise KcapError("two batched runs share one output directory")
    if plans[0].cfg.grad_accum != 1:
        raise KcapError("batched training needs grad_accum 1 (the K models already share one batch)")
    if plans[0].config["derived"]["precision"] == "fp16":
        raise KcapError("batched training supports fp32 and bf16, not fp16 (no per-model loss scaling)")
    model = plans[0].config["model"]
    if model.get("arch") == "hf" or model.get("n_expert", 0):
        what = "a Hugging Face model" if model.get("arch") == "hf" else "a mixture of experts (routing has no vmap rule)"
        raise KcapError(f"batched training needs a dense kcap model, not {what}; train these runs one by one")


def _train_steps(logs: list[RunLog], batches: list[Producer], do_step: BatchedStep, scratch: torch.nn.Module,
                 progress: bool) -> list[dict]:
    """All K models step together until the longest run ends; each logs, evaluates and finishes as alone."""
    K, cfg, device = len(logs), logs[0].plan.cfg, do_step.device
    n_steps = max(log.plan.steps for log in logs)
    bar = TrainProgress(n_steps, enabled=progress, description=f"train x{K}")
    t0 = time.perf_counter()
    x_all, y_all = np.zeros((K, cfg.batch, cfg.seq), np.int64), np.zeros((K, cfg.batch, cfg.seq), np.int64)
    errors: dict[int, str] = {}  # a model that diverged stops; the others go on
    for step in range(n_steps):
        active = [step < log.plan.steps and k not in errors for k, log in enumerate(logs)]
        lrs = [_lr(log.plan, step) if a else 0.0 for log, a in zip(logs, active)]
        n_valid = _fill(x_all, y_all, batches, active)
        losses = do_step(torch.from_numpy(x_all).to(device, non_blocking=True),
                         torch.from_numpy(y_all).to(device, non_blocking=True),
                         torch.tensor(lrs, device=device), torch.tensor(active, device=device))
        for k, log in enumerate(logs):
            if not active[k]:
                continue
            log.add(losses[k], n_valid[k])
            if log.plan.logs_at(step):
                model = _load_model(scratch, do_step.params, k) if log.plan.evaluates_at(step) else None
                try:
                    log.record(step, lrs[k], batches[k].wait_s, model)
                except TrainingDiverged as e:  # no weights, no summary, failed in the store: as a single run
                    log.failed(e)
                    errors[k] = str(e)
        bar.update(step + 1)
    bar.close()
    wall = time.perf_counter() - t0
    aggregate = sum(log.tokens for log in logs) / wall
    results = []
    for k, log in enumerate(logs):
        if k in errors:
            results.append({"id": log.plan.id, "run_dir": str(log.out), "error": errors[k]})
            continue
        # wall time and tokens/s are the batch's: each model's share of the aggregate throughput
        summary = log.summary(batches[k].wait_s, wall=wall, batched_with=K, aggregate_tokens_per_s=aggregate)
        results.append(log.finish(copy.deepcopy(_load_model(scratch, do_step.params, k)), summary))
    return results


def _lr(plan: RunPlan, step: int) -> float:
    return plan.lr_at(step)


def _fill(x_all: np.ndarray, y_all: np.ndarray, batches: list[Producer], active: list[bool]) -> list[int]:
    """Each active model's next batch into its slot of (K, B, T); returns each model's target count."""
    n_valid = []
    for k, batches_k in enumerate(batches):
        if not active[k]:  # finished: dummy targets, zero weight, zero lr (weights frozen)
            x_all[k], y_all[k] = 0, 0
            n_valid.append(0)
            continue
        x, y = next(batches_k)
        x_all[k], y_all[k] = 0, -1  # a short final batch: the missing rows are ignored targets
        x_all[k, :len(x)], y_all[k, :len(y)] = x, y
        n_valid.append(int((y >= 0).sum()))
    return n_valid


def _load_model(scratch: torch.nn.Module, params: dict[str, torch.Tensor], k: int) -> torch.nn.Module:
    """Model ``k`` of the stack, copied into ``scratch`` (a real module: held-out loss, saving)."""
    with torch.no_grad():
        for name, p in scratch.named_parameters():
            p.copy_(params[name][k])
    return scratch
