"""Measure a model on its bioD population: p1 (name), p2' (each value), p3 (first chunks).

Each person is fed once, as ``[separator] biography`` with one fixed sentence order (the training
order for the simple variant). p3 groups first-chunk losses by (attribute, diversity string): the
loss of producing a string of the set, averaged over the people whose value starts with it, then
over the K·D strings. A string that is no value's first chunk has nothing to be measured on; it
counts as unknown (uniform loss L·ln T), so its diversity bits count as not stored.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from kcap.kinds.biod.bits import biod_bits
from kcap.kinds.biod.data import BioDDataset
from kcap.kinds.biod.stream import BioDAtlas, fixed_orders, render_biod
from kcap.measure.losses import span_sums, summary, token_losses


def measure_biod(model: torch.nn.Module, dataset: BioDDataset, params: dict, device: torch.device,
                 batch: int = 128, chunk: int = 8192) -> dict:
    spec = dataset.spec
    n, K, D, L = spec.people, spec.attributes, spec.diversity, spec.chunk_len
    atlas = BioDAtlas.build(dataset)
    orders = fixed_orders(dataset)
    name_loss = np.zeros(n)
    value_loss = np.zeros((n, K))
    value_ok = np.zeros((n, K), bool)
    first_loss = np.zeros((n, K))
    for lo in range(0, n, chunk):
        idx = np.arange(lo, min(lo + chunk, n))
        r = render_biod(atlas, dataset, idx, orders[idx], spans=True)
        loss, wrong = token_losses(model, r.tokens, r.offsets, device, batch)
        loss = loss.astype(np.float64)
        name_loss[idx] = span_sums(loss, r.name_span[:, 0], r.name_span[:, 1])
        for k in range(K):
            s, ln = r.value_spans[:, k, 0], r.value_spans[:, k, 1]
            value_loss[idx, k] = span_sums(loss, s, ln)
            value_ok[idx, k] = span_sums(wrong, s, ln) == 0
            first_loss[idx, k] = span_sums(loss, s, np.full_like(s, L))
    # p3: mean first-chunk loss per (attribute, string), then over all K·D strings
    key = (np.arange(K)[None, :] * D + dataset.values[:, :, 0].astype(np.int64)).ravel()
    count = np.bincount(key, minlength=K * D)
    total = np.bincount(key, weights=first_loss.ravel(), minlength=K * D)
    per_string = np.where(count > 0, total / np.maximum(count, 1), L * math.log(spec.alphabet))
    p1, p2, p3 = float(name_loss.mean()), float(value_loss.mean()), float(per_string.mean())
    bits = biod_bits(n, K, spec.chunks, D, L, spec.alphabet, p1, p2, p3)
    out = summary(n, params, bits, dataset.meta["bits_max"], dataset.meta["bits_max_terms"])
    out.update({
        "name_loss": p1, "value_loss": p2, "first_chunk_loss": p3,
        "strings_never_first": int((count == 0).sum()),
        "attributes": {f"attr{k}": {"loss": float(value_loss[:, k].mean()), "accuracy": float(value_ok[:, k].mean())}
                       for k in range(K)},
    })
    return out
