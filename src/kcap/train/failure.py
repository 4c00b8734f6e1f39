"""Why a training run failed, as one line a sweep can act on.

    nan: ...     the loss became NaN or infinite (retry with a lower learning rate)
    oom: ...     out of memory (retry smaller batch or more grad_accum)
    error: ...   kcap refused something (bad data, a corrupted file): its one-line message
    crash: ...   anything else (a bug, a lost device, a killed process), with where it was raised

The training loop records these in the store; a sweep records the same in the run's directory.
"""

from __future__ import annotations

import os
import traceback

import torch

from kcap.errors import KcapError


class TrainingDiverged(KcapError):
    """The training loss became NaN or infinite."""


def failure_reason(exc: BaseException) -> str:
    """One line: a kind (nan, oom, error, crash) and the message."""
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, TrainingDiverged):
        return f"nan: {msg}"
    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None), MemoryError) if t)
    if isinstance(exc, oom_types) or "out of memory" in msg.lower() or "can't allocate memory" in msg.lower():
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"oom: {first[:500]}"
    if isinstance(exc, KcapError):
        return f"error: {msg[:500]}"
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""
    return f"crash: {type(exc).__name__}{where}: {msg[:500]}"
