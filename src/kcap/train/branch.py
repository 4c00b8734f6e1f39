"""Start a run from another run's checkpoint: many training horizons from one run.

A wsd run (``--schedule wsd``) holds the peak learning rate until its final decay, and keeps the
checkpoints of that stable phase. A shorter run of the same data, model and recipe differs from it
only in when the decay starts, and sees the same batches up to then (the stream of E exposures is
a prefix of the stream of more), so it can start from the long run's checkpoint at any step up to
its own decay instead of from scratch: ``kcap train ... --branch-from LONG/checkpoints/step-K...``.
The result is the run planned to that horizon (same id, same weights on CPU), for the cost of its
decay alone.
"""

from __future__ import annotations

from pathlib import Path

import torch

from kcap.errors import KcapError
from kcap.store import rundir
from kcap.train import checkpoint
from kcap.train.config import TrainConfig
from kcap.train.plan import RunPlan
from kcap.train.schedule import lr_at

# what may differ between a run and the run it branches from: the horizon and its schedule
# (checked step by step below), and what is logged
MAY_DIFFER = ("exposures", "schedule", "decay_fraction", "log_every", "eval_every", "eval_spacing")


def _differences(other: dict, mine: dict) -> list[str]:
    out = []
    for section in ("data", "model"):
        a = {k: v for k, v in other[section].items() if k != "path"}
        b = {k: v for k, v in mine[section].items() if k != "path"}
        if a != b:
            out.append(section)
    a, b = other["train"], mine["train"]
    out += [f"train.{k}" for k in sorted(set(a) | set(b)) if k not in MAY_DIFFER and a.get(k) != b.get(k)]
    return out


def branch_point(path: Path, plan: RunPlan, model: torch.nn.Module,
                 optimizer: torch.optim.Optimizer) -> tuple[int, dict]:
    """Restore model, optimizer and RNGs from ``path`` (a checkpoint of another run) and return
    (step, loop state) to continue from; refused, naming why, unless the other run trained exactly
    as this one would have up to that step."""
    path = Path(path)
    if not path.is_file():
        raise KcapError(f"--branch-from {path} is not a checkpoint file")
    other = rundir.read_config(path.parent.parent)
    if other["id"] == plan.id:
        raise KcapError(f"--branch-from {path} is a checkpoint of this very run (resume it with --resume auto)")
    diff = _differences(other, plan.config)
    if diff:
        raise KcapError(f"--branch-from {path}: its run differs from this one in {', '.join(diff)}")
    try:
        tensors, blob, step = checkpoint.read_checkpoint(path, other["id"])
    except ValueError as e:
        raise KcapError(f"--branch-from {path}: {e}") from None
    if step > plan.steps:
        raise KcapError(f"--branch-from {path}: step {step} is past this run's {plan.steps} steps")
    cfg = TrainConfig.from_dict(other["train"])
    steps, warmup = other["derived"]["steps"], other["derived"]["warmup"]
    for t in range(step):  # the other run's learning rates up to the branch point are this run's
        theirs = lr_at(t, steps, cfg.lr, warmup, cfg.min_lr_ratio, cfg.schedule, cfg.decay_fraction)
        if theirs != plan.lr_at(t):
            raise KcapError(f"--branch-from {path}: at step {t} that run's learning rate was {theirs:.6g}, this "
                            f"run's is {plan.lr_at(t):.6g} (branch from a stable-phase checkpoint of a wsd run "
                            "with the same --warmup, at or before this run's decay)")
    checkpoint.restore(tensors, blob, model, optimizer)
    return step, blob["state"]
