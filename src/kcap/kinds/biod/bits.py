"""bioD(N, K, C, D, L, T) information (SCIENCE.md §1-2): bits_max and the bits a model stores.
The single home of both bioD formulas."""

from __future__ import annotations

import math

from kcap.knowledge.people import NAME_SPACE


def biod_bits_max(people: int, attributes: int, chunks: int, diversity: int, chunk_len: int,
                  alphabet: int, observed: int | None = None) -> dict[str, float]:
    """bioD(N, K, C, D, L, T) bits_max = N·log2(N0/N) + N·K·C·log2(D) + K·D·log2(T^L / D).

    Names as in bioS; each of the N·K values is C independent uniform draws from D strings; and
    each attribute's diversity set is D distinct strings of L tokens out of T^L, learnable once
    (log2 of T^L choose D, approximated as in the paper by D·log2(T^L/D)).

    The diversity term counts only the ``observed`` (attribute, string) pairs that start some
    value (default: all K·D, as the paper assumes): a string no value uses is not in the data, so
    it can be neither in bits_max nor charged to a model (docs/datasets.md)."""
    observed = attributes * diversity if observed is None else observed
    name = people * math.log2(NAME_SPACE / people)
    values = people * attributes * chunks * math.log2(diversity)
    div = observed * (chunk_len * math.log2(alphabet) - math.log2(diversity))
    return {"name": name, "values": values, "diversity": div, "total": name + values + div}


def biod_bits(people: int, attributes: int, chunks: int, diversity: int, chunk_len: int, alphabet: int,
              p1: float, p2: float, p3: float, observed: int | None = None) -> dict:
    """Bits of a bioD population that a model stores (SCIENCE.md §2), from mean summed losses (nats):

        N·log2(N0/e^p1) + N·K·log2(D^C/e^p2') + K·D·log2(T^L/(D·e^p3))

    p1: the name; p2': one value (per person and attribute); p3: the first chunk of a value, per
    (attribute, diversity string), averaged over the ``observed`` pairs that start some value,
    which take the place of K·D as in ``biod_bits_max``. Terms: name, values, diversity."""
    observed = attributes * diversity if observed is None else observed
    ln2 = math.log(2)
    name = people * (math.log2(NAME_SPACE) - p1 / ln2)
    values = people * attributes * (chunks * math.log2(diversity) - p2 / ln2)
    div = observed * (chunk_len * math.log2(alphabet) - math.log2(diversity) - p3 / ln2)
    return {"total": name + values + div, "name": name, "values": values, "diversity": div}
