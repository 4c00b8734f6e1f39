"""One transformer block, assembled from the arch's parts: pre-norm attention, pre-norm MLP.

    x = x + attn(norm1(x));  x = x + mlp(norm2(x))      (no MLP and no norm2 when mlp_ratio = 0)
"""

from __future__ import annotations

import torch
import torch.nn as nn

from kcap.model.attention import Attention
from kcap.model.config import GPTConfig
from kcap.model.mlp import make_dense_mlp
from kcap.model.moe import MoE
from kcap.model.norms import make_norm


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = make_norm(cfg)
        self.attn = Attention(cfg)
        if cfg.mlp_ratio > 0:
            self.ln2 = make_norm(cfg)
            self.mlp = MoE(cfg) if cfg.n_expert else make_dense_mlp(cfg)
        else:
            self.ln2 = self.mlp = None

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cos, sin)
        if self.mlp is None:
            return x
        return x + self.mlp(self.ln2(x))
