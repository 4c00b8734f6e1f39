"""What every kind's measurement shares: per-token losses and greedy hits of a model over many
rendered documents, span sums, and the fields every measurement reports.

Per token we take the natural-log loss in float32 and whether the greedy (argmax) prediction is
right; span sums then come from cumulative sums, with no per-token Python. Greedy generation of a
value after its prompt reproduces the value exactly if and only if the argmax under teacher
forcing is right at every position of the value (each generated token then feeds the same context
as the true one), so exact-match accuracy needs no sampling loop.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


CONTEXTS = ("previous", "none")


def context_limit(model: torch.nn.Module) -> int | None:
    """The longest sequence the model takes (kcap's GPT: max_seq; HF: max_position_embeddings)."""
    cfg = getattr(model, "cfg", None) or getattr(model, "config", None)
    return getattr(cfg, "max_seq", None) or getattr(cfg, "max_position_embeddings", None)


@torch.no_grad()
def token_losses(model: torch.nn.Module, tokens: np.ndarray, offsets: np.ndarray, device: torch.device,
                 batch: int = 128, context: str = "previous") -> tuple[np.ndarray, np.ndarray]:
    """Per-document (loss, wrong) arrays of shape (B, Lmax): position j holds the loss of token j
    of document b given what precedes it (0 at j = 0, the separator), and whether the argmax
    prediction of token j is wrong.

    ``context="previous"`` reads each document as training does, after another one: document b
    follows document b-1 (the first follows the last), the context cut from the left so that both
    fit the model's context; ``"none"``: each document alone, its separator at
    position 0. ``batch`` documents go through the model in one forward, right-padded to the
    longest row; gathers are numpy and torch indexing, with no per-token Python. Results do not
    depend on ``batch`` (up to float reassociation in the matmuls)."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
    lens = np.diff(offsets).astype(np.int64)
    B, L = len(lens), int(lens.max())
    ctx = np.zeros(B, np.int64)
    if context == "previous" and B > 1:  # a lone document has no other one to follow
        limit = context_limit(model) or 1 << 62
        ctx = np.maximum(np.minimum(np.roll(lens, 1), limit - lens), 0)
    ctx_start = np.roll(offsets[1:], 1) - ctx  # the tail of the previous document
    loss = np.zeros((B, L), np.float32)
    wrong = np.zeros((B, L), np.int32)
    for lo in range(0, B, batch):
        sl = slice(lo, min(lo + batch, B))
        rows = _rows(tokens, offsets[:-1][sl], lens[sl], ctx_start[sl], ctx[sl])
        nll, miss = _row_losses(model, torch.from_numpy(rows).to(device, non_blocking=True))
        # the loss of token j of the document sits at row position ctx + j - 1 of the targets
        n = int(lens[sl].max())
        at = torch.from_numpy(np.minimum(ctx[sl, None] + np.arange(n - 1)[None, :], nll.shape[1] - 1)).to(device)
        ok = torch.from_numpy(np.arange(1, n)[None, :] < lens[sl, None]).to(device)
        loss[sl, 1:n] = (nll.gather(1, at) * ok).cpu().numpy()
        wrong[sl, 1:n] = (miss.gather(1, at) & ok).cpu().numpy()
    return loss, wrong


def _rows(tokens: np.ndarray, start: np.ndarray, lens: np.ndarray, ctx_start: np.ndarray,
          ctx: np.ndarray) -> np.ndarray:
    """(rows, width) int64 inputs: each row the context slice then its document, right-padded
    with token 0 (causal attention never lets padding influence real positions)."""
    total = ctx + lens
    j = np.arange(int(total.max()))[None, :]
    src = np.where(j < ctx[:, None], ctx_start[:, None] + j, start[:, None] + j - ctx[:, None])
    return np.where(j < total[:, None], tokens[np.clip(src, 0, len(tokens) - 1)], 0).astype(np.int64)


def _row_losses(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position loss of each next token, and whether the argmax missed it."""
    # fp32 on every device: bits are a sum of tiny per-token losses, which bf16 would round
    logits = model(x[:, :-1])
    target = x[:, 1:]
    # fused log-softmax + gather: no (rows, T, V) log-probability tensor next to the logits
    nll = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), target.reshape(-1), reduction="none")
    return nll.view(target.shape), logits.argmax(-1) != target


def default_batch(device: torch.device) -> int:
    """Biographies per forward: a GPU wants thousands of rows in flight; on a CPU, 32 rows keep the
    logits (rows x ~130 x vocab floats) in cache and were 1.4-3x faster than 128 (docs/benchmarks.md)."""
    return 1024 if device.type == "cuda" else 32


def span_sums(values: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Sum of values[b, start_b : start_b + length_b] for every row b."""
    cs = np.concatenate([np.zeros((len(values), 1), values.dtype), np.cumsum(values, axis=1)], axis=1)
    rows = np.arange(len(values))
    return cs[rows, start + length] - cs[rows, start]


def summary(people: int, params: dict, bits: dict, bits_max: float, bits_max_terms: dict) -> dict:
    """The fields every measurement reports, whatever the dataset kind."""
    total = params["total"]
    return {
        "people": people,
        "params": total,
        "params_breakdown": params,
        "bits": bits["total"],
        "bits_max": bits_max,
        "bits_per_param": bits["total"] / total,
        "bits_max_per_param": bits_max / total,
        "fraction_stored": bits["total"] / bits_max,
        "bits_terms": {k: v for k, v in bits.items() if k not in ("total", "attributes")},
        "bits_max_terms": bits_max_terms,
    }
