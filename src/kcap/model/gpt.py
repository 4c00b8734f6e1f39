"""The lean transformer family, assembled: embedding, blocks, final norm, output layer.

With ``arch="gpt2"`` (the default) this is the paper's "GPT2": GPT-2 with rotary position
embeddings and no dropout. Pre-LayerNorm blocks, a GELU MLP of ``mlp_ratio`` x d_model, biases as
in GPT-2, tied input and output embeddings, and rotary embeddings on the full head dimension in the
rotate-half convention (the one GPT-NeoX and LLaMA use), applied to queries and keys instead of
learned positions. ``llama`` and ``mistral`` swap in RMSNorm, a SwiGLU MLP and grouped-query
attention; ``n_expert`` makes every MLP a mixture of experts (see ``model/config.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from kcap.model.block import Block
from kcap.model.config import GPTConfig
from kcap.model.moe import AUX_LOSS_WEIGHT, MoE
from kcap.model.norms import make_norm
from kcap.model.rotary import apply_rotary, rotary_tables

__all__ = ["GPT", "GPTConfig", "apply_rotary", "rotary_tables"]


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = make_norm(cfg)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # tied, as in GPT-2
        cos, sin = rotary_tables(cfg.max_seq, cfg.head_dim, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2's scaled init of the residual projections keeps the residual stream's variance flat
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, V); with ``targets`` (-1 = ignore), the mean cross-entropy instead."""
        T = idx.shape[1]
        if T > self.cfg.max_seq:
            raise ValueError(f"sequence length {T} exceeds max_seq {self.cfg.max_seq}")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.wte(idx)
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1).long(),
                               ignore_index=-1)
        if self.training and self.cfg.n_expert:  # keep the experts evenly loaded (model/moe.py)
            aux = [b.mlp.aux_loss for b in self.blocks if isinstance(b.mlp, MoE)]
            loss = loss + AUX_LOSS_WEIGHT * torch.stack(aux).mean()
        return loss
