import math

import pytest

from kcap.kinds.bios.bits import ATTRIBUTE_SPACE, BIOS_ATTRIBUTE_CHOICES, bios_bits, bios_bits_max
from kcap.knowledge.people import NAME_SPACE


def test_spaces_match_science_md():
    assert NAME_SPACE == 400 * 400 * 1000
    assert ATTRIBUTE_SPACE == 2 * (12 * 28 * 200) * 200 * 300 * 100 * 263
    assert math.log2(ATTRIBUTE_SPACE) == pytest.approx(47.59, abs=0.005)
    assert math.log2(NAME_SPACE) == pytest.approx(27.25, abs=0.005)
    assert "working_city" not in BIOS_ATTRIBUTE_CHOICES  # determined by the employer: no bits


@pytest.mark.parametrize("n", [1, 7, 1000, 123_456])
def test_bits_max_formula(n):
    b = bios_bits_max(n)
    assert b["name"] == pytest.approx(n * math.log2(NAME_SPACE / n))
    assert b["values"] == pytest.approx(n * math.log2(ATTRIBUTE_SPACE))
    assert b["total"] == pytest.approx(b["name"] + b["values"])


def test_perfect_memorizer_reaches_bits_max():
    # probability 1 on every value (loss 0) and uniform over the N names (loss ln N)
    n = 1000
    bits = bios_bits(n, math.log(n), dict.fromkeys(BIOS_ATTRIBUTE_CHOICES, 0.0))
    assert bits["total"] == pytest.approx(bios_bits_max(n)["total"], rel=1e-12)


def test_uniform_over_pools_stores_nothing():
    n = 500
    losses = {a: math.log(c) for a, c in BIOS_ATTRIBUTE_CHOICES.items()}
    bits = bios_bits(n, math.log(NAME_SPACE), losses)
    assert bits["total"] == pytest.approx(0.0, abs=1e-6)
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in bits["attributes"].values())


def test_worse_than_uniform_is_negative_per_term():
    losses = {a: math.log(c) for a, c in BIOS_ATTRIBUTE_CHOICES.items()}
    losses["major"] += 1.0
    bits = bios_bits(10, math.log(NAME_SPACE), losses)
    assert bits["attributes"]["major"] == pytest.approx(-10 / math.log(2))
