"""Rotary position embeddings on the full head dimension, rotate-half layout (GPT-NeoX, LLaMA)."""

from __future__ import annotations

import torch


def rotary_tables(seq: int, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, (seq, head_dim), on the default device. Computed on the CPU and then
    moved; a model built under ``torch.device("meta")`` (a sweep plan counting parameters) gets
    shapes only: arange on meta would first load torch's meta kernels (~1.5 s a command), and
    computing real tables there would cost the memory the meta device is meant to save."""
    device = torch.empty(0).device
    if device.type == "meta":
        width = 2 * ((head_dim + 1) // 2)  # the rotate-half layout repeats ceil(head_dim / 2) frequencies
        return torch.empty(seq, width), torch.empty(seq, width)
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device="cpu") / head_dim)
    freqs = torch.outer(torch.arange(seq, dtype=torch.float32, device="cpu"), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)  # rotate-half layout
    return emb.cos().to(device), emb.sin().to(device)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin
