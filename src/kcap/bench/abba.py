"""Paired timing of two step functions in one process, in ABBA order.

The two run in alternating rounds whose order flips every round, so drifting machine load hits
both alike; each round gives one per-step time per function, and ratios are taken per round.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def timed(fn: Callable[[], object], n: int, device: torch.device) -> float:
    """Seconds for ``n`` calls of ``fn``, with the device drained before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    for _ in range(n):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t


def abba(a: Callable[[], object], b: Callable[[], object], steps: int, rounds: int,
         device: torch.device) -> tuple[list[float], list[float], int]:
    """Per-step seconds of ``a`` and ``b`` in each of ``rounds`` rounds of ``steps // rounds`` steps
    (at least one), and the steps per round."""
    per_round = max(1, steps // rounds)
    ta, tb = [], []
    for r in range(rounds):
        for fn, out in ((a, ta), (b, tb)) if r % 2 == 0 else ((b, tb), (a, ta)):
            out.append(timed(fn, per_round, device) / per_round)
    return ta, tb, per_round
