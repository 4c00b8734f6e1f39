"""The bioS training stream: exactly E exposures of every person, rendered on the fly, cut into windows.

Round r of E is one exposure of everyone: a fresh random permutation of the people (or, with a
popularity law, N draws from it: ``kcap.corpus.popularity``), each biography
rendered anew (bioS multi + permute) or taken as its one fixed rendering (bioS simple). Rounds are
concatenated, each biography preceded by the separator, and cut into windows of ``seq`` inputs
whose targets are the next ``seq`` tokens, so every token after the first is predicted exactly once.

Memory grows with N (the people and one chunk of rendered text), never with N x exposures.
Everything is a pure function of (dataset seed, training seed): the same seeds give the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from kcap.corpus.popularity import Popularity
from kcap.corpus.windows import CHUNK_PEOPLE, FIXED_STREAM, WindowedStream, n_windows, windows
from kcap.kinds.bios.data import BioSDataset, heldout_people
from kcap.kinds.bios.render import Atlas, LengthTable, draw_choices, draw_templates, render
from kcap.knowledge.pools import load_pools

_HELDOUT_STREAM = 0x48_4F  # RNG stream id of held-out renderings


def fixed_choices(dataset: BioSDataset, atlas: Atlas) -> tuple[np.ndarray, np.ndarray]:
    """The one rendering per person used by bioS simple training and by measurement.

    The employer always comes before the working city here (see ``draw_choices``).
    """
    rng = np.random.default_rng(np.random.SeedSequence([dataset.seed, FIXED_STREAM]))
    return draw_choices(rng, dataset.n_people, atlas.n_templates, employer_first=True)


@dataclass
class BioStream(WindowedStream):
    """E exposures of a bioS dataset as a deterministic sequence of token chunks."""

    dataset: BioSDataset
    exposures: int
    seed: int = 0
    popularity: float = 0.0
    """Zipf exponent of people's popularity (``kcap.corpus.popularity``; 0: every person once a round)."""
    atlas: Atlas = field(init=False)
    _fixed: tuple[np.ndarray, np.ndarray] | None = field(init=False, default=None)

    def __post_init__(self):
        self._pop = Popularity(len(self.dataset.people), self.popularity)
        self.atlas = Atlas.build(load_pools(self.dataset.meta["pool_version"]), self.dataset.vocab(),
                                 domain=self.dataset.domain_token)
        if self.dataset.variant == "simple":
            self._fixed = fixed_choices(self.dataset, self.atlas)

    def _round(self, r: int, lengths_only: bool = False, first_chunk: int = 0) -> Iterator[np.ndarray]:
        people = self.dataset.people
        n = len(people)
        perm = self._pop.round(self._round_rng(r))
        for c, lo in enumerate(range(0, n, CHUNK_PEOPLE)):
            if c < first_chunk:  # every chunk has its own RNG stream, so skipping one changes nothing after it
                continue
            idx = perm[lo:lo + CHUNK_PEOPLE]
            if self._fixed is not None:
                templates, order = self._fixed[0][idx], self._fixed[1][idx]
            elif not lengths_only:
                templates, order = draw_choices(self._round_rng(r, c), len(idx), self.atlas.n_templates)
            if lengths_only:  # the templates' draw alone, then two gathers: no segments, no orders
                if self._fixed is None:
                    templates = draw_templates(self._round_rng(r, c), len(idx), self.atlas.n_templates)
                yield self._length_table.lengths(idx, templates)
            else:
                yield render(self.atlas, people[idx], templates, order).tokens

    def chunks(self, start: int = 0) -> Iterator[np.ndarray]:
        """Token chunks (int32) of the stream from token ``start`` on, in order.

        Resuming deep into a run must not re-render everything before it: whole rounds and chunks
        before ``start`` are skipped by their lengths alone (as cheap as ``total_tokens``), and only
        the chunk holding token ``start`` is rendered and cut.
        """
        for r in range(self.exposures):
            if start == 0:
                yield from self._round(r)
                continue
            for c, n in enumerate(int(ch.sum()) for ch in self._round(r, lengths_only=True)):
                if start >= n:
                    start -= n
                    continue
                rest = self._round(r, first_chunk=c)
                yield next(rest)[start:]
                start = 0
                yield from rest
                break

    def used_tokens(self) -> int:
        """Vocabulary entries the stream can contain: the embedding rows that count as parameters.

        dataset.json counts them (the vocabulary also holds every name of the pools, which the
        stream never emits, and <unk>); a dataset from before that count holds only what its
        biographies can emit, plus <unk>. bioS simple emits only the words of its fixed
        renderings, counted exactly."""
        vocab = self.dataset.vocab()
        if self._fixed is None or self.dataset.junk:  # junk may emit any entry junk people use
            return self.dataset.meta.get("used_tokens", len(vocab) - 1)
        seen = np.zeros(len(vocab), bool)
        people, n = self.dataset.people, len(self.dataset.people)
        for lo in range(0, n, CHUNK_PEOPLE):
            idx = np.arange(lo, min(lo + CHUNK_PEOPLE, n))
            seen[np.unique(render(self.atlas, people[idx], self._fixed[0][idx], self._fixed[1][idx]).tokens)] = True
        return int(seen.sum())

    def doc_lengths(self) -> np.ndarray:
        """Tokens of each biography of one exposure round (separator and domain token included)."""
        return np.concatenate(list(self._round(0, lengths_only=True)))

    @property
    def pad(self) -> int:
        """Input id of padding positions (their targets are -1, ignored by the loss)."""
        return int(self.atlas.tokens[self.atlas.sep])

    def max_doc_tokens(self) -> int:
        """An upper bound on a biography's length: a training window must hold a whole one."""
        return self.atlas.max_bio_tokens()

    def n_windows(self, seq: int) -> int:
        return n_windows(self.total_tokens(), seq)

    def batches(self, seq: int, batch: int, start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Training batches (inputs, targets) of ``batch`` windows, the last one possibly short,
        from batch ``start`` on: batch k begins at stream token k·seq·batch (see ``chunks``)."""
        return windows(self.chunks(start=start * seq * batch), seq, batch, pad=self.pad)

    def heldout(self, count: int, seq: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Uniform stream: biographies of people the model never sees (what is learnable beyond
        the facts). Popular stream: the training people drawn from the same law, freshly rendered
        (the knowledge itself, weighted as the stream weights it)."""
        if self.popularity:
            return self.popular_heldout(count, seq)
        return heldout_windows(self, count, seq)

    def render_docs(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self._fixed is not None:
            templates, order = self._fixed[0][idx], self._fixed[1][idx]
        else:
            templates, order = draw_choices(rng, len(idx), self.atlas.n_templates)
        return render(self.atlas, self.dataset.people[idx], templates, order).tokens

    @cached_property
    def _length_table(self) -> LengthTable:
        return LengthTable.build(self.atlas, self.dataset.people)

    def round_tokens(self, r: int) -> int:
        """Exact token count of round (exposure) ``r``."""
        return int(sum(int(ch.sum()) for ch in self._round(r, lengths_only=True)))

    def total_tokens(self) -> int:
        """Exact length of the stream, computed from biography lengths without rendering.

        Each round costs one permutation and one template draw per person (no rendering, no
        sentence orders); rounds are independent, so they are counted in parallel threads (numpy
        releases the GIL): at N = 1M people, about 0.1 s per round per core."""
        if self._fixed is not None and not self.popularity:  # every round: the same biographies, reordered
            return self.exposures * self.round_tokens(0)
        self._length_table  # built once, before the threads share it
        workers = min(self.exposures, os.cpu_count() or 1, 16)
        if workers <= 1 or len(self.dataset.people) < CHUNK_PEOPLE:
            return sum(self.round_tokens(r) for r in range(self.exposures))
        with ThreadPoolExecutor(workers) as pool:
            return sum(pool.map(self.round_tokens, range(self.exposures)))


def heldout_windows(stream: BioStream, count: int, seq: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Windows (inputs, targets) of ``count`` biographies of people the model never trains on.

    Packed and cut exactly like the training stream, each held-out person rendered once (with a
    fresh random template and order: what is learnable is the templates and the value and name
    formats, not the facts, which are new). None if no held-out person can be made.
    """
    people = heldout_people(stream.dataset.people, count, stream.dataset.seed)
    if len(people) == 0:  # a population so small that every possible name is taken
        return None
    rng = np.random.default_rng(np.random.SeedSequence([stream.dataset.seed, _HELDOUT_STREAM]))
    templates, order = draw_choices(rng, len(people), stream.atlas.n_templates)
    tokens = render(stream.atlas, people, templates, order).tokens
    (x, y), = windows(iter([tokens]), seq, n_windows(len(tokens), seq), pad=stream.pad)
    return x, y
