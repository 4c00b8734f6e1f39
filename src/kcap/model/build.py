"""One factory for every model the loop trains or measurement loads: ours or a Hugging Face one."""

from __future__ import annotations

import torch.nn as nn

from kcap.model.config import GPTConfig


def build_model(cfg) -> nn.Module:
    """A freshly initialized model for a ``GPTConfig`` or an ``HFModelConfig`` (model/hf.py)."""
    if isinstance(cfg, GPTConfig):
        from kcap.model.gpt import GPT

        return GPT(cfg)
    from kcap.model.hf import HFCausalLM

    return HFCausalLM.from_model_config(cfg)


def config_from_dict(d: dict):
    """The model config recorded in a run's config.json (its "model" section)."""
    if d.get("arch") == "hf":
        from kcap.model.hf import HFModelConfig

        return HFModelConfig.from_dict(d)
    return GPTConfig(**d)
