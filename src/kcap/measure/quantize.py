"""Quantization after training: round every weight matrix to int8 or int4 and back (SCIENCE.md §4).

Round to nearest, symmetric (no zero point): a row of weights w (one output channel) or a group of
``group_size`` consecutive weights within the row (the last group of a row shorter when the
group size does not divide the width) gets the scale s = max|w| / qmax, with
qmax = 2^(bits-1) - 1 (127 for int8, 7 for int4), and becomes s * clamp(round(w / s), -qmax, qmax).
The model is then measured by the same code as at full precision ("fake quantization": the
dequantized weights are what an integer kernel would compute with, so the bits are the same).

Every matrix is quantized: attention, MLP and expert weights, the router, the token embedding and
the output layer (a tied output layer is the embedding, so it is quantized once). Biases and norm
gains stay in full precision, as in common int8/int4 schemes.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from kcap.errors import KcapError

BITS = {"int8": 8, "int4": 4}


def method_name(method: str, group_size: int | None) -> str:
    """The name a quantized measurement is stored under, e.g. int8 or int4-g32."""
    return method if group_size is None else f"{method}-g{group_size}"


def quantize_tensor(w: torch.Tensor, bits: int, group_size: int | None = None) -> torch.Tensor:
    """Symmetric round-to-nearest of a 2-D tensor per row (output channel) or per group; dequantized."""
    qmax = 2 ** (bits - 1) - 1
    rows, cols = w.shape
    x = w.float()
    if group_size:
        # a width that is not a multiple of the group (SwiGLU's round(8d/3)) leaves a shorter last
        # group: zero padding changes no group's max|w|, and is cut off again below
        pad = -cols % group_size
        x = torch.nn.functional.pad(x, (0, pad)).reshape(rows, (cols + pad) // group_size, group_size)
    else:
        x = x.reshape(rows, 1, cols)
    scale = x.abs().amax(dim=-1, keepdim=True) / qmax
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero group stays zero
    q = torch.clamp(torch.round(x / scale), -qmax, qmax)
    return (q * scale).reshape(rows, -1)[:, :cols].to(w.dtype)


def check_quantize(method: str | None, group_size: int | None) -> None:
    """One-line errors for a quantization that cannot be (``method`` None: none asked for)."""
    if method is None:
        if group_size is not None:
            raise KcapError("--group-size applies to --quantize only")
        return
    if method not in BITS:
        raise KcapError(f"--quantize must be one of {', '.join(BITS)}, got {method!r}")
    if group_size is not None and group_size < 1:
        raise KcapError(f"--group-size must be at least 1, got {group_size}")


@torch.no_grad()
def quantize_model(model: nn.Module, method: str, group_size: int | None = None) -> nn.Module:
    """A copy of ``model`` whose weight matrices are quantized with ``method`` (int8 or int4)."""
    check_quantize(method, group_size)
    model = copy.deepcopy(model)
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if p.dim() != 2 or id(p) in seen:
            continue
        seen.add(id(p))
        p.copy_(quantize_tensor(p, BITS[method], group_size))
    return model
