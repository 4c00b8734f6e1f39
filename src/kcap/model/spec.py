"""The model's shape as a user gives it on the command line, validated with one-line errors."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kcap.errors import KcapError
from kcap.model.archs import ARCHS, DEFAULT_ARCH, arch_help, kv_heads_help
from kcap.model.config import GPTConfig, shape_problem
from kcap.options import check, flag_of, option

# model config fields as ModelSpec names them, and so as the command line's flags
CONFIG_NAMES = {"n_layer": "layers", "n_head": "heads", "d_model": "d_model", "n_kv_head": "kv_heads",
                "mlp_ratio": "mlp_ratio", "n_expert": "experts", "top_k": "top_k", "capacity_factor": "capacity_factor"}
_FLAGS = {config: flag_of(name) for config, name in CONFIG_NAMES.items()}


@dataclass
class ModelSpec:
    """The model's shape as a user gives it; vocabulary and context come from data and training.

    Every field but ``hf_config`` is an option of ``kcap train`` and a key of a sweep's model sizes
    (``arch``: of its ``model`` section), declared here once (kcap/options.py). ``hf_config`` (a
    Hugging Face config as a dict, from ``--hf-config``) replaces the shape options: the model is
    then that HF architecture, trained from scratch (model/hf.py)."""

    # upper bounds far past any model kcap is for: beyond them building the model only hangs or
    # exhausts memory before the first step, instead of a one-line refusal
    layers: int = option(2, "Transformer layers.", lo=1, hi=1024)
    heads: int = option(2, "Attention heads.", lo=1, hi=4096)
    d_model: int = option(64, "Model width.", lo=1, hi=65536)
    arch: str = option(DEFAULT_ARCH, arch_help(), choices=ARCHS.keys())
    kv_heads: int | None = option(None, f"Key/value heads, grouped-query attention (default: {kv_heads_help()}).",
                                  lo=1)
    mlp_ratio: int = option(4, "MLP width / d_model: 4 standard, 1 the paper's 1/4 MLP, 0 no MLP.", lo=0, hi=64)
    experts: int = option(0, "Mixture of experts: experts per layer (0: dense MLP; the paper: 32).", lo=0, hi=1024)
    top_k: int = option(1, "Experts per token.", lo=1)
    capacity_factor: float = option(1.25, "Expert capacity in training, as a multiple of an even share.",
                                    lo=0, lo_open=True)
    tied: bool = option(True, "The output layer shares the input embedding (GPT-2); --untied: a separate one.",
                        negative="--untied")
    hf_config: dict | None = None

    def __post_init__(self):
        if self.hf_config is not None:
            self.arch = "hf"
            return
        if self.arch not in ARCHS:
            raise KcapError(f"unknown --arch {self.arch!r}; available: {', '.join(ARCHS)} (or --hf-config)")
        check(self, name=lambda d: d.flag)
        if self.kv_heads is None and ARCHS[self.arch].kv_group > 1:
            self.kv_heads = ARCHS[self.arch].default_kv_heads(self.heads)
        # the shape rules live in model/config.py; their message is shown with this command's options
        problem = shape_problem(self.arch, 1, self.layers, self.heads, self.d_model, 1, self.kv_heads,
                                self.mlp_ratio, self.experts, self.top_k, self.capacity_factor)
        if problem:
            raise KcapError(re.sub(r"\b(" + "|".join(CONFIG_NAMES) + r")\b", lambda m: _FLAGS[m.group(1)], problem))

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

