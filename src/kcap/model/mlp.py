"""Feed-forward layers: GPT-2's GELU MLP and LLaMA's SwiGLU gated MLP.

The gated MLP keeps its gate and up projections in one fused ``fc`` matrix (gate rows first), so
both kinds are ``fc`` then ``proj``: down(silu(gate(x)) * up(x)) versus proj(gelu(fc(x))).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from kcap.model.config import GPTConfig


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_hidden, bias=cfg.bias)
        self.proj = nn.Linear(cfg.mlp_hidden, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class SwiGLU(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, 2 * cfg.mlp_hidden, bias=cfg.bias)
        self.proj = nn.Linear(cfg.mlp_hidden, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.fc(x).chunk(2, dim=-1)
        return self.proj(F.silu(gate) * up)


MLPS = {"gelu": MLP, "swiglu": SwiGLU}  # by the arch's ``mlp`` (model/archs.py)


def make_dense_mlp(cfg: GPTConfig) -> nn.Module:
    return MLPS[cfg.arch_def.mlp](cfg)
