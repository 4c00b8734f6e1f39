"""Random strings (Morris et al. 2025) information: bits_max, and the bits a model stores. The
single home of both formulas."""

from __future__ import annotations

import math

import numpy as np


def which_string_bits(sequences: np.ndarray) -> float:
    """Σ log2(N / c) over the N strings, c the number of times each occurs: what a perfect
    memorizer of the set still pays to tell which string comes next (N·log2 N when distinct)."""
    _, inverse, counts = np.unique(sequences, axis=0, return_inverse=True, return_counts=True)
    return float(np.log2(len(sequences) / counts[inverse.ravel()]).sum())


def random_bits_max(sequences: int, length: int, alphabet: int, which: float | None = None) -> dict[str, float]:
    """bits_max = H − which, H = N·S·log2 V (Morris et al.'s count of the strings' bits).

    The strings come in no order and carry no name, so no model can know which one follows a
    separator: the perfect memorizer pays ``which`` (``which_string_bits``; default N·log2 N, the
    strings distinct) and scores exactly bits_max, as bioS's name term N·log2(N0/N) leaves out
    which of the N people comes. ``h_morris`` keeps H for comparison with Morris et al."""
    h = sequences * length * math.log2(alphabet)
    total = h - (sequences * math.log2(sequences) if which is None else which)
    return {"values": total, "total": total, "h_morris": h}


def random_bits(sequences: int, length: int, alphabet: int, total_loss: float) -> dict:
    """Bits of N random strings stored: N·S·log2 V minus the model's total loss over all N·S
    symbols in bits (each sequence fed after a separator). A uniform model scores 0."""
    values = sequences * length * math.log2(alphabet) - total_loss / math.log(2)
    return {"total": values, "values": values}
