"""Exact parameter counts: the one place that decides what "P" is in bits per parameter.

Following the paper (SCIENCE.md §2), every parameter counts, but embedding rows (and untied output
rows) count only for tokens the dataset actually uses. The breakdown's parts sum to the total.
"""

from __future__ import annotations

import torch.nn as nn

PARTS = ("embedding", "attention", "mlp", "norms", "output")


def _part(name: str) -> str:
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
    """Parameters by part, plus ``total``. Tied weights are counted once (under embedding).

    With ``used_tokens``, embedding and output rows count only for that many used tokens.
    """
    counts = dict.fromkeys(PARTS, 0)
    seen: set[int] = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue
        seen.add(id(p))
        part = _part(name)
        n = p.numel()
        if part in ("embedding", "output") and used_tokens is not None:
            n = used_tokens * p.shape[1]
        counts[part] += n
    counts["total"] = sum(counts[k] for k in PARTS)
    counts["non_embedding"] = counts["total"] - counts["embedding"] - counts["output"]
    return counts
