"""A bioS training stream with junk (SCIENCE.md §1): useful windows and junk windows, never mixed.

The useful stream is the ordinary one (E exposures of every useful person, each biography with the
domain token if the dataset has one), cut into windows exactly as without junk. Junk biographies
(other people, never the domain token) form a second, endless stream cut the same way. For U useful
windows and junk share F, J = round(U·F/(1-F)) junk windows are spread evenly among them: window i
of the U + J is useful iff floor((i+1)·U/W) > floor(i·U/W). Every window therefore comes from one
stream only, exposures count useful biographies only, and the junk share of tokens is F up to the
last window's padding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from kcap.corpus.windows import CHUNK_PEOPLE, WindowedStream, n_windows, windows
from kcap.kinds.bios.junk_people import draw_junk_people
from kcap.kinds.bios.render import Atlas, draw_choices, render
from kcap.kinds.bios.stream import BioStream
from kcap.knowledge.people import name_codes
from kcap.knowledge.pools import load_pools

_JUNK_STREAM = 0x4A4B  # RNG stream id of junk renderings
_BLOCK = 64  # windows cut per call from each source
PROVENANCE_BIT = 1 << 30  # tags junk tokens when provenance is asked for (token ids are < 2^30)


class _Rows:
    """Windows of one source, handed out a few rows at a time."""

    def __init__(self, blocks: Iterator[tuple[np.ndarray, np.ndarray]]):
        self.blocks, self.x, self.y = blocks, None, None

    def take(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        while k > 0:
            if self.x is None or len(self.x) == 0:
                self.x, self.y = next(self.blocks)
            xs.append(self.x[:k])
            ys.append(self.y[:k])
            k -= len(xs[-1])
            self.x, self.y = self.x[len(xs[-1]):], self.y[len(ys[-1]):]
        return np.concatenate(xs), np.concatenate(ys)


@dataclass
class JunkStream(WindowedStream):
    """E exposures of a bioS dataset's useful people, mixed window by window with junk."""

    useful: BioStream
    seed: int = 0
    fraction: float = field(init=False)
    _taken: np.ndarray = field(init=False)

    def __post_init__(self):
        junk = self.useful.dataset.junk
        assert junk, "JunkStream needs a dataset with junk"
        self.fraction = float(junk["fraction"])
        self._taken = np.sort(name_codes(self.useful.dataset.people))
        self._pools = load_pools(self.useful.dataset.meta["pool_version"])
        # junk never carries the domain token: render it with an atlas that has none
        ds = self.useful.dataset
        self._atlas = Atlas.build(self._pools, ds.vocab(), domain=False) if ds.domain_token else self.useful.atlas

    # the interface the training loop uses, as BioStream's
    dataset = property(lambda self: self.useful.dataset)
    atlas = property(lambda self: self.useful.atlas)
    exposures = property(lambda self: self.useful.exposures)
    pad = property(lambda self: self.useful.pad)

    def used_tokens(self) -> int:
        return self.useful.used_tokens()

    def doc_lengths(self) -> np.ndarray:
        return self.useful.doc_lengths()

    def max_doc_tokens(self) -> int:
        return max(self.useful.max_doc_tokens(), self._atlas.max_bio_tokens())

    def heldout(self, count: int, seq: int):
        return self.useful.heldout(count, seq)

    def total_tokens(self) -> int:
        """Useful tokens of the stream (junk excluded)."""
        return self.useful.total_tokens()

    def window_counts(self, seq: int) -> tuple[int, int]:
        """(useful windows U, junk windows J)."""
        u = n_windows(self.useful.total_tokens(), seq)
        return u, int(round(u * self.fraction / (1 - self.fraction)))

    def n_windows(self, seq: int) -> int:
        return sum(self.window_counts(seq))

    def junk_chunks(self) -> Iterator[np.ndarray]:
        """Endless junk biographies: rounds over the fixed junk population, or fresh people."""
        ds = self.useful.dataset
        fixed = ds.junk_people
        c = 0
        while True:
            rng = np.random.default_rng(np.random.SeedSequence([ds.seed, self.seed, _JUNK_STREAM, c]))
            if fixed is None:
                people = draw_junk_people(CHUNK_PEOPLE, self._taken, rng, self._pools, distinct=False)
            else:
                people = fixed[rng.permutation(len(fixed))]
            templates, order = draw_choices(rng, len(people), self._atlas.n_templates)
            yield render(self._atlas, people, templates, order).tokens
            c += 1

    def batches(self, seq: int, batch: int, provenance: bool = False,
                start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Training batches; with ``provenance`` junk input tokens carry ``PROVENANCE_BIT`` (for stats).

        From batch ``start`` on (a resumed run): the first start·batch windows hold
        floor(start·batch·U/W) useful ones, so the useful stream is skipped by length to their
        end; the junk windows before are rendered and dropped."""
        u, j = self.window_counts(seq)
        w = u + j
        first = min(start * batch, w)
        useful_before = first * u // w if w else 0
        junk_chunks = self.junk_chunks()
        if provenance:
            junk_chunks = (ch | PROVENANCE_BIT for ch in junk_chunks)
        useful = _Rows(windows(self.useful.chunks(start=useful_before * seq), seq, _BLOCK, pad=self.pad))
        junk = _Rows(windows(junk_chunks, seq, _BLOCK, pad=self.pad))
        for lo in range(0, first - useful_before, _BLOCK):
            junk.take(min(_BLOCK, first - useful_before - lo))
        for lo in range(first, w, batch):
            i = np.arange(lo, min(lo + batch, w), dtype=np.int64)
            is_useful = (i + 1) * u // w > i * u // w
            x = np.empty((len(i), seq), np.int32)
            y = np.empty((len(i), seq), np.int32)
            k = int(is_useful.sum())
            if k:
                x[is_useful], y[is_useful] = useful.take(k)
            if k < len(i):
                xj, yj = junk.take(len(i) - k)
                x[~is_useful], y[~is_useful] = xj, (yj & (PROVENANCE_BIT - 1)) if provenance else yj
            yield x, y

    def stream_stats(self, exposures: int, seq: int, batch: int = 256) -> dict:
        """Useful and junk tokens (as training targets), junk share, windows and windows that mix
        both, measured by a real pass over the training batches with junk tokens tagged on their
        way through the same windowing code the loop uses: not assumed."""
        useful = junk = mixed = n_rows = junk_windows = 0
        for x, y in self.batches(seq, batch, provenance=True):
            is_junk = (x & PROVENANCE_BIT) != 0
            target = y >= 0
            useful += int((~is_junk & target).sum())
            junk += int((is_junk & target).sum())
            row_junk = is_junk.any(axis=1)
            mixed += int((row_junk & (~is_junk & target).any(axis=1)).sum())
            n_rows += len(x)
            junk_windows += int(row_junk.sum())
        return {"exposures": exposures, "seq": seq, "windows": n_rows, "junk_windows": junk_windows,
                "useful_tokens": useful, "junk_tokens": junk, "junk_fraction": junk / (useful + junk),
                "mixed_windows": mixed}
