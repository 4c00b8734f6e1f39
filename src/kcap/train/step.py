"""One optimizer step: the part of training that the benchmark times.

Forward and backward over ``grad_accum`` micro-batches, gradient clipping, AdamW. The step's loss
is the mean over all its target tokens, even when the last batch is short or padded: each
micro-batch is weighted by its share of the step's valid targets (counted on the host, so no
device sync happens here).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from kcap.train.config import TrainConfig
from kcap.train.precision import autocast, grad_scaler, resolve_precision


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    # Weight decay on matrices and embeddings only; biases and norm gains are left free (nanoGPT).
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.wd}, {"params": no_decay, "weight_decay": 0.0}]
    # the fused kernel exists for CUDA and CPU and is several times faster than the foreach one
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, fused=True)


def make_step(model: torch.nn.Module, step_model: Callable, optimizer: torch.optim.Optimizer,
              cfg: TrainConfig, device: torch.device) -> Callable[[np.ndarray, np.ndarray, float], torch.Tensor]:
    """A function (x, y, lr) -> detached loss that performs one full optimizer step."""
    micro = cfg.batch // cfg.grad_accum
    precision = resolve_precision(cfg.precision, device)
    scaler = grad_scaler(device, precision)  # fp16 only; otherwise a pass-through
    params = list(model.parameters())
    compiled = step_model is not model
    graphs = compiled and cfg.compile == "graphs" and device.type == "cuda"

    def step(x_np: np.ndarray, y_np: np.ndarray, lr: float) -> torch.Tensor:
        for group in optimizer.param_groups:
            group["lr"] = lr
        if compiled and len(x_np) < cfg.batch:
            # the stream's last batch is short: pad it with ignored rows, so a compiled model sees
            # one shape only and never recompiles for the tail (same loss: padding has no targets)
            pad = cfg.batch - len(x_np)
            x_np = np.concatenate([x_np, np.zeros((pad, x_np.shape[1]), x_np.dtype)])
            y_np = np.concatenate([y_np, np.full((pad, y_np.shape[1]), -1, y_np.dtype)])
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()  # earlier replays' outputs are consumed
        valid = (y_np >= 0).sum(axis=1)
        n_valid = int(valid.sum())
        x = torch.from_numpy(x_np.astype(np.int64)).to(device, non_blocking=True)
        y = torch.from_numpy(y_np.astype(np.int64)).to(device, non_blocking=True)
        loss_sum = torch.zeros((), device=device)
        for i in range(0, len(x), micro):
            share = int(valid[i:i + micro].sum()) / n_valid
            if share == 0:  # only padding rows: their mean loss would be 0/0
                continue
            with autocast(device, precision):
                loss = step_model(x[i:i + micro], y[i:i + micro])
            scaler.scale(loss * share).backward()
            loss_sum += loss.detach() * share
        apply_gradients(params, optimizer, scaler, cfg.grad_clip)
        return loss_sum

    step.scaler = scaler  # its state goes into checkpoints (fp16 resume continues at the same scale)
    return step


def apply_gradients(params: list[torch.Tensor], optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                    grad_clip: float) -> None:
    """The end of every step (single process or DDP): clip, AdamW step through the loss scaler, clear."""
    if grad_clip > 0:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
