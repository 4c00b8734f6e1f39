"""The random-strings training stream: every round a fresh permutation of the N sequences (or N
popularity-weighted draws, ``kcap.corpus.popularity``), each preceded by the separator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from kcap.corpus.popularity import Popularity
from kcap.corpus.windows import CHUNK_PEOPLE, WindowedStream
from kcap.kinds.random_strings.data import RandomDataset, symbol
from kcap.knowledge.tokenizer import SEPARATOR, UNKNOWN


def symbol_tokens(dataset: RandomDataset) -> np.ndarray:
    vocab = dataset.vocab()
    return np.array([vocab.get(symbol(v), vocab[UNKNOWN]) for v in range(dataset.meta["alphabet"])], np.int32)


def render_sequences(dataset: RandomDataset, sym: np.ndarray, sep: int, idx: np.ndarray) -> np.ndarray:
    """(B, S + 1) rows ``[sep] s_1 .. s_S`` of the sequences ``idx``."""
    seqs = sym[dataset.sequences[idx].astype(np.int64)]
    return np.concatenate([np.full((len(idx), 1), sep, np.int32), seqs], axis=1)


@dataclass
class RandomStream(WindowedStream):
    dataset: RandomDataset
    exposures: int
    seed: int = 0
    popularity: float = 0.0
    _sym: np.ndarray = field(init=False)

    def __post_init__(self):
        self._sym = symbol_tokens(self.dataset)
        self._sep = self.dataset.vocab()[SEPARATOR]
        self._pop = Popularity(self.dataset.n_people, self.popularity)

    @property
    def pad(self) -> int:
        return int(self._sep)

    def chunks(self) -> Iterator[np.ndarray]:
        n = self.dataset.n_people
        for r in range(self.exposures):
            perm = self._pop.round(self._round_rng(r))
            for lo in range(0, n, CHUNK_PEOPLE):
                yield render_sequences(self.dataset, self._sym, self._sep, perm[lo:lo + CHUNK_PEOPLE]).ravel()

    def render_docs(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return render_sequences(self.dataset, self._sym, self._sep, idx).ravel()

    def heldout(self, count: int, seq: int) -> tuple[np.ndarray, np.ndarray] | None:
        """A popular stream's held-out loss: sequences drawn from the same law (the strings are the
        knowledge; a uniform stream has no held-out set, as there is nothing to learn beyond them)."""
        if not self.popularity:
            return None
        return self.popular_heldout(count, seq)

    def total_tokens(self) -> int:
        return self.exposures * self.dataset.n_people * (self.dataset.meta["length"] + 1)

    def doc_lengths(self) -> np.ndarray:
        return np.full(self.dataset.n_people, self.dataset.meta["length"] + 1)

    def max_doc_tokens(self) -> int:
        return self.dataset.meta["length"] + 1

    def used_tokens(self) -> int:
        """Symbols that occur and the separator (counted in dataset.json; a dataset from before
        that count holds only those, plus <unk>)."""
        return self.dataset.meta.get("used_tokens", len(self.dataset.vocab()) - 1)
