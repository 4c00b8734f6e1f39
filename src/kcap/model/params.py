"""Exact parameter counts: the one place that decides what "P" is in bits per parameter.

Following the paper (SCIENCE.md §2), every parameter counts, but embedding rows (and untied output
rows) count only for tokens the dataset actually uses. The breakdown's parts sum to the total.

A mixture of experts also reports ``active``: the parameters one token passes through (top-k of
the experts, plus everything else). Bits per parameter use ``total``; FLOPs use ``active``.
"""

from __future__ import annotations

import torch.nn as nn

PARTS = ("embedding", "attention", "mlp", "norms", "output")


def _part(name: str) -> str:
    """Part of a parameter of kcap's own model (model/gpt.py); the MoE router belongs to the MLP."""
    if name.startswith("wte."):
        return "embedding"
    if name.startswith("lm_head."):
        return "output"
    if ".attn." in name:
        return "attention"
    if ".mlp." in name:
        return "mlp"
    if ".ln" in name or name.startswith("ln_f."):
        return "norms"
    raise ValueError(f"parameter {name!r} has no part in the breakdown")


def param_breakdown(model: nn.Module, used_tokens: int | None = None) -> dict[str, int]:
    """Parameters by part, plus ``total``, ``non_embedding`` and ``active``. Tied weights are
    counted once (under embedding).

    With ``used_tokens``, embedding and output rows count only for that many used tokens. A model
    may name its parameters' parts itself with a ``param_part(name)`` method (the HF wrapper does);
    parameters it cannot place go to an extra part, ``other``, so the parts still sum to the total.
    """
    part_of = getattr(model, "param_part", _part)
    vocab = getattr(model, "vocab_size", None)
    counts = dict.fromkeys(PARTS, 0)
    seen: set[int] = set()
    experts = 0
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue
        seen.add(id(p))
        part = part_of(name)
        n = p.numel()
        if part in ("embedding", "output") and used_tokens is not None and p.dim() == 2 \
                and (vocab is None or p.shape[0] == vocab):  # token rows, not e.g. learned positions
            n = used_tokens * p.shape[1]
        counts[part] = counts.get(part, 0) + n
        if ".experts." in name:
            experts += n
    counts["total"] = sum(v for k, v in counts.items())
    counts["non_embedding"] = counts["total"] - counts["embedding"] - counts["output"]
    cfg = getattr(model, "cfg", None)
    n_expert = getattr(cfg, "n_expert", 0)
    counts["active"] = counts["total"] - (experts - experts * cfg.top_k // n_expert if n_expert else 0)
    return counts
