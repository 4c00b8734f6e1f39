"""One run over several processes with ``torchrun`` (DistributedDataParallel).

    torchrun --standalone --nproc-per-node 2 -m kcap.cli train --data D --out RUN ...

The loop needs no flag: torchrun's environment (WORLD_SIZE > 1) switches it on. Every rank reads
the same deterministic stream and builds the same global batch; rank r trains on its share of the
batch's rows, so the global batch, the learning-rate schedule and the run id are those of the
single-process run. DDP averages gradients over ranks, so each rank weights its micro-batches by
their share of the *global* batch's target tokens times the world size: the summed gradient is
then exactly the single-process one (up to float summation order). Rank 0 alone writes (run
directory, checkpoints, store); gloo on CPU, NCCL on CUDA with one GPU per process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as tdist
from torch.nn.parallel import DistributedDataParallel

from kcap.errors import KcapError
from kcap.train.config import TrainConfig
from kcap.train.precision import autocast, grad_scaler, resolve_precision
from kcap.train.step import apply_gradients


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """The rank that writes files and store rows."""
        return self.rank == 0


def from_env() -> Dist:
    """The process's place in a torchrun launch; a single process without one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(rank=int(os.environ["RANK"]), world=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def setup(dist: Dist, device: torch.device) -> torch.device:
    """Join the process group; on CUDA each process takes GPU ``LOCAL_RANK``."""
    if device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def teardown() -> None:
    if tdist.is_initialized():
        tdist.destroy_process_group()


def agree(value: int, what: str) -> None:
    """Raise on every rank unless all ranks hold the same ``value`` (e.g. the step they resume from:
    a run directory that is not on a filesystem shared by all nodes would split them)."""
    t = torch.tensor([value, -value], dtype=torch.int64)
    if tdist.get_backend() == "nccl":
        t = t.cuda()
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    hi, lo = int(t[0]), -int(t[1])
    if hi != lo:
        raise KcapError(f"ranks disagree on {what} ({lo} vs {hi}); "
                        "is the run directory on a filesystem all nodes share?")


def wrap(model: torch.nn.Module, device: torch.device) -> DistributedDataParallel:
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def make_ddp_step(model: torch.nn.Module, step_model: Callable, optimizer: torch.optim.Optimizer,
                  cfg: TrainConfig, device: torch.device, dist: Dist
                  ) -> Callable[[np.ndarray, np.ndarray, float], torch.Tensor]:
    """Like ``step.make_step``, over this rank's rows of the global batch; returns the global loss."""
    precision = resolve_precision(cfg.precision, device)
    scaler = grad_scaler(device, precision)  # fp16 only; otherwise a pass-through
    params = list(model.parameters())
    ddp = step_model if isinstance(step_model, DistributedDataParallel) else getattr(step_model, "_orig_mod", None)

    def step(x_np: np.ndarray, y_np: np.ndarray, lr: float) -> torch.Tensor:
        for group in optimizer.param_groups:
            group["lr"] = lr
        valid = (y_np >= 0).sum(axis=1)
        n_valid = int(valid.sum())  # of the global batch: every rank sees all of it
        mine = np.array_split(np.arange(len(x_np)), dist.world)[dist.rank]
        # every rank runs the same number of backward passes (DDP all-reduces on the last one);
        # an empty piece (a short final batch) runs one row with weight 0
        pieces = np.array_split(mine, cfg.grad_accum)
        loss_sum = torch.zeros((), device=device)
        for i, rows in enumerate(pieces):
            share = int(valid[rows].sum()) / n_valid * dist.world
            if len(rows) == 0:
                rows, share = np.arange(1), 0.0
            x = torch.from_numpy(x_np[rows].astype(np.int64)).to(device, non_blocking=True)
            y = torch.from_numpy(y_np[rows].astype(np.int64)).to(device, non_blocking=True)
            last = i == len(pieces) - 1
            sync = ddp.no_sync() if (ddp is not None and not last) else nullcontext()
            with sync:
                with autocast(device, precision):
                    loss = step_model(x, y)
                scaler.scale(loss * share).backward()
            loss_sum += loss.detach() * (share / dist.world)
        apply_gradients(params, optimizer, scaler, cfg.grad_clip)
        tdist.all_reduce(loss_sum)  # the global batch's mean loss, the same on every rank
        return loss_sum

    step.scaler = scaler  # its state goes into checkpoints
    return step

