"""Causal self-attention with rotary embeddings and optional grouped-query attention (GQA).

One fused projection makes queries (n_head heads), then keys and values (n_kv_head heads each).
With GQA each key/value head serves n_head / n_kv_head consecutive query heads (as in Mistral and
HF's ``repeat_kv``). ``F.scaled_dot_product_attention`` with a causal mask picks a fused kernel.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from kcap.model.config import GPTConfig
from kcap.model.rotary import apply_rotary


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.n_kv, self.head_dim = cfg.n_head, cfg.kv_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, (self.n_head + 2 * self.n_kv) * self.head_dim, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        H, KV, hd = self.n_head, self.n_kv, self.head_dim
        qkv = self.qkv(x)
        if KV == H:  # plain multi-head attention: one reshape, the same kernels as before GQA existed
            q, k, v = qkv.view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
        else:
            q, k, v = qkv.split([H * hd, KV * hd, KV * hd], dim=-1)
            q = q.view(B, T, H, hd).transpose(1, 2)
            k = k.view(B, T, KV, hd).transpose(1, 2).repeat_interleave(H // KV, dim=1)
            v = v.view(B, T, KV, hd).transpose(1, 2).repeat_interleave(H // KV, dim=1)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))
