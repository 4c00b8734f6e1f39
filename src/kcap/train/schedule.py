"""Learning-rate schedules: linear warm-up, then

- ``cosine`` (the paper's, SCIENCE.md §3): cosine decay to min_ratio x peak at the last step;
- ``wsd`` (warm-up, stable, decay): the peak until the last ``decay_fraction`` of the steps, then a
  linear decay to min_ratio x peak. The stable phase does not depend on the horizon, so one long
  run's stable-phase checkpoints are the starting points of shorter runs: each horizon is read
  after a short decay, without a run of its own from scratch (as in recent LLM scaling studies);
- ``constant``: the peak to the end (no decay), for curves that a decay would bend.
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "wsd", "constant")


def decay_start(total: int, decay_fraction: float) -> int:
    """The first step of a wsd run's decay."""
    return total - max(1, round(decay_fraction * total)) if decay_fraction > 0 else total


def lr_at(step: int, total: int, peak: float, warmup: int, min_ratio: float = 0.1, schedule: str = "cosine",
          decay_fraction: float = 0.2) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if schedule == "constant":
        return peak
    if schedule == "wsd":
        start = max(warmup, decay_start(total, decay_fraction))
        if step < start:
            return peak
        progress = min(1.0, (step - start + 1) / max(1, total - start))
        return peak * (1 - (1 - min_ratio) * progress)
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r} (choose from {', '.join(SCHEDULES)})")
    span = max(1, total - 1 - warmup)
    progress = min(1.0, (step - warmup) / span)
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
