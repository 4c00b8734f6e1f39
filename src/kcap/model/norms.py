"""Normalization layers, as the arch's record names them: LayerNorm (gpt2) or RMSNorm (no mean,
no bias: llama and mistral)."""

from __future__ import annotations

import torch.nn as nn

from kcap.model.config import GPTConfig


def make_norm(cfg: GPTConfig) -> nn.Module:
    kind = cfg.arch_def.norm
    if kind == "layernorm":
        return nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.bias)
    if kind == "rmsnorm":
        return nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
    raise ValueError(f"arch {cfg.arch}: unknown norm {kind!r}")
