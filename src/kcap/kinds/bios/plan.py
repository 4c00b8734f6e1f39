"""What a sweep plan needs of a bioS dataset before it exists: its spec options (junk) and an
estimate of its vocabulary and biography lengths, from the population itself up to
SAMPLE_PEOPLE people, else from a sample of that size."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kcap.kinds.base import SAMPLE_PEOPLE, Estimate
from kcap.knowledge.people import NAME_SPACE
from kcap.options import option


@dataclass(frozen=True)
class JunkOptions:
    """A sweep spec's ``data.junk`` (SCIENCE.md §1): a share of training tokens from an unrelated
    population."""

    fraction: float = option(0.0, "Share F of training tokens that are junk biographies.", lo=0, hi=1, hi_open=True)
    people: int | None = option(None, "A fixed junk population of M people (default: fresh people).", lo=1,
                                hi=NAME_SPACE)
    domain_token: bool = option(False, "Prepend a domain token to every useful biography.")


@lru_cache(maxsize=64)
def bios_stats(people: int, seed: int, full_vocab: bool) -> tuple[int, float, int]:
    """(vocabulary size, mean biography tokens, longest possible biography) of a bioS population.
    ``full_vocab``: the dataset's vocabulary holds every pool word (fresh junk people)."""
    from kcap.kinds.bios.data import all_words, used_words
    from kcap.kinds.bios.render import Atlas, bio_lengths, draw_choices
    from kcap.knowledge.people import generate_people
    from kcap.knowledge.pools import load_pools
    from kcap.knowledge.tokenizer import build_tokenizer

    pools = load_pools()
    pop = generate_people(min(people, SAMPLE_PEOPLE), seed, pools)
    words = used_words(pop, pools) | (all_words(pools) if full_vocab else set())
    vocab = build_tokenizer(words).get_vocab()
    atlas = Atlas.build(pools, vocab)
    templates, _ = draw_choices(np.random.default_rng(seed), len(pop), atlas.n_templates)
    return len(vocab), float(bio_lengths(atlas, pop, templates).mean()), atlas.max_bio_tokens()


def estimate_bios(d: dict) -> Estimate:
    junk = d.get("junk", {})
    fraction = junk.get("fraction", 0.0)
    vocab, mean_len, longest = bios_stats(d["people"], d["seed"], fraction > 0 and "people" not in junk)
    if "people" in junk:  # a fixed junk population adds its own words (as many as that many more people)
        vocab = bios_stats(d["people"] + junk["people"], d["seed"], False)[0]
    domain = int(bool(junk.get("domain_token")))
    return Estimate(vocab + domain, mean_len + domain, longest + domain, 1 - fraction)


def bios_tags(d: dict) -> list[str]:
    """Run-name tags: variant, junk and domain token (bioS multi without junk: none)."""
    tags = ["simple"] if d["variant"] == "simple" else []
    junk = d.get("junk", {})
    if junk.get("fraction"):
        tags.append(f"junk{junk['fraction']:g}" + (f"x{junk['people']}" if "people" in junk else ""))
    if junk.get("domain_token"):
        tags.append("domain")
    return tags


def people_for_bits(bits: float) -> float | None:
    """The N whose bioS bits_max(N) = N·log2(N0/N) + N·log2(S0) equals ``bits``; None past N = N0.

    bits_max(N) increases on (0, N0] (its derivative log2(N0/N) + log2(S0) - 1/ln 2 is positive),
    so the root is unique."""
    from scipy.optimize import brentq

    from kcap.kinds.bios.bits import bios_bits_max

    if bits <= 0:
        return 0.0
    if bios_bits_max(NAME_SPACE)["total"] < bits:
        return None
    return float(brentq(lambda n: bios_bits_max(n)["total"] - bits, 1e-9, NAME_SPACE, rtol=1e-12))


@functools.cache
def expected_bio_tokens() -> float:
    """Expected tokens of one bioS biography in kcap's word tokenizer (separator included), exactly.

    A biography's length is a sum of parts (as ``render.LengthTable`` splits it): the lead
    piece, a pronoun subject in all sentences but the first, the full name, every value, the
    employer's city, and the six templates' text. Each part is uniform over its pool (names are
    distinct, but first, middle and last are each still uniform; gender and templates are drawn
    uniformly), so the mean is the sum of per-pool means: no population and no files. Lengths come
    from the renderer's own atlas, so they count tokens exactly as the training stream does.
    """
    from kcap.kinds.bios.data import all_words
    from kcap.kinds.bios.render import N_ATTR, Atlas
    from kcap.knowledge.pools import load_pools
    from kcap.knowledge.tokenizer import SPECIAL_TOKENS

    pools = load_pools()
    # Lengths do not depend on token ids, only on words; a vocabulary of every word keeps <unk> out.
    words = SPECIAL_TOKENS + tuple(sorted(all_words(pools) - set(SPECIAL_TOKENS)))
    length = Atlas.build(pools, {w: i for i, w in enumerate(words)}).length
    lead = 1  # the separator (kcap's default bioS format has no domain token)
    pronouns = (N_ATTR - 1) * length["pronoun"].mean()
    values = sum(length[f].mean() for f in ("first", "middle", "last", "month", "day", "year", "birth_city",
                                            "university", "major", "employer", "working_city"))
    templates = (length["pre"] + length["post"]).mean(axis=(1, 2)).sum()  # per attribute, then all six
    return float(lead + pronouns + values + templates)
