"""People as every name-based kind draws them (SCIENCE.md §1): distinct full names from the pools,
and independent uniform attributes.

A population is an (N, 11) uint16 array of pool indices, one column per field below. bioS uses
every column; bioD keeps the names (its own attributes are drawn separately); junk people are
drawn with the same columns. Nothing here renders text.
"""

from __future__ import annotations

import numpy as np

from kcap.errors import KcapError
from kcap.knowledge.pools import DAYS, MONTHS, YEARS, Pools, load_pools
from kcap.knowledge.tokenizer import split_words

_P = load_pools()
NAME_SPACE = len(_P.first_names) * len(_P.middle_names) * len(_P.last_names)  # N0 = 1.6e8

FIELDS = ("first", "middle", "last", "month", "day", "year",
          "birth_city", "university", "major", "employer", "gender")
COL = {f: i for i, f in enumerate(FIELDS)}


def field_sizes(pools: Pools) -> dict[str, int]:
    return {"first": len(pools.first_names), "middle": len(pools.middle_names),
            "last": len(pools.last_names), "month": len(MONTHS), "day": len(DAYS),
            "year": len(YEARS), "birth_city": len(pools.cities),
            "university": len(pools.universities), "major": len(pools.majors),
            "employer": len(pools.companies), "gender": 2}


def generate_people(people: int, seed: int, pools: Pools | None = None) -> np.ndarray:
    """Draw ``people`` persons with distinct full names and independent uniform attributes."""
    pools = pools or load_pools()
    sizes = field_sizes(pools)
    if people < 1:
        raise KcapError(f"--people must be at least 1, got {people}")
    if seed < 0:
        raise KcapError(f"--seed must be non-negative, got {seed}")
    if people > NAME_SPACE:
        raise KcapError(f"--people {people} exceeds the {NAME_SPACE} distinct full names available")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6B636170]))  # 'kcap'
    out = np.empty((people, len(FIELDS)), dtype=np.uint16)
    # Distinct names: sample name indices without replacement from the N0 = 400*400*1000 space,
    # then decode each index into (first, middle, last).
    name_idx = rng.choice(NAME_SPACE, size=people, replace=False)
    mid_last = sizes["middle"] * sizes["last"]
    out[:, COL["first"]] = name_idx // mid_last
    out[:, COL["middle"]] = (name_idx // sizes["last"]) % sizes["middle"]
    out[:, COL["last"]] = name_idx % sizes["last"]
    for f in FIELDS[3:]:
        out[:, COL[f]] = rng.integers(0, sizes[f], size=people, dtype=np.uint16)
    return out


def name_words(pools: Pools) -> set[str]:
    """Every word of every first, middle and last name in the pools.

    A name-based dataset's vocabulary holds them all, not only the names its people use: a model
    restricted to the used names would predict a name better than uniform over the N0 possible
    ones without knowing anything about the people, and the bound would count that as stored
    knowledge (docs/datasets.md, "What a model that knows nothing scores")."""
    return {w for pool in (pools.first_names, pools.middle_names, pools.last_names) for t in pool
            for w in split_words(t)}


def name_codes(people: np.ndarray) -> np.ndarray:
    """One int64 per person identifying the full name (first, middle, last pool indices)."""
    p = people[:, :3].astype(np.int64)
    return (p[:, 0] << 32) | (p[:, 1] << 16) | p[:, 2]
