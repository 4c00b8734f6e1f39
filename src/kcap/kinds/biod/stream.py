"""bioD rendering and training stream.

A biography: ``[sep] first middle last`` then K sentences ``attrK : <C·L symbols> .`` in a random
order. Sentences all have S = C·L + 3 tokens, so a batch renders as one (B, K, S) array gather plus
the variable-length names, with no per-token Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from kcap.corpus.gather import Rendered, gather_ranges
from kcap.corpus.popularity import Popularity
from kcap.corpus.windows import CHUNK_PEOPLE, FIXED_STREAM, WindowedStream
from kcap.kinds.biod.data import BioDDataset, attribute_word, symbol
from kcap.knowledge.pools import load_pools
from kcap.knowledge.tokenizer import SEPARATOR, UNKNOWN, split_words


@dataclass
class BioDAtlas:
    name_tokens: np.ndarray  # all name pieces concatenated
    name_start: dict[str, np.ndarray]
    name_len: dict[str, np.ndarray]
    attr: np.ndarray  # (K,) token of each attribute label
    colon: int
    dot: int
    sym: np.ndarray  # (T,) token of each symbol
    sep: int

    @classmethod
    def build(cls, dataset: BioDDataset) -> BioDAtlas:
        vocab = dataset.vocab()
        unk = vocab[UNKNOWN]
        pools = load_pools(dataset.meta["pool_version"])
        pieces, start, length = [], {}, {}
        n = 0
        for key, pool in (("first", pools.first_names), ("middle", pools.middle_names), ("last", pools.last_names)):
            ids = [[vocab.get(w, unk) for w in split_words(t)] for t in pool]
            length[key] = np.array([len(i) for i in ids], np.int64)
            start[key] = n + np.cumsum(length[key]) - length[key]
            n += int(length[key].sum())
            pieces += ids
        spec = dataset.spec
        return cls(np.array([i for p in pieces for i in p], np.int32), start, length,
                   np.array([vocab[attribute_word(k)] for k in range(spec.attributes)], np.int32),
                   vocab[":"], vocab["."], np.array([vocab.get(symbol(t), unk) for t in range(spec.alphabet)], np.int32),
                   vocab[SEPARATOR])


def sentence_len(dataset: BioDDataset) -> int:
    s = dataset.spec
    return s.chunks * s.chunk_len + 3


def render_biod(atlas: BioDAtlas, dataset: BioDDataset, idx: np.ndarray, order: np.ndarray,
                spans: bool = False) -> Rendered:
    """Biographies of people ``idx`` with sentence order ``order`` (B, K): order[b, s] = attribute
    of slot s. Spans: ``name_span`` (B, 2) and ``value_spans`` (B, K, 2) by attribute."""
    spec = dataset.spec
    K, C, L = spec.attributes, spec.chunks, spec.chunk_len
    S = sentence_len(dataset)
    B = len(idx)
    names = dataset.people[idx].astype(np.int64)
    nst = np.stack([atlas.name_start[f][names[:, j]] for j, f in enumerate(("first", "middle", "last"))], 1)
    nln = np.stack([atlas.name_len[f][names[:, j]] for j, f in enumerate(("first", "middle", "last"))], 1)
    name_tok = gather_ranges(atlas.name_tokens, nst, nln)
    name_len = nln.sum(axis=1)
    # (B, K, C, L) symbols of every value, by attribute, then into sentences in slot order
    strings = dataset.diversity[np.arange(K)[None, :, None], dataset.values[idx].astype(np.int64)]
    sent = np.empty((B, K, S), np.int32)
    sent[:, :, 0] = atlas.attr[None, :]
    sent[:, :, 1] = atlas.colon
    sent[:, :, 2:2 + C * L] = atlas.sym[strings.reshape(B, K, C * L)]
    sent[:, :, -1] = atlas.dot
    sent = np.take_along_axis(sent, order[:, :, None], axis=1)
    bio_len = 1 + name_len + K * S
    offsets = np.concatenate([[0], np.cumsum(bio_len)])
    out = np.empty(int(offsets[-1]), np.int32)
    out[offsets[:-1]] = atlas.sep
    name_out = np.repeat(offsets[:-1] + 1 - (np.cumsum(name_len) - name_len), name_len) + np.arange(len(name_tok))
    out[name_out] = name_tok
    body = (offsets[:-1] + 1 + name_len)[:, None] + np.arange(K * S)[None, :]
    out[body] = sent.reshape(B, K * S)
    r = Rendered(tokens=out, offsets=offsets)
    if spans:
        r.name_span = np.stack([np.ones(B, np.int64), name_len], axis=1)
        slot_of = np.argsort(order, axis=1)  # (B, K)
        vstart = 1 + name_len[:, None] + slot_of * S + 2
        r.value_spans = np.stack([vstart, np.full((B, K), C * L)], axis=2)
    return r


def fixed_orders(dataset: BioDDataset) -> np.ndarray:
    """The one sentence order per person of the simple variant and of measurement."""
    rng = np.random.default_rng(np.random.SeedSequence([dataset.seed, FIXED_STREAM]))
    return np.argsort(rng.random((dataset.n_people, dataset.spec.attributes)), axis=1)


@dataclass
class BioDStream(WindowedStream):
    """E exposures of every bioD person: per round a fresh permutation (and, multi, fresh orders)."""

    dataset: BioDDataset
    exposures: int
    seed: int = 0
    popularity: float = 0.0
    atlas: BioDAtlas = field(init=False)

    def __post_init__(self):
        self.atlas = BioDAtlas.build(self.dataset)
        self._fixed = fixed_orders(self.dataset) if self.dataset.variant == "simple" else None
        self._pop = Popularity(self.dataset.n_people, self.popularity)

    @property
    def pad(self) -> int:
        return int(self.atlas.sep)

    def chunks(self) -> Iterator[np.ndarray]:
        n = self.dataset.n_people
        for r in range(self.exposures):
            rng = self._round_rng(r)
            perm = self._pop.round(rng)
            for lo in range(0, n, CHUNK_PEOPLE):
                yield self.render_docs(perm[lo:lo + CHUNK_PEOPLE], rng)

    def render_docs(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        k = self.dataset.spec.attributes
        order = self._fixed[idx] if self._fixed is not None else np.argsort(rng.random((len(idx), k)), axis=1)
        return render_biod(self.atlas, self.dataset, idx, order).tokens

    def heldout(self, count: int, seq: int) -> tuple[np.ndarray, np.ndarray] | None:
        """A popular stream's held-out loss: people drawn from the same law, sentences freshly
        ordered (a uniform stream has no held-out set)."""
        if not self.popularity:
            return None
        return self.popular_heldout(count, seq)

    def doc_lengths(self) -> np.ndarray:
        names = self.dataset.people.astype(np.int64)
        name_len = sum(self.atlas.name_len[f][names[:, j]] for j, f in enumerate(("first", "middle", "last")))
        return 1 + name_len + self.dataset.spec.attributes * sentence_len(self.dataset)

    def total_tokens(self) -> int:
        lengths = self.doc_lengths()
        if not self.popularity:
            return self.exposures * int(lengths.sum())
        return sum(int(lengths[self._pop.round(self._round_rng(r))].sum()) for r in range(self.exposures))

    def max_doc_tokens(self) -> int:
        return int(self.doc_lengths().max())

    def used_tokens(self) -> int:
        # counted in dataset.json (the vocabulary holds the whole alphabet and every pool name); a
        # dataset from before that count emits every entry but <unk>
        return self.dataset.meta.get("used_tokens", len(self.dataset.vocab()) - 1)
