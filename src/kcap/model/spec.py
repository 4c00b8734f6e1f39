"""The model's shape as a user gives it on the command line, validated with one-line errors."""

from __future__ import annotations

from dataclasses import dataclass

from kcap.errors import KcapError
from kcap.model.gpt import GPTConfig


@dataclass
class ModelSpec:
    """The model's shape as a user gives it; vocabulary and context come from data and training."""

    layers: int = 2
    heads: int = 2
    d_model: int = 64
    arch: str = "gpt2"

    def __post_init__(self):
        if self.arch != "gpt2":
            raise KcapError(f"unknown arch {self.arch!r}; available: gpt2")
        for name in ("layers", "heads", "d_model"):
            if getattr(self, name) < 1:
                raise KcapError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise KcapError(f"--d-model {self.d_model} must split into --heads {self.heads} heads of even size")

    def config(self, vocab_size: int, seq: int) -> GPTConfig:
        return GPTConfig(vocab_size=vocab_size, n_layer=self.layers, n_head=self.heads,
                         d_model=self.d_model, max_seq=seq)
