"""Mixture of experts: the MLP of a block becomes n_expert MLPs and a router (Switch Transformer).

Each token goes to its top-k experts by router probability; an expert's output is weighted by that
(unnormalized) probability, so with top-1 the router still receives a gradient. In training an
expert takes at most ``capacity = ceil(capacity_factor x tokens x k / n_expert)`` assignments (first
choices before second choices, then in token order); overflowing tokens skip the layer through the
residual stream. In evaluation nothing is dropped, so a measurement does not depend on the batch.

A load-balancing loss, n_expert x sum_e (fraction of assignments to e) x (mean probability of e),
is kept in ``aux_loss`` after each training forward; the model adds AUX_LOSS_WEIGHT x its mean.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from kcap.model.config import GPTConfig
from kcap.model.mlp import make_dense_mlp

AUX_LOSS_WEIGHT = 0.01  # the Switch Transformer's alpha


class MoE(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_expert, self.top_k, self.capacity_factor = cfg.n_expert, cfg.top_k, cfg.capacity_factor
        self.router = nn.Linear(cfg.d_model, cfg.n_expert, bias=False)
        self.experts = nn.ModuleList(make_dense_mlp(cfg) for _ in range(cfg.n_expert))
        self.aux_loss: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        n, E, k = len(x), self.n_expert, self.top_k
        probs = F.softmax(self.router(x).float(), dim=-1)  # (n, E)
        weight, choice = probs.topk(k, dim=-1)  # (n, k)
        # assignments, slot-major: every token's first choice, then every token's second, ...
        expert = choice.t().reshape(-1)
        gate = weight.t().reshape(-1)
        token = torch.arange(n, device=x.device).repeat(k)
        keep = torch.ones_like(expert, dtype=torch.bool)
        if self.training:
            onehot = F.one_hot(expert, E)
            position = (onehot.cumsum(0) * onehot).sum(-1) - 1  # place in its expert's queue
            keep = position < math.ceil(self.capacity_factor * n * k / E)
            self.aux_loss = E * (onehot.float().mean(0) * probs.mean(0)).sum()
        out = torch.zeros_like(x)
        for e, mlp in enumerate(self.experts):
            idx = ((expert == e) & keep).nonzero().squeeze(-1)
            if idx.numel():
                tok = token[idx]
                y = mlp(x[tok]).to(out.dtype) * gate[idx, None].to(out.dtype)
                out.index_add_(0, tok, y)
        return out.view(shape)
