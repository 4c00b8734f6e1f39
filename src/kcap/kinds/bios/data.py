"""bioS populations (SCIENCE.md §1): N people with distinct names and uniform random attributes.

A population is an (N, 11) uint16 array of pool indices (``kcap.knowledge.people``). Nothing here
renders text: ``render.py`` and ``stream.py`` turn people into token streams. The dataset directory holds
``people.npy``, ``tokenizer.json`` and ``dataset.json``; the same arguments give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kcap.atomic import file_sha256, make_dir, write_bytes, write_json
from kcap.errors import KcapError
from kcap.kinds.bios.bits import BIOS_ATTRIBUTE_CHOICES, attribute_bits, bios_bits_max
from kcap.kinds.bios.junk_people import draw_junk_people
from kcap.knowledge.datasets import (
    DATASET_FORMAT,
    DatasetDir,
    check_dataset_dir,
    check_out_dir,
    check_variant,
    load_array,
    save_array,
)
from kcap.knowledge.people import COL, FIELDS, NAME_SPACE, generate_people, name_codes, name_words
from kcap.knowledge.pools import DAYS, MONTHS, PRONOUNS, SENTENCE_ATTRIBUTES, YEARS, Pools, load_pools
from kcap.knowledge.tokenizer import DOMAIN, SEPARATOR, build_tokenizer, split_words

JUNK_POPULATION = 0x4A554E4B  # 'JUNK': RNG stream id of the fixed junk population


def value_strings(pools: Pools) -> dict[str, tuple[str, ...]]:
    """Text of every pool entry, by population field (working city is derived from employer)."""
    return {"first": pools.first_names, "middle": pools.middle_names, "last": pools.last_names,
            "month": MONTHS, "day": DAYS, "year": YEARS, "birth_city": pools.cities,
            "university": pools.universities, "major": pools.majors, "employer": pools.companies}


def used_words(people: np.ndarray, pools: Pools) -> set[str]:
    """Every token a population's biographies can contain (templates in full, values as used)."""
    words: set[str] = {SEPARATOR, ","}
    for attr in SENTENCE_ATTRIBUTES:
        for t in pools.templates[attr]:
            words.update(split_words(t.replace("{subject}", "").replace("{value}", "")
                                     .replace("{possessive}", "")))
    for g in np.unique(people[:, COL["gender"]]):  # only the pronouns of genders present
        words.update(forms[g] for forms in PRONOUNS.values())
    strings = value_strings(pools)
    for field, texts in strings.items():
        for i in np.unique(people[:, COL[field]]):
            words.update(split_words(texts[i]))
    for i in np.unique(people[:, COL["employer"]]):
        words.update(split_words(pools.cities[pools.company_city[i]]))
    return words


def all_words(pools: Pools) -> set[str]:
    """Every token any bioS biography can contain (every pool entry, both genders)."""
    everyone = np.zeros((1, len(FIELDS)), np.uint16)
    words = used_words(everyone, pools) | {w for forms in PRONOUNS.values() for w in forms}
    for texts in value_strings(pools).values():
        for t in texts:
            words.update(split_words(t))
    for c in pools.cities:
        words.update(split_words(c))
    return words


@dataclass(frozen=True)
class BioSDataset(DatasetDir):
    """A bioS dataset directory, loaded and checked."""

    path: Path
    meta: dict
    people: np.ndarray
    tokenizer_path: Path
    junk_people: np.ndarray | None = None  # the fixed junk population, if the dataset has one

    @property
    def junk(self) -> dict | None:
        """{"fraction": F, "people": M or None (fresh junk)} or None without junk."""
        j = self.meta.get("junk")
        return j if j and j["fraction"] > 0 else None

    @property
    def domain_token(self) -> bool:
        return bool(self.meta.get("domain_token", False))


def write_bios(out: Path, people: int, seed: int, variant: str = "multi", junk_fraction: float = 0.0,
               junk_people: int | None = None, domain_token: bool = False, overwrite: bool = False) -> dict:
    """Generate a bioS population and write its dataset directory; returns dataset.json's content.
    ``overwrite``: replace a dataset already in ``out`` (otherwise refused).

    ``junk_fraction`` F > 0 makes a share F of the training tokens junk biographies, of a fixed
    population of ``junk_people`` people stored here, or of fresh people (None). ``domain_token``
    prepends a special token to every useful biography. Junk carries no bits: bits_max is unchanged.
    """
    check_variant(variant)
    if not 0 <= junk_fraction < 1:
        raise KcapError(f"--junk-fraction must be in [0, 1), got {junk_fraction}")
    if junk_people is not None:
        if junk_fraction == 0:
            raise KcapError("--junk-people needs --junk-fraction > 0")
        if junk_people < 1:
            raise KcapError(f"--junk-people must be at least 1, got {junk_people}")
        if people + junk_people > NAME_SPACE:
            raise KcapError(f"--people + --junk-people exceed the {NAME_SPACE} distinct full names available")
    pools = load_pools()
    pop = generate_people(people, seed, pools)
    out = check_out_dir(out, overwrite)
    make_dir(out)
    # every file is written atomically, dataset.json last: a reader sees a complete dataset or none
    files = ["people.npy", "tokenizer.json"]
    save_array(out / "people.npy", pop)
    words = used_words(pop, pools)
    if junk_fraction > 0 and junk_people is None:  # fresh junk can use any pool entry
        words |= all_words(pools)
    elif junk_fraction > 0:
        rng = np.random.default_rng(np.random.SeedSequence([seed, JUNK_POPULATION]))
        junk = draw_junk_people(junk_people, np.sort(name_codes(pop)), rng, pools, distinct=True)
        save_array(out / "junk.npy", junk)
        files.append("junk.npy")
        words |= used_words(junk, pools)
    # the embedding rows that count as parameters: what the stream can emit (and the domain token)
    used_tokens = len(words) + int(domain_token)
    tok = build_tokenizer(words | name_words(pools), extra_specials=(DOMAIN,) if domain_token else ())
    write_bytes(out / "tokenizer.json", tok.to_str(pretty=True).encode())
    bits_max = bios_bits_max(people)
    meta = {
        "format": DATASET_FORMAT,
        "kind": "bioS",
        "variant": variant,
        "people": people,
        "seed": seed,
        "pool_version": pools.version,
        "fields": list(FIELDS),
        "vocab_size": tok.get_vocab_size(),
        "used_tokens": used_tokens,
        "name_space": NAME_SPACE,
        "attributes": {a: {"choices": c, "bits": b} for (a, c), b in
                       zip(BIOS_ATTRIBUTE_CHOICES.items(), attribute_bits().values())},
        "bits_per_person": sum(attribute_bits().values()),
        "bits_max": bits_max["total"],
        "bits_max_terms": {"name": bits_max["name"], "values": bits_max["values"]},
        "junk": {"fraction": junk_fraction, "people": junk_people} if junk_fraction > 0 else None,
        "domain_token": domain_token,
        "files": {name: file_sha256(out / name) for name in files},
    }
    write_json(out / "dataset.json", meta)
    return meta


def load_bios(path: Path, verify: bool = True) -> BioSDataset:
    """Load a bioS dataset directory, failing with one line if it is missing, partial or corrupted."""
    path, meta = check_dataset_dir(path, ("bioS",), verify)
    people = load_array(path / "people.npy", (meta["people"], len(FIELDS)))
    junk = None
    if (meta.get("junk") or {}).get("people"):
        junk = load_array(path / "junk.npy", (meta["junk"]["people"], len(FIELDS)))
    return BioSDataset(path=path, meta=meta, people=people, tokenizer_path=path / "tokenizer.json", junk_people=junk)


def heldout_people(people: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Up to ``count`` people who are not in ``people``: for a held-out loss of what is learnable
    beyond memorized facts (templates, the shape of names and values).

    Every field is drawn uniformly from the values the population itself uses, so every token of a
    held-out biography is in the dataset's vocabulary; full names never equal a population name.
    A tiny population may leave fewer than ``count`` new names (none for N = 1): fewer are returned.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x48454C44]))  # 'HELD'
    used = {f: np.unique(people[:, COL[f]]) for f in FIELDS}
    key = np.array([1 << 32, 1 << 16, 1])
    taken = set((people[:, :3].astype(np.int64) @ key).tolist())
    space = len(used["first"]) * len(used["middle"]) * len(used["last"])
    count = min(count, space - len(taken))
    if space <= 4 * (count + len(taken)):
        # few possible names: enumerate the free ones and pick without replacement
        grid = np.stack(np.meshgrid(used["first"], used["middle"], used["last"], indexing="ij"), -1).reshape(-1, 3)
        free = grid[[k not in taken for k in (grid.astype(np.int64) @ key).tolist()]]
        names = free[rng.choice(len(free), size=count, replace=False)]
    else:  # many: rejection sampling, rarely more than one pass
        names = np.empty((0, 3), np.int64)
        while len(names) < count:
            cand = np.stack([rng.choice(used[f], size=count) for f in FIELDS[:3]], axis=1).astype(np.int64)
            keep = [i for i, k in enumerate((cand @ key).tolist()) if k not in taken and not taken.add(k)]
            names = np.concatenate([names, cand[keep]])[:count]
    out = np.empty((count, len(FIELDS)), np.uint16)
    out[:, :3] = names
    for f in FIELDS[3:]:
        out[:, COL[f]] = rng.choice(used[f], size=count)
    return out
