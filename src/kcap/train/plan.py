"""Planning a run: everything about it that is decided before its first step.

``plan_run`` resolves the paper's defaults (lr, wd, batch by N), counts the stream (tokens, steps),
picks the warm-up and the evaluation and checkpoint cadence, counts parameters and FLOPs, and
builds the config that config.json holds and the run id hashes. ``train`` and ``train_many`` run
a plan; ``kcap train --dry-run`` prints one (``RunPlan.describe``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kcap.device import device_name, resolve_device
from kcap.errors import KcapError
from kcap.kinds import load_dataset, make_stream
from kcap.model.build import build_model
from kcap.model.flops import train_flops_per_token
from kcap.model.params import param_breakdown
from kcap.model.spec import ModelSpec
from kcap.store import rundir
from kcap.store.provenance import provenance
from kcap.train.config import TrainConfig
from kcap.train.precision import resolve_precision
from kcap.train.schedule import decay_start, lr_at


@dataclass
class RunPlan:
    """One run, resolved: its config (as config.json holds it, id included) and what running it needs.

    The numbers the loop follows (steps, warm-up, evaluation cadence, FLOPs) are read from the
    config, so the run does what its config.json says."""

    config: dict
    cfg: TrainConfig
    """The training config with the paper's defaults filled in (``config["train"]``)."""
    dataset: Any
    stream: Any
    model: torch.nn.Module
    """Freshly initialized (seeded by ``cfg.seed``): counting parameters needs it, training starts from it."""
    device: torch.device
    checkpoint_every: int
    """Steps between checkpoints (0: none); not in the config: it changes how the run is computed, not what."""

    @property
    def id(self) -> str:
        return self.config["id"]

    @property
    def params(self) -> dict[str, int]:
        return self.config["params"]

    @property
    def steps(self) -> int:
        return self.config["derived"]["steps"]

    @property
    def warmup(self) -> int:
        return self.config["derived"]["warmup"]

    @property
    def stable_until(self) -> int:
        """The last step whose checkpoint a shorter horizon can branch from: a wsd run's decay start
        (-1 for other schedules, whose checkpoints are dropped when the run finishes)."""
        c = self.cfg
        return decay_start(self.steps, c.decay_fraction) if c.schedule == "wsd" else -1

    def lr_at(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` under the run's schedule."""
        c = self.cfg
        return lr_at(step, self.steps, c.lr, self.warmup, c.min_lr_ratio, c.schedule, c.decay_fraction)

    @property
    def eval_every(self) -> int:
        return self.config["derived"]["eval_every"]

    @property
    def flops_per_token(self) -> int:
        return self.config["derived"]["train_flops_per_token"]

    @property
    def targets(self) -> int:
        """Target tokens of the whole run: every stream token but the first is one, exactly once."""
        return self.config["derived"]["stream_tokens"] - 1

    def evaluates_at(self, step: int) -> bool:
        """Whether step ``step`` (0-based) ends with a held-out evaluation (and the probe)."""
        if not self.eval_every:
            return False
        if self.cfg.eval_spacing == "log":
            return step + 1 in log_steps(self.steps)
        return (step + 1) % self.eval_every == 0 or step + 1 == self.steps

    def logs_at(self, step: int) -> bool:
        """Whether step ``step`` ends with a metric record: every log_every, at evaluations, at the end."""
        return (step + 1) % self.cfg.log_every == 0 or step + 1 == self.steps or self.evaluates_at(step)

    def checkpoints_at(self, step: int) -> bool:
        """Whether step ``step`` ends with a checkpoint (never after the last: the weights follow)."""
        return bool(self.checkpoint_every) and (step + 1) % self.checkpoint_every == 0 and step + 1 < self.steps

    def heldout(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The held-out windows (people the model never sees), if the run evaluates at all."""
        return self.stream.heldout(self.cfg.heldout, self.cfg.seq) if self.eval_every else None

    def describe(self) -> dict:
        """What ``kcap train --dry-run`` prints: id, training config, derived numbers, parameters, FLOPs."""
        c, d = self.config, self.config["derived"]
        return {"id": c["id"], "train": c["train"], **d, "params": c["params"],
                "train_flops": d["train_flops_per_token"] * (d["stream_tokens"] - 1)}


@functools.cache
def log_steps(steps: int, per_decade: int = 10) -> frozenset[int]:
    """Step counts 1, 2, ..., about ``per_decade`` per decade (rounded, so the first decade holds
    fewer), and the last: evaluation points of ``--eval-spacing log``."""
    k = np.arange(0, int(per_decade * math.log10(steps)) + 1)
    return frozenset(np.unique(np.round(10.0 ** (k / per_decade))).astype(int).tolist()) | {steps}


def plan_run(data: Path, spec: ModelSpec, cfg: TrainConfig, checkpoint_every: int | None = None,
             world_size: int = 1) -> RunPlan:
    """Resolve one run of ``spec`` on the dataset at ``data``: nothing is written or trained.

    ``checkpoint_every``: steps between checkpoints (None: about 20 per run; 0: none); like
    ``world_size`` it changes how the run is computed, not what, so it is not in the run id."""
    if checkpoint_every is not None and checkpoint_every < 0:
        raise KcapError(f"--checkpoint-every must be non-negative, got {checkpoint_every}")
    dataset = load_dataset(data)
    cfg = cfg.resolved(dataset.n_people)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)  # weight init (the stream has its own seeds)
    stream = make_stream(dataset, cfg.exposures, seed=cfg.seed, popularity=cfg.popularity)
    longest = stream.max_doc_tokens()
    if cfg.seq < longest:  # measurement feeds whole biographies: the model must have seen such windows
        raise KcapError(f"--seq {cfg.seq} is shorter than a biography can be ({longest} tokens); use --seq {longest} or more")
    model_cfg = spec.config(len(dataset.vocab()), cfg.seq)
    model = build_model(model_cfg)
    steps = math.ceil(stream.n_windows(cfg.seq) / cfg.batch)
    derived = {"stream_tokens": stream.total_tokens(), "steps": steps,
               "warmup": cfg.warmup if cfg.warmup is not None else min(1000, steps // 10),
               "eval_every": cfg.eval_every if cfg.eval_every is not None else max(1, steps // 20),
               "train_flops_per_token": train_flops_per_token(model_cfg, cfg.seq),
               "precision": resolve_precision(cfg.precision, device)}
    params = param_breakdown(model, used_tokens=stream.used_tokens())
    config = _config(dataset, cfg, model_cfg.to_dict(), derived, params, device, world_size)
    return RunPlan(config, cfg, dataset, stream, model, device,
                   checkpoint_every=checkpoint_every if checkpoint_every is not None else max(1, steps // 20))


def _config(dataset, cfg: TrainConfig, model: dict, derived: dict, params: dict[str, int], device: torch.device,
            world_size: int) -> dict:
    """config.json: what the run is (data, model, train: hashed into its id), what follows from it
    (derived, params) and where it was computed (provenance)."""
    config = {
        "format": 1,
        "data": {"path": str(dataset.path.resolve()), "kind": dataset.meta["kind"], "variant": dataset.variant,
                 "people": dataset.n_people, "seed": dataset.seed, "files": dataset.meta["files"],
                 **({"junk": dataset.junk} if dataset.junk else {}),
                 **({"domain_token": True} if dataset.domain_token else {})},
        "model": model,
        "train": cfg.to_dict(),
        "derived": derived,
        "params": params,
        "provenance": provenance(torch=torch.__version__, cuda=torch.version.cuda, device=device_name(device),
                                 world_size=world_size),
    }
    config["id"] = rundir.run_id(config)
    return config
