"""Random strings (Morris et al. 2025): N sequences of S symbols drawn uniformly from V.

H = N·S·log2 V bits (``bits.py``). In the stream each sequence is
preceded by the separator, like a biography; ``sequences.npy`` is (N, S) symbol ids in [0, V).
Sequences are not required to be distinct: with V^S possible strings, repeats are negligible
for any useful S, and the bound counts N·S independent uniform symbols either way.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from pathlib import Path

import numpy as np

from kcap.atomic import file_sha256, make_dir, write_bytes, write_json
from kcap.errors import KcapError
from kcap.kinds.random_strings.bits import random_bits_max, which_string_bits
from kcap.knowledge.datasets import DATASET_FORMAT, DatasetDir, check_dataset_dir, check_out_dir, load_array, save_array
from kcap.knowledge.tokenizer import build_tokenizer
from kcap.options import option

MAX_ALPHABET = 1 << 16
MAX_TOKENS = 1 << 31


def symbol(v: int) -> str:
    return f"s{v}"


@dataclass(frozen=True)
class RandomDataset(DatasetDir):
    """Sequences play the role of people (paper defaults by N, exposures per sequence)."""

    path: Path
    meta: dict
    sequences: np.ndarray  # (N, S)
    tokenizer_path: Path
    variant = "plain"


@dataclass(frozen=True)
class RandomShape:
    """A sweep spec's ``data.random``: N (``people``) sequences of S symbols from V."""

    length: int = option(MISSING, "S: symbols per sequence.", lo=1)
    alphabet: int = option(MISSING, "V: symbols in the alphabet.", lo=2, hi=MAX_ALPHABET)


def check_random_args(sequences: int, length: int, alphabet: int) -> None:
    for name, v in (("sequences", sequences), ("length", length)):
        if not isinstance(v, int) or v < 1:
            raise KcapError(f"--{name} must be a positive integer, got {v!r}")
    if not isinstance(alphabet, int) or not 2 <= alphabet <= MAX_ALPHABET:
        raise KcapError(f"--alphabet must be between 2 and {MAX_ALPHABET}, got {alphabet!r}")
    if sequences * length > MAX_TOKENS:
        raise KcapError(f"--sequences x --length = {sequences * length} tokens is more than kcap holds ({MAX_TOKENS})")


def write_random(out: Path, sequences: int, length: int, alphabet: int, seed: int, overwrite: bool = False) -> dict:
    """Generate N random strings and write their dataset directory; ``overwrite``: replace a
    dataset already in ``out`` (otherwise refused). Returns dataset.json's content."""
    check_random_args(sequences, length, alphabet)
    out = check_out_dir(out, overwrite)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x524E44]))  # 'RND'
    dtype = np.uint16 if alphabet <= 1 << 16 else np.uint32
    seqs = rng.integers(0, alphabet, size=(sequences, length)).astype(dtype)
    bits = random_bits_max(sequences, length, alphabet, which_string_bits(seqs))
    if bits["total"] <= 1e-9:  # checked before anything is written
        raise KcapError(f"--sequences {sequences} strings of --length {length} over --alphabet {alphabet} hold no "
                        "knowledge beyond their order (bits_max 0): use longer strings or a larger alphabet")
    make_dir(out)
    save_array(out / "sequences.npy", seqs)
    # The vocabulary holds the whole alphabet, used or not: a model restricted to the symbols that
    # occur would beat log2 V knowing nothing, and the bound would count that as stored knowledge.
    tok = build_tokenizer(symbol(v) for v in range(alphabet))
    write_bytes(out / "tokenizer.json", tok.to_str(pretty=True).encode())
    meta = {"format": DATASET_FORMAT, "kind": "random", "variant": "plain", "sequences": sequences,
            "people": sequences, "length": length, "alphabet": alphabet, "seed": seed,
            "vocab_size": tok.get_vocab_size(), "used_tokens": len(np.unique(seqs)) + 1,  # + the separator
            "bits_max": bits["total"],
            "bits_max_terms": {"values": bits["values"]}, "h_morris": bits["h_morris"],
            "files": {n: file_sha256(out / n) for n in ("sequences.npy", "tokenizer.json")}}
    write_json(out / "dataset.json", meta)
    return meta


def load_random(path: Path, verify: bool = True) -> RandomDataset:
    path, meta = check_dataset_dir(path, ("random",), verify)
    seqs = load_array(path / "sequences.npy", (meta["sequences"], meta["length"]))
    return RandomDataset(path=path, meta=meta, sequences=seqs, tokenizer_path=path / "tokenizer.json")
