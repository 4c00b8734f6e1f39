"""What a sweep plan needs of a bioD dataset before it exists: vocabulary and biography lengths,
from the names of the population (sampled above SAMPLE_PEOPLE) and the bioD shape."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from kcap.kinds.base import SAMPLE_PEOPLE, Estimate


@lru_cache(maxsize=64)
def name_stats(people: int, seed: int) -> tuple[int, float, int]:
    """(distinct name words, mean and longest full-name tokens) of a population's names (sampled)."""
    from kcap.knowledge.people import generate_people
    from kcap.knowledge.pools import load_pools
    from kcap.knowledge.tokenizer import split_words

    pools = load_pools()
    pop = generate_people(min(people, SAMPLE_PEOPLE), seed, pools)
    tables = (pools.first_names, pools.middle_names, pools.last_names)
    lens = [np.array([len(split_words(t)) for t in table]) for table in tables]
    words = {w for j, table in enumerate(tables) for i in np.unique(pop[:, j]).tolist() for w in split_words(table[i])}
    mean = float(sum(lens[j][pop[:, j].astype(np.int64)].mean() for j in range(3)))
    return len(words), mean, int(sum(x.max() for x in lens))


def estimate_biod(d: dict) -> Estimate:
    b = d["biod"]
    words, mean_name, max_name = name_stats(d["people"], d["seed"])
    sentences = b["attributes"] * (b["chunks"] * b["chunk_len"] + 3)  # "attr : value ." per attribute
    symbols = min(b["alphabet"], b["attributes"] * b["diversity"] * b["chunk_len"])
    vocab = 2 + 2 + b["attributes"] + symbols + words  # specials, ":" ".", attribute words
    return Estimate(vocab, 1 + mean_name + sentences, 1 + max_name + sentences)
