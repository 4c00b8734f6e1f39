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


@torch.no_grad()
def token_losses(model: torch.nn.Module, tokens: np.ndarray, offsets: np.ndarray, device: torch.device,
                 batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Per-biography (loss, wrong) arrays of shape (B, Lmax): position j holds the loss of token j
    given tokens < j (0 at j = 0), and whether the argmax prediction of token j is wrong.

    ``batch`` biographies go through the model in one forward, right-padded to the longest of
    them; the padding is gathered with one numpy index and masked out, with no per-token Python.
    Results do not depend on ``batch`` (up to float reassociation in the matmuls)."""
    lens = np.diff(offsets)
    B, L = len(lens), int(lens.max())
    loss = np.zeros((B, L), np.float32)
    wrong = np.zeros((B, L), np.int32)
    pad_cols = np.arange(L)
    for lo in range(0, B, batch):
        hi = min(lo + batch, B)
        n_tok = lens[lo:hi]
        width = int(n_tok.max())
        # right-pad with token 0: causal attention never lets padding influence real positions
        idx = offsets[lo:hi, None] + pad_cols[None, :width]
        mask = pad_cols[None, :width] < n_tok[:, None]
        x_np = np.where(mask, tokens[np.minimum(idx, len(tokens) - 1)], 0).astype(np.int64)
        x = torch.from_numpy(x_np).to(device, non_blocking=True)
        # fp32 on every device: bits are a sum of tiny per-token losses, which bf16 would round
        logits = model(x[:, :-1])
        target = x[:, 1:]
        # fused log-softmax + gather: no (rows, T, V) log-probability tensor next to the logits
        flat = logits.float().reshape(-1, logits.size(-1))
        nll = F.cross_entropy(flat, target.reshape(-1), reduction="none").view(target.shape)
        miss = logits.argmax(-1) != target
        m = torch.from_numpy(mask[:, 1:]).to(device)
        loss[lo:hi, 1:width] = (nll * m).cpu().numpy()
        wrong[lo:hi, 1:width] = (miss & m).cpu().numpy()
    return loss, wrong


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
