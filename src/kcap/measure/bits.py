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
