"""Random strings (Morris et al. 2025) information: H = N·S·log2 V, and the bits a model stores.
The single home of both formulas."""

from __future__ import annotations

import math


def random_bits_max(sequences: int, length: int, alphabet: int) -> dict[str, float]:
    """Random strings: H = N·S·log2 V."""
    total = sequences * length * math.log2(alphabet)
    return {"values": total, "total": total}


def random_bits(sequences: int, length: int, alphabet: int, total_loss: float) -> dict:
    """Bits of N random strings stored: N·S·log2 V minus the model's total loss over all N·S
    symbols in bits (each sequence fed after a separator). A uniform model scores 0."""
    values = sequences * length * math.log2(alphabet) - total_loss / math.log(2)
    return {"total": values, "values": values}
