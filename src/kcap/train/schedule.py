"""Learning-rate schedule: linear warm-up, then cosine decay to min_ratio x peak (SCIENCE.md §3)."""

from __future__ import annotations

import math


def lr_at(step: int, total: int, peak: float, warmup: int, min_ratio: float = 0.1) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    span = max(1, total - 1 - warmup)
    progress = min(1.0, (step - warmup) / span)
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
