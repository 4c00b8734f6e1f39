"""Measure a model on its bioD population: p1 (name), p2' (each value), p3 (first chunks).

Each person is fed once, as ``[separator] biography`` with one fixed sentence order (the training
order for the simple variant). p3 groups first-chunk losses by (attribute, diversity string): the
loss of producing a string of the set, averaged over the people whose value starts with it, then
over the (attribute, string) pairs that start some value. A string that is no value's first chunk
is not in the data: it is neither measured nor in bits_max (``bits.py``), which this measurement
recomputes from the data, so datasets written before that rule are measured by it too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from kcap.corpus.gather import Rendered
from kcap.kinds.biod.bits import biod_bits
from kcap.kinds.biod.data import BioDDataset, first_chunk_keys
from kcap.kinds.biod.stream import BioDAtlas, fixed_orders, render_biod
from kcap.measure.losses import span_sums, summary, token_losses


def measured_documents(dataset: BioDDataset) -> Callable[[np.ndarray], Rendered]:
    """Each person's biography with one fixed sentence order (the training order for the simple
    variant), with spans, as a function of people indices."""
    atlas, orders = BioDAtlas.build(dataset), fixed_orders(dataset)
    return lambda idx: render_biod(atlas, dataset, idx, orders[idx], spans=True)


def measure_biod(model: torch.nn.Module, dataset: BioDDataset, params: dict, device: torch.device,
                 batch: int = 128, chunk: int = 8192, context: str = "previous") -> dict:
    spec = dataset.spec
    n, K, D, L = spec.people, spec.attributes, spec.diversity, spec.chunk_len
    documents = measured_documents(dataset)
    name_loss = np.zeros(n)
    value_loss = np.zeros((n, K))
    value_ok = np.zeros((n, K), bool)
    first_loss = np.zeros((n, K))
    for lo in range(0, n, chunk):
        idx = np.arange(lo, min(lo + chunk, n))
        r = documents(idx)
        loss, wrong = token_losses(model, r.tokens, r.offsets, device, batch, context)
        loss = loss.astype(np.float64)
        name_loss[idx] = span_sums(loss, r.name_span[:, 0], r.name_span[:, 1])
        for k in range(K):
            s, ln = r.value_spans[:, k, 0], r.value_spans[:, k, 1]
            value_loss[idx, k] = span_sums(loss, s, ln)
            value_ok[idx, k] = span_sums(wrong, s, ln) == 0
            first_loss[idx, k] = span_sums(loss, s, np.full_like(s, L))
    # p3: mean first-chunk loss per (attribute, string), then over the pairs that start some value
    key = first_chunk_keys(dataset.values, D).ravel()
    count = np.bincount(key, minlength=K * D)
    total = np.bincount(key, weights=first_loss.ravel(), minlength=K * D)
    seen = count > 0
    p1, p2, p3 = float(name_loss.mean()), float(value_loss.mean()), float((total[seen] / count[seen]).mean())
    observed = int(seen.sum())
    bits = biod_bits(n, K, spec.chunks, D, L, spec.alphabet, p1, p2, p3, observed)
    bmax = spec.bits_max(observed)  # from the data, so a dataset written before this rule agrees too
    out = summary(n, params, bits, bmax["total"], {k: v for k, v in bmax.items() if k != "total"})
    out.update({
        "name_loss": p1, "value_loss": p2, "first_chunk_loss": p3,
        "strings_never_first": K * D - observed,
        "attributes": {f"attr{k}": {"loss": float(value_loss[:, k].mean()), "accuracy": float(value_ok[:, k].mean())}
                       for k in range(K)},
    })
    return out
