"""The model's shape as a user gives it on the command line, validated with one-line errors."""

from __future__ import annotations

from dataclasses import dataclass

from kcap.errors import KcapError
from kcap.model.config import ARCHS, GPTConfig


@dataclass
class ModelSpec:
    """The model's shape as a user gives it; vocabulary and context come from data and training.

    ``hf_config`` (a Hugging Face config as a dict, from ``--hf-config``) replaces the shape
    options: the model is then that HF architecture, trained from scratch (model/hf.py)."""

    layers: int = 2
    heads: int = 2
    d_model: int = 64
    arch: str = "gpt2"
    kv_heads: int | None = None
    """Key/value heads (grouped-query attention); None: all heads, or heads/4 for mistral."""
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
        for name in ("layers", "heads", "d_model", "top_k"):
            if getattr(self, name) < 1:
                raise KcapError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise KcapError(f"--d-model {self.d_model} must split into --heads {self.heads} heads of even size")
        if self.kv_heads is None and self.arch == "mistral":
            # Mistral 7B shares each key/value head among 4 query heads
            self.kv_heads = self.heads // 4 if self.heads % 4 == 0 else 1
        if self.kv_heads is not None and (self.kv_heads < 1 or self.heads % self.kv_heads):
            raise KcapError(f"--kv-heads {self.kv_heads} must divide --heads {self.heads}")
        if self.mlp_ratio < 0:
            raise KcapError(f"--mlp-ratio must be 0 (no MLP) or more, got {self.mlp_ratio}")
        if self.experts < 0 or self.experts == 1:
            raise KcapError(f"--experts must be 0 (dense) or at least 2, got {self.experts}")
        if self.experts and self.top_k > self.experts:
            raise KcapError(f"--top-k {self.top_k} exceeds --experts {self.experts}")
        if self.experts and self.mlp_ratio == 0:
            raise KcapError("--experts needs an MLP: --mlp-ratio must be at least 1")
        if self.capacity_factor <= 0:
            raise KcapError(f"--capacity-factor must be positive, got {self.capacity_factor}")

    def config(self, vocab_size: int, seq: int):
        """The full model config: a ``GPTConfig``, or an ``HFModelConfig`` with ``hf_config``."""
        if self.hf_config is not None:
            from kcap.model.hf import HFModelConfig

            return HFModelConfig.from_user(self.hf_config, vocab_size, seq)
        # kv heads equal to the heads are stored as None, so a gpt2 config reads exactly as before GQA
        kv = self.kv_heads if self.kv_heads != self.heads else None
        return GPTConfig(vocab_size=vocab_size, n_layer=self.layers, n_head=self.heads, d_model=self.d_model,
                         max_seq=seq, arch=self.arch, bias=self.arch == "gpt2", mlp_ratio=self.mlp_ratio,
                         n_kv_head=kv, n_expert=self.experts, top_k=self.top_k,
                         capacity_factor=self.capacity_factor, tie_embeddings=self.tied)
