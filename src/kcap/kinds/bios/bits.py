"""bioS information (SCIENCE.md §1-2): the most bits a population holds, and the bits a model
stores given its measured losses. The single home of both bioS formulas.

A person's knowledge is a uniformly random choice from each attribute's pool, so each attribute
carries log2(choices) bits. The N distinct names, drawn from N0 possible ones, carry log2(N0/N)
bits each (which name set was drawn, per person).

Measured losses are natural-log cross-entropies summed over a span's tokens, averaged over people:

    bits = N·log2(N0 / e^p1) + N·log2(S0 / e^p2),  p2 = sum over attributes of their mean loss

split into a name term and one term per attribute, N·(log2(choices_a) - loss_a / ln 2). A model
uniform over the pools scores 0; a perfect memorizer scores bits_max; worse than uniform is negative.
"""

from __future__ import annotations

import math

from kcap.knowledge.people import NAME_SPACE
from kcap.knowledge.pools import DAYS, MONTHS, YEARS, load_pools

_P = load_pools()

# Attributes that carry bits, and how many equally likely values each has. working_city is
# determined by the employer, so it carries none and is not listed.
BIOS_ATTRIBUTE_CHOICES: dict[str, int] = {
    "birth_date": len(MONTHS) * len(DAYS) * len(YEARS),
    "birth_city": len(_P.cities),
    "university": len(_P.universities),
    "major": len(_P.majors),
    "employer": len(_P.companies),
    "gender": 2,
}

# S0 = 2 * (12*28*200) * 200 * 300 * 100 * 263; log2 S0 ~ 47.59 bits per person
ATTRIBUTE_SPACE = math.prod(BIOS_ATTRIBUTE_CHOICES.values())


def attribute_bits() -> dict[str, float]:
    """Bits carried by each bit-carrying attribute of one person."""
    return {a: math.log2(c) for a, c in BIOS_ATTRIBUTE_CHOICES.items()}


def bios_bits_max(people: int) -> dict[str, float]:
    """The most bits a model can store about a bioS population of ``people`` distinct people.

    bits_max = N·log2(N0/N) + N·log2(S0), returned with its two terms.
    """
    name = people * math.log2(NAME_SPACE / people)
    values = people * math.log2(ATTRIBUTE_SPACE)
    return {"name": name, "values": values, "total": name + values}


def bios_bits(people: int, name_loss: float, attribute_loss: dict[str, float]) -> dict:
    """Bits of a bioS population that a model stores, given mean summed losses (nats)."""
    ln2 = math.log(2)
    name = people * (math.log2(NAME_SPACE) - name_loss / ln2)
    per_attr = {a: people * (math.log2(BIOS_ATTRIBUTE_CHOICES[a]) - attribute_loss[a] / ln2)
                for a in BIOS_ATTRIBUTE_CHOICES}
    values = sum(per_attr.values())
    return {"total": name + values, "name": name, "values": values, "attributes": per_attr}
