"""Training precision: which autocast dtype, and whether the loss needs scaling.

bf16 has fp32's exponent range, so autocast alone suffices; fp16 underflows small gradients, so
its loss is scaled up before backward and the gradients scaled back before the step (GradScaler,
which also skips steps whose gradients overflowed). Weights and optimizer state stay fp32.
"""

from __future__ import annotations

import contextlib

import torch

from kcap.errors import KcapError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run uses on ``device``: auto is bf16 on CUDA and fp32 elsewhere."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise KcapError(f"--precision fp16 needs a CUDA device (this run is on {device.type}); use fp32 or bf16")
    return precision


def autocast(device: torch.device, precision: str):
    """The forward pass's autocast context for a resolved precision (none for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A loss scaler, active for fp16 only (disabled, it passes everything through unchanged)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
