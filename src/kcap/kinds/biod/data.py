"""bioD(N, K, C, D, L, T) populations (SCIENCE.md §1): the knowledge dial of the paper.

N people with distinct full names (drawn exactly as bioS names); K attributes; a token alphabet of
T symbols; attribute k has a *diversity set* of D distinct random strings of L symbols; each value
is C chunks, each drawn uniformly from its attribute's set. Files:

    people.npy     (N, 3) uint16 name pool indices (first, middle, last)
    values.npy     (N, K, C) index into the attribute's diversity set
    diversity.npy  (K, D, L) symbol ids in [0, T)

A biography is one paragraph with a fixed template, ``<name> attrK : v v v . attrJ : v v .``, its
K sentences in random order (rendered afresh for every exposure in the multi variant, once in the
simple variant). Nothing here renders text: ``stream.py`` does.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass
from pathlib import Path

import numpy as np

from kcap.atomic import file_sha256, make_dir, write_bytes, write_json
from kcap.errors import KcapError
from kcap.kinds.biod.bits import biod_bits_max
from kcap.knowledge.datasets import (
    DATASET_FORMAT,
    DatasetDir,
    check_dataset_dir,
    check_out_dir,
    check_variant,
    load_array,
    save_array,
)
from kcap.knowledge.people import NAME_SPACE, generate_people, name_words
from kcap.knowledge.pools import load_pools
from kcap.knowledge.tokenizer import SEPARATOR, build_tokenizer, split_words
from kcap.options import option

MAX_ALPHABET = 1 << 16
MAX_DIVERSITY_TOKENS = 1 << 26  # K·D·L symbols held in memory
MAX_VALUES = 1 << 31  # N·K·C chunk indices held in memory


def symbol(t: int) -> str:
    return f"v{t}"


def attribute_word(k: int) -> str:
    return f"attr{k}"


@dataclass(frozen=True)
class BioDParams:
    people: int
    """N: people, with distinct full names (at most N0 = 1.6e8)."""
    attributes: int = option(MISSING, "K: attributes per person.", lo=1)
    chunks: int = option(MISSING, "C: chunks per value, each drawn uniformly from the diversity set.", lo=1)
    diversity: int = option(MISSING, "D: distinct strings in each attribute's diversity set.", lo=1)
    chunk_len: int = option(MISSING, "L: symbols per chunk.", lo=1)
    alphabet: int = option(MISSING, "T: symbols in the alphabet.", lo=2, hi=MAX_ALPHABET)

    def __post_init__(self):
        for name in ("people", "attributes", "chunks", "diversity", "chunk_len"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise KcapError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}")
        if not isinstance(self.alphabet, int) or not 2 <= self.alphabet <= MAX_ALPHABET:
            raise KcapError(f"--alphabet must be between 2 and {MAX_ALPHABET}, got {self.alphabet!r}")
        if self.people > NAME_SPACE:
            raise KcapError(f"--people {self.people} exceeds the {NAME_SPACE} distinct full names available")
        if self.chunk_len * math.log2(self.alphabet) < 62 and self.diversity > self.alphabet ** self.chunk_len:
            raise KcapError(f"--diversity {self.diversity} exceeds the T^L = {self.alphabet}^{self.chunk_len} = "
                            f"{self.alphabet ** self.chunk_len} distinct strings of --chunk-len symbols")
        if self.attributes * self.diversity * self.chunk_len > MAX_DIVERSITY_TOKENS:
            raise KcapError(f"--attributes x --diversity x --chunk-len = {self.attributes * self.diversity * self.chunk_len}"
                            f" diversity symbols is more than kcap holds ({MAX_DIVERSITY_TOKENS})")
        if self.people * self.attributes * self.chunks > MAX_VALUES:
            raise KcapError(f"--people x --attributes x --chunks = {self.people * self.attributes * self.chunks} value "
                            f"chunks is more than kcap holds ({MAX_VALUES})")

    def bits_max(self, observed: int | None = None) -> dict[str, float]:
        """bits_max, its diversity term over the ``observed`` (attribute, string) pairs that start
        a value (default: all K·D, the paper's formula)."""
        return biod_bits_max(self.people, self.attributes, self.chunks, self.diversity, self.chunk_len,
                             self.alphabet, observed)


def _distinct_strings(rng: np.random.Generator, d: int, t: int, length: int) -> np.ndarray:
    """``d`` distinct uniformly random strings of ``length`` symbols out of ``t`` (as a (d, L) array)."""
    if length * math.log2(t) < 62:
        space = t ** length  # index the whole space: exact sampling without replacement
        idx = rng.choice(space, size=d, replace=False)
        digits = t ** np.arange(length - 1, -1, -1, dtype=np.int64)
        return ((idx[:, None] // digits[None, :]) % t).astype(np.int32)
    out = np.empty((0, length), np.int32)  # a huge space: collisions are vanishingly rare
    while len(out) < d:
        cand = rng.integers(0, t, size=(d - len(out), length), dtype=np.int32)
        out = np.unique(np.concatenate([out, cand]), axis=0)
    return rng.permutation(out[:d]) if len(out) > d else rng.permutation(out)


def first_chunk_keys(values: np.ndarray, diversity: int) -> np.ndarray:
    """(N, K) index of the (attribute, diversity string) pair that starts each value: k·D + string."""
    return np.arange(values.shape[1])[None, :] * diversity + values[:, :, 0].astype(np.int64)


def observed_first_chunks(values: np.ndarray, diversity: int) -> int:
    """How many (attribute, diversity string) pairs start at least one value: the strings of the
    diversity sets that the data shows as first chunks (the others are not in the data)."""
    return len(np.unique(first_chunk_keys(values, diversity)))


def generate_biod(spec: BioDParams, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(people names, values, diversity sets) of a bioD population; same spec and seed, same arrays."""
    names = generate_people(spec.people, seed)[:, :3].copy()  # the bioS name draw, unchanged
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x62696F44]))  # 'bioD'
    diversity = np.stack([_distinct_strings(rng, spec.diversity, spec.alphabet, spec.chunk_len)
                          for _ in range(spec.attributes)])
    dtype = np.uint16 if spec.diversity <= 1 << 16 else np.uint32
    values = rng.integers(0, spec.diversity, size=(spec.people, spec.attributes, spec.chunks)).astype(dtype)
    return names, values, diversity.astype(np.int32)


@dataclass(frozen=True)
class BioDDataset(DatasetDir):
    path: Path
    meta: dict
    people: np.ndarray  # (N, 3) names
    values: np.ndarray  # (N, K, C)
    diversity: np.ndarray  # (K, D, L)
    tokenizer_path: Path

    @property
    def spec(self) -> BioDParams:
        return BioDParams(**self.meta["spec"])


def write_biod(out: Path, spec: BioDParams, seed: int, variant: str = "multi", overwrite: bool = False) -> dict:
    """Generate a bioD population and write its dataset directory; returns dataset.json's content.
    ``overwrite``: replace a dataset already in ``out`` (otherwise refused)."""
    check_variant(variant)
    out = check_out_dir(out, overwrite)
    names, values, diversity = generate_biod(spec, seed)
    make_dir(out)
    pools = load_pools()
    words = {SEPARATOR, ":", ".", *(attribute_word(k) for k in range(spec.attributes))}
    used = diversity[np.arange(spec.attributes)[:, None, None], values.transpose(1, 0, 2)]  # (K, N, C, L)
    words |= {symbol(t) for t in np.unique(used).tolist()}
    for col, pool in enumerate((pools.first_names, pools.middle_names, pools.last_names)):
        for i in np.unique(names[:, col]).tolist():
            words.update(split_words(pool[i]))
    used_tokens = len(words)  # what the stream emits: the embedding rows that count as parameters
    # The vocabulary holds the whole alphabet and every pool name, used or not: a model restricted
    # to the symbols and names that occur would beat log2 T and log2 N0 knowing nothing (the bound
    # would count the vocabulary as stored knowledge; docs/datasets.md).
    words |= {symbol(t) for t in range(spec.alphabet)} | name_words(pools)
    files = ("people.npy", "values.npy", "diversity.npy", "tokenizer.json")
    save_array(out / "people.npy", names)
    save_array(out / "values.npy", values)
    save_array(out / "diversity.npy", diversity)
    tok = build_tokenizer(words)
    write_bytes(out / "tokenizer.json", tok.to_str(pretty=True).encode())
    bits = spec.bits_max(observed_first_chunks(values, spec.diversity))
    meta = {
        "format": DATASET_FORMAT, "kind": "bioD", "variant": variant, "people": spec.people, "seed": seed,
        "pool_version": pools.version, "spec": asdict(spec), "vocab_size": tok.get_vocab_size(),
        "used_tokens": used_tokens,
        "name_space": NAME_SPACE, "bits_max": bits["total"],
        "bits_max_terms": {k: v for k, v in bits.items() if k != "total"},
        "files": {name: file_sha256(out / name) for name in files},
    }
    write_json(out / "dataset.json", meta)
    return meta


def load_biod(path: Path, verify: bool = True) -> BioDDataset:
    path, meta = check_dataset_dir(path, ("bioD",), verify)
    try:
        spec = BioDParams(**meta["spec"])
    except (KeyError, TypeError) as e:
        raise KcapError(f"{path / 'dataset.json'}: bad bioD spec ({e})") from None
    n, k, c = spec.people, spec.attributes, spec.chunks
    return BioDDataset(path=path, meta=meta, people=load_array(path / "people.npy", (n, 3)),
                       values=load_array(path / "values.npy", (n, k, c)),
                       diversity=load_array(path / "diversity.npy", (k, spec.diversity, spec.chunk_len)),
                       tokenizer_path=path / "tokenizer.json")
