"""The model's shape as a user gives it on the command line, validated with one-line errors."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kcap.errors import KcapError
from kcap.model.archs import ARCHS, DEFAULT_ARCH
from kcap.model.config import GPTConfig, shape_problem

# model config fields as the command line names them
OPTIONS = {"n_layer": "--layers", "n_head": "--heads", "d_model": "--d-model", "n_kv_head": "--kv-heads",
           "mlp_ratio": "--mlp-ratio", "n_expert": "--experts", "top_k": "--top-k",
           "capacity_factor": "--capacity-factor"}


@dataclass
class ModelSpec:
    """The model's shape as a user gives it; vocabulary and context come from data and training.

    ``hf_config`` (a Hugging Face config as a dict, from ``--hf-config``) replaces the shape
    options: the model is then that HF architecture, trained from scratch (model/hf.py)."""

    layers: int = 2
    heads: int = 2
    d_model: int = 64
    arch: str = DEFAULT_ARCH
    kv_heads: int | None = None
    """Key/value heads (grouped-query attention); None: the arch's default (all heads; mistral: heads/4)."""
    mlp_ratio: int = 4
    experts: int = 0
    top_k: int = 1
    capacity_factor: float = 1.25
    tied: bool = True
    hf_config: dict | None = None

    def __post_init__(self):
        if self.hf_config is not None:
            self.arch = "hf"
            return
        if self.arch not in ARCHS:
            raise KcapError(f"unknown --arch {self.arch!r}; available: {', '.join(ARCHS)} (or --hf-config)")
        if self.kv_heads is None and ARCHS[self.arch].kv_group > 1:
            self.kv_heads = ARCHS[self.arch].default_kv_heads(self.heads)
        # the shape rules live in model/config.py; their message is shown with this command's options
        problem = shape_problem(self.arch, 1, self.layers, self.heads, self.d_model, 1, self.kv_heads,
                                self.mlp_ratio, self.experts, self.top_k, self.capacity_factor)
        if problem:
            raise KcapError(re.sub(r"\b(" + "|".join(OPTIONS) + r")\b", lambda m: OPTIONS[m.group(1)], problem))

    def config(self, vocab_size: int, seq: int):
        """The full model config: a ``GPTConfig``, or an ``HFModelConfig`` with ``hf_config``."""
        if self.hf_config is not None:
            from kcap.model.hf import HFModelConfig

            return HFModelConfig.from_user(self.hf_config, vocab_size, seq)
        # kv heads equal to the heads are stored as None, so a gpt2 config reads exactly as before GQA
        kv = self.kv_heads if self.kv_heads != self.heads else None
        return GPTConfig(vocab_size=vocab_size, n_layer=self.layers, n_head=self.heads, d_model=self.d_model,
                         max_seq=seq, arch=self.arch, bias=ARCHS[self.arch].bias, mlp_ratio=self.mlp_ratio,
                         n_kv_head=kv, n_expert=self.experts, top_k=self.top_k,
                         capacity_factor=self.capacity_factor, tie_embeddings=self.tied)
