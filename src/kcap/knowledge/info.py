"""Exact information content of bioS (SCIENCE.md §1-2): the single home of bits_max.

A person's knowledge is a uniformly random choice from each attribute's pool, so each attribute
carries log2(choices) bits. The N distinct names, drawn from N0 possible ones, carry log2(N0/N)
bits each (which name set was drawn, per person). Measured bits live in ``kcap.measure.bits``.
"""

from __future__ import annotations

import math

from kcap.knowledge.pools import DAYS, MONTHS, YEARS, load_pools

_P = load_pools()

NAME_SPACE = len(_P.first_names) * len(_P.middle_names) * len(_P.last_names)  # N0 = 1.6e8

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


def biod_bits_max(people: int, attributes: int, chunks: int, diversity: int, chunk_len: int,
                  alphabet: int) -> dict[str, float]:
    """bioD(N, K, C, D, L, T) bits_max = N·log2(N0/N) + N·K·C·log2(D) + K·D·log2(T^L / D).

    Names as in bioS; each of the N·K values is C independent uniform draws from D strings; and
    each attribute's diversity set is D distinct strings of L tokens out of T^L, learnable once
    (log2 of T^L choose D, approximated as in the paper by D·log2(T^L/D))."""
    name = people * math.log2(NAME_SPACE / people)
    values = people * attributes * chunks * math.log2(diversity)
    div = attributes * diversity * (chunk_len * math.log2(alphabet) - math.log2(diversity))
    return {"name": name, "values": values, "diversity": div, "total": name + values + div}


def random_bits_max(sequences: int, length: int, alphabet: int) -> dict[str, float]:
    """Random strings (Morris et al. 2025): H = N·S·log2 V."""
    total = sequences * length * math.log2(alphabet)
    return {"values": total, "total": total}
