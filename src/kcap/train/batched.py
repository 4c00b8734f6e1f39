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
- its run directory, metrics, summary and store row, exactly as ``kcap.train.loop.train`` writes
  them (plus ``batched_with``), so a sweep can mix batched and single runs.

Results equal training each model alone up to floating-point reassociation (tests/test_batched.py).

For a sweep runner: ``batch_key(config)`` of the dry-run config of each run (``train(...,
dry_run=True)``) groups compatible runs; ``train_many(requests)`` trains one group.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_model
from torch.func import functional_call, stack_module_state

from kcap.atomic import file_sha256, make_dir
from kcap.device import device_name, resolve_device
from kcap.errors import KcapError
from kcap.kinds import load_dataset, make_stream
from kcap.model.build import build_model, config_from_dict
from kcap.model.flops import peak_flops
from kcap.model.spec import ModelSpec
from kcap.store import rundir
from kcap.store.db import RunStore
from kcap.train.config import TrainConfig
from kcap.train.failure import failure_reason
from kcap.train.loop import heldout_loss, train
from kcap.train.precision import autocast, resolve_precision
from kcap.train.producer import Producer
from kcap.train.progress import TrainProgress
from kcap.train.schedule import lr_at

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
    """Runs whose dry-run configs have equal keys can be trained together by ``train_many``."""
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


class _RunLog:
    """One model's bookkeeping: metrics records as the single-model loop writes them."""

    def __init__(self, req: RunRequest, config: dict, stream, peak: float | None, junk: bool):
        d = config["derived"]
        self.req, self.config = req, config
        self.cfg = TrainConfig.from_dict(config["train"])
        self.steps, self.warmup, self.eval_every = d["steps"], d["warmup"], d["eval_every"]
        self.flops_per_token = d["train_flops_per_token"]
        self.targets = d["stream_tokens"] - 1
        self.peak = peak
        self.active_params = config["params"]["active"]
        self.heldout = stream.heldout(self.cfg.heldout, self.cfg.seq) if self.eval_every else None
        self.junk = junk
        self.records: list[dict] = []
        self.error: str | None = None  # set when this model diverges: it stops, the others go on
        self.tokens, self.loss_sum, self.n, self.last_loss = 0, 0.0, 0, float("nan")
        self.t_log, self.tok_log = time.perf_counter(), 0
        make_dir(Path(req.out))
        rundir.write_json(Path(req.out) / rundir.CONFIG, config)
        self.metrics = open(Path(req.out) / rundir.METRICS, "w")  # noqa: SIM115 -- closed by train_many

    def lr(self, step: int) -> float:
        return lr_at(step, self.steps, self.cfg.lr, self.warmup, self.cfg.min_lr_ratio)


def train_many(requests: list[RunRequest], progress: bool = True, record: bool = True) -> list[dict]:
    """Train the requested runs (all of one ``batch_key``) as one batched computation.

    Returns one summary per request, as ``train`` returns it, or, for a run that diverged, its id,
    run_dir and ``error`` (that run stops; the others finish and are saved). grad_accum must be 1
    and compile is not used (the vmapped step runs eagerly)."""
    if not requests:
        return []
    configs = [train(r.data, r.spec, r.cfg, r.out, dry_run=True) for r in requests]
    keys = [batch_key(c) for c in configs]
    for i, k in enumerate(keys):
        if k != keys[0]:
            diff = [n for n, a, b in zip(("model",) + SHARED, keys[0], k) if a != b]
            raise KcapError(f"run {requests[i].out} cannot be batched with {requests[0].out}: "
                            f"{', '.join(diff)} differ")
    if len({str(Path(r.out).resolve()) for r in requests}) < len(requests):
        raise KcapError("two batched runs share one output directory")
    cfg0 = TrainConfig.from_dict(configs[0]["train"])
    if cfg0.grad_accum != 1:
        raise KcapError("batched training needs grad_accum 1 (the K models already share one batch)")
    device = resolve_device(cfg0.device)
    if resolve_precision(cfg0.precision, device) == "fp16":
        raise KcapError("batched training supports fp32 and bf16, not fp16 (no per-model loss scaling)")
    model = configs[0]["model"]
    if model.get("arch") == "hf" or model.get("n_expert", 0):
        what = "a Hugging Face model" if model.get("arch") == "hf" else "a mixture of experts (routing has no vmap rule)"
        raise KcapError(f"batched training needs a dense kcap model, not {what}; train these runs one by one")
    model_cfg = config_from_dict(model)

    models, logs, batches = [], [], []
    peak = peak_flops(device_name(device)) if device.type == "cuda" else None
    for r, c in zip(requests, configs):
        cfg = TrainConfig.from_dict(c["train"])
        torch.manual_seed(cfg.seed)  # the same init as training this model alone
        models.append(build_model(model_cfg).to(device))
        dataset = load_dataset(r.data)
        stream = make_stream(dataset, cfg.exposures, seed=cfg.seed)
        logs.append(_RunLog(r, c, stream, peak, bool(dataset.junk)))
        batches.append(Producer(stream.batches(cfg.seq, cfg.batch)))
    K, B, T = len(models), cfg0.batch, cfg0.seq
    do_step = BatchedStep(models, cfg0, [log.cfg.wd for log in logs], device)
    scratch = models[0]  # a real module to read one model out of the stack (held-out loss, saving)
    n_steps = max(log.steps for log in logs)
    if record:  # the store follows the runs as it follows single ones: running, then trained or failed
        with RunStore() as store:
            for log in logs:
                store.record_started(log.config["id"], Path(log.req.out), log.config)
    try:
        results = _train_steps(logs, batches, do_step, scratch, device, n_steps, progress, K, B, T, record)
    except BaseException as e:
        if record:
            reason = ("interrupted: KeyboardInterrupt" if isinstance(e, KeyboardInterrupt) else failure_reason(e))
            with RunStore() as store:
                for log in logs:
                    if store.run_status(log.config["id"]).status == "running":
                        store.record_failed(log.config["id"], reason, status="interrupted" if isinstance(
                            e, KeyboardInterrupt) else "failed")
        raise
    finally:
        for b in batches:  # a stopped or diverged model's producer was never drained
            b.close()
        for log in logs:
            log.metrics.close()
    return results


def _train_steps(logs: list[_RunLog], batches: list[Producer], do_step: BatchedStep, scratch: torch.nn.Module,
                 device: torch.device, n_steps: int, progress: bool, K: int, B: int, T: int,
                 record: bool) -> list[dict]:
    bar = TrainProgress(n_steps, enabled=progress, description=f"train x{K}")
    t0 = time.perf_counter()
    x_all = np.zeros((K, B, T), np.int64)
    y_all = np.zeros((K, B, T), np.int64)
    for step in range(n_steps):
        active = [step < log.steps and log.error is None for log in logs]
        lrs = [log.lr(step) if a else 0.0 for log, a in zip(logs, active)]
        n_valid = []
        for k, log in enumerate(logs):
            if not active[k]:  # finished: dummy targets, zero weight, zero lr (weights frozen)
                x_all[k], y_all[k] = 0, 0
                n_valid.append(0)
                continue
            x, y = next(batches[k])
            x_all[k], y_all[k] = 0, -1  # a short final batch: the missing rows are ignored targets
            x_all[k, :len(x)], y_all[k, :len(y)] = x, y
            n_valid.append(int((y >= 0).sum()))
        xb = torch.from_numpy(x_all).to(device, non_blocking=True)
        yb = torch.from_numpy(y_all).to(device, non_blocking=True)
        step_losses = do_step(xb, yb, torch.tensor(lrs, device=device), torch.tensor(active, device=device))
        params = do_step.params
        for k, log in enumerate(logs):
            if active[k]:
                _after_step(log, step, lrs[k], step_losses[k], n_valid[k], params, k, scratch, device, t0, batches[k])
        bar.update(step + 1)
    bar.close()
    wall = time.perf_counter() - t0
    aggregate = sum(log.tokens for log in logs) / wall
    results = []
    for k, log in enumerate(logs):
        log.metrics.close()
        if log.error is not None:  # no weights, no summary; the store says failed: like a failed single run
            if record:
                with RunStore() as store:
                    store.record_failed(log.config["id"], f"nan: {log.error}")
            results.append({"id": log.config["id"], "run_dir": str(log.req.out), "error": log.error})
            continue
        results.append(_finish(log, do_step.params, k, scratch, wall, aggregate, K, record, batches[k].wait_s))
    return results


def _load_model(scratch: torch.nn.Module, params: dict[str, torch.Tensor], k: int) -> torch.nn.Module:
    with torch.no_grad():
        for name, p in scratch.named_parameters():
            p.copy_(params[name][k])
    return scratch


def _after_step(log: _RunLog, step: int, lr: float, loss: torch.Tensor, n_valid: int, params, k: int,
                scratch: torch.nn.Module, device: torch.device, t0: float, batches: Producer) -> None:
    log.tokens += n_valid
    log.loss_sum += loss
    log.n += 1
    evaluate = log.eval_every and ((step + 1) % log.eval_every == 0 or step + 1 == log.steps)
    if not ((step + 1) % log.cfg.log_every == 0 or step + 1 == log.steps or evaluate):
        return
    log.last_loss = float(log.loss_sum) / log.n
    now = time.perf_counter()
    tok_s = (log.tokens - log.tok_log) / max(now - log.t_log, 1e-9)
    # as in the single loop: with junk, useful windows are spread evenly over the steps
    done = (step + 1) / log.steps if log.junk else log.tokens / log.targets
    rec = {"step": step + 1, "tokens": log.tokens, "exposures": log.cfg.exposures * done,
           "loss": log.last_loss, "lr": lr, "tokens_per_s": tok_s, "flops": log.tokens * log.flops_per_token,
           "flops_6nd": 6 * log.active_params * log.tokens, "elapsed_s": now - t0, "data_wait_s": batches.wait_s}
    if log.peak:
        rec["mfu"] = tok_s * log.flops_per_token / log.peak
    if evaluate and log.heldout is not None:
        rec["heldout_loss"] = heldout_loss(_load_model(scratch, params, k), *log.heldout, device,
                                           precision=log.cfg.precision)
        now = time.perf_counter()
    log.records.append(rec)
    log.metrics.write(json.dumps(rec) + "\n")
    log.metrics.flush()
    if not math.isfinite(log.last_loss):
        log.error = f"training diverged at step {step + 1}: loss is {log.last_loss} (try a lower --lr)"
    log.loss_sum, log.n, log.t_log, log.tok_log = 0.0, 0, now, log.tokens


def _finish(log: _RunLog, params, k: int, scratch: torch.nn.Module, wall: float, aggregate: float, K: int, record: bool,
            wait_s: float) -> dict:
    out = Path(log.req.out)
    model = copy.deepcopy(_load_model(scratch, params, k)).to("cpu")
    tmp = out / f".{rundir.WEIGHTS}.tmp"
    save_model(model, str(tmp))
    os.replace(tmp, out / rundir.WEIGHTS)
    # wall time and tokens/s are the batch's: each model's share of the aggregate throughput
    summary = {"steps": log.steps, "tokens": log.tokens, "final_loss": log.last_loss,
               "final_heldout_loss": log.records[-1].get("heldout_loss"), "wall_s": wall,
               "tokens_per_s": log.tokens / wall, "flops": log.tokens * log.flops_per_token,
               "flops_6nd": 6 * log.active_params * log.tokens, "data_wait_s": wait_s,
               "resumed_at_steps": [], "world_size": 1, "batched_with": K, "aggregate_tokens_per_s": aggregate,
               "weights_sha256": file_sha256(out / rundir.WEIGHTS)}
    if log.peak:
        summary["mfu"] = summary["tokens_per_s"] * log.flops_per_token / log.peak
    rundir.write_json(out / rundir.SUMMARY, summary)
    if record:
        with RunStore() as store:
            store.record_trained(log.config["id"], out, log.config, summary, points=log.records)
    return {"id": log.config["id"], "run_dir": str(out), **summary}
