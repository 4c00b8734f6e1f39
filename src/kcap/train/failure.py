"""Why a training run failed, as one line a sweep can act on.

    nan: ...     the loss became NaN or infinite (retry with a lower learning rate)
    oom: ...     out of memory (retry smaller batch or more grad_accum)
    crash: ...   anything else (a bug, a lost device)
"""

from __future__ import annotations

import torch

from kcap.errors import KcapError


class TrainingDiverged(KcapError):
    """The training loss became NaN or infinite."""


def failure_reason(exc: BaseException) -> str:
    """One line: a kind (nan, oom, crash) and the message."""
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, TrainingDiverged):
        return f"nan: {msg}"
    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None), MemoryError) if t)
    if isinstance(exc, oom_types) or "out of memory" in msg.lower() or "can't allocate memory" in msg.lower():
        return f"oom: {msg[:500]}"
    return f"crash: {type(exc).__name__}: {msg[:500]}"
