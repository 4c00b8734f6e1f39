"""Measure a model on random strings: bits = N·S·log2 V - (total loss over all N·S symbols) / ln 2.

Each sequence is fed as ``[separator] s_1 .. s_S``, exactly as in the training stream, and every
symbol's loss is summed (the separator is context, not a target)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from kcap.corpus.gather import Rendered
from kcap.kinds.random_strings.bits import random_bits, random_bits_max, which_string_bits
from kcap.kinds.random_strings.data import RandomDataset
from kcap.kinds.random_strings.stream import render_sequences, symbol_tokens
from kcap.knowledge.tokenizer import SEPARATOR
from kcap.measure.losses import summary, token_losses


def measured_documents(dataset: RandomDataset) -> Callable[[np.ndarray], Rendered]:
    """Sequences ``[separator] s_1 .. s_S``, as in the training stream, as a function of indices."""
    sym, sep, width = symbol_tokens(dataset), dataset.vocab()[SEPARATOR], dataset.meta["length"] + 1
    return lambda idx: Rendered(render_sequences(dataset, sym, sep, idx).ravel(), np.arange(len(idx) + 1) * width)


def measure_random(model: torch.nn.Module, dataset: RandomDataset, params: dict, device: torch.device,
                   batch: int = 128, chunk: int = 8192, context: str = "previous") -> dict:
    n, S, V = dataset.n_people, dataset.meta["length"], dataset.meta["alphabet"]
    documents = measured_documents(dataset)
    total, right = 0.0, 0
    for lo in range(0, n, chunk):
        r = documents(np.arange(lo, min(lo + chunk, n)))
        loss, wrong = token_losses(model, r.tokens, r.offsets, device, batch, context)
        total += float(loss[:, 1:].astype(np.float64).sum())
        right += int((wrong[:, 1:] == 0).sum())
    bits = random_bits(n, S, V, total)
    # bits_max from the strings themselves, so a dataset written before it left out which string
    # comes (H = N·S·log2 V then) is measured by the same rule
    bmax = random_bits_max(n, S, V, which_string_bits(dataset.sequences))
    out = summary(n, params, bits, bmax["total"], {"values": bmax["values"]})
    out["h_morris"] = bmax["h_morris"]
    out.update({"value_loss": total / n, "symbol_accuracy": right / (n * S)})
    return out
