"""Junk people (SCIENCE.md §1): bioS biographies of an unrelated population that fill a share of
the training tokens and carry no bits the model is measured on.

Junk names never equal a useful person's name, so junk can never contradict or reinforce a useful
fact. Two populations: a fixed one of M people stored with the dataset (M = 1000 is the paper's
*repetitive* junk), or, by default, fresh people drawn for every junk biography (the paper's
M = 100M, "never repeated"), generated on the fly from the seeds.
"""

from __future__ import annotations

import numpy as np

from kcap.knowledge.people import COL, FIELDS, field_sizes, name_codes
from kcap.knowledge.pools import Pools


def draw_junk_people(count: int, taken: np.ndarray, rng: np.random.Generator, pools: Pools,
                     distinct: bool) -> np.ndarray:
    """``count`` people with uniform attributes over the full pools and names not in ``taken``
    (sorted name codes). With ``distinct``, the junk names also differ from each other."""
    sizes = field_sizes(pools)
    out = np.empty((count, len(FIELDS)), np.uint16)
    filled = 0
    seen = np.empty(0, np.int64)
    while filled < count:
        need = count - filled
        cand = np.stack([rng.integers(0, sizes[f], size=need) for f in FIELDS[:3]], axis=1).astype(np.uint16)
        codes = name_codes(cand)
        pos = np.searchsorted(taken, codes)
        ok = (pos >= len(taken)) | (taken[np.minimum(pos, len(taken) - 1)] != codes)
        if distinct:
            _, first = np.unique(codes, return_index=True)
            unique_here = np.zeros(need, bool)
            unique_here[first] = True
            ok &= unique_here & ~np.isin(codes, seen)
            seen = np.concatenate([seen, codes[ok]])
        cand = cand[ok]
        out[filled:filled + len(cand), :3] = cand
        filled += len(cand)
    for f in FIELDS[3:]:
        out[:, COL[f]] = rng.integers(0, sizes[f], size=count)
    return out
