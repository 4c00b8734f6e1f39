"""Bits stored from measured losses (SCIENCE.md §2): the single home of the measured-bits formula.

Losses are natural-log cross-entropies summed over a span's tokens, averaged over people:

    bits = N·log2(N0 / e^p1) + N·log2(S0 / e^p2),  p2 = sum over attributes of their mean loss

split into a name term and one term per attribute, N·(log2(choices_a) - loss_a / ln 2). A model
uniform over the pools scores 0; a perfect memorizer scores bits_max; worse than uniform is negative.
"""

from __future__ import annotations

import math

from kcap.knowledge.info import BIOS_ATTRIBUTE_CHOICES, NAME_SPACE


def bios_bits(people: int, name_loss: float, attribute_loss: dict[str, float]) -> dict:
    """Bits of a bioS population that a model stores, given mean summed losses (nats)."""
    ln2 = math.log(2)
    name = people * (math.log2(NAME_SPACE) - name_loss / ln2)
    per_attr = {a: people * (math.log2(BIOS_ATTRIBUTE_CHOICES[a]) - attribute_loss[a] / ln2)
                for a in BIOS_ATTRIBUTE_CHOICES}
    values = sum(per_attr.values())
    return {"total": name + values, "name": name, "values": values, "attributes": per_attr}


def biod_bits(people: int, attributes: int, chunks: int, diversity: int, chunk_len: int, alphabet: int,
              p1: float, p2: float, p3: float) -> dict:
    """Bits of a bioD population that a model stores (SCIENCE.md §2), from mean summed losses (nats):

        N·log2(N0/e^p1) + N·K·log2(D^C/e^p2') + K·D·log2(T^L/(D·e^p3))

    p1: the name; p2': one value (per person and attribute); p3: the first chunk of a value, per
    (attribute, diversity string). Terms: name, values, diversity."""
    ln2 = math.log(2)
    name = people * (math.log2(NAME_SPACE) - p1 / ln2)
    values = people * attributes * (chunks * math.log2(diversity) - p2 / ln2)
    div = attributes * diversity * (chunk_len * math.log2(alphabet) - math.log2(diversity) - p3 / ln2)
    return {"total": name + values + div, "name": name, "values": values, "diversity": div}


def random_bits(sequences: int, length: int, alphabet: int, total_loss: float) -> dict:
    """Bits of N random strings stored: N·S·log2 V minus the model's total loss over all N·S
    symbols in bits (each sequence fed after a separator). A uniform model scores 0."""
    values = sequences * length * math.log2(alphabet) - total_loss / math.log(2)
    return {"total": values, "values": values}
