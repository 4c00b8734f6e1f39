"""Normalization layers: LayerNorm for gpt2, RMSNorm (no mean, no bias) for llama and mistral."""

from __future__ import annotations

import torch.nn as nn

from kcap.model.config import GPTConfig


def make_norm(cfg: GPTConfig) -> nn.Module:
    if cfg.arch == "gpt2":
        return nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.bias)
    return nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
