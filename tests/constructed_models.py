"""Two models whose measurements are known in closed form, for the tests of every kind's bound:
uniform over the vocabulary, and the Bayes-optimal memorizer of the documents measurement reads."""

from __future__ import annotations

import numpy as np
import torch

from kcap.kinds import get_kind


class Uniform(torch.nn.Module):
    """Equal logits for every vocabulary entry: every token costs ln V nats."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab = vocab
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.zeros(*x.shape, self.vocab) + 0 * self.dummy


class Memorizer(Uniform):
    """The Bayes-optimal memorizer of a set of documents: p(next | prefix) is the share of the
    documents with that prefix that continue with each token (uniform on unseen prefixes). The
    prefix starts at the last separator (every document starts with one), so what precedes a
    document (the previous one, in the training context) is ignored, as a memorizer of whole
    documents would."""

    def __init__(self, vocab: int, docs: list[list[int]]):
        super().__init__(vocab)
        self.sep = docs[0][0]
        self.table: dict[tuple, np.ndarray] = {}
        for d in docs:
            for t in range(len(d) - 1):
                self.table.setdefault(tuple(d[:t + 1]), np.zeros(vocab))[d[t + 1]] += 1

    def forward(self, x):
        out = torch.zeros(*x.shape, self.vocab)
        for b, row in enumerate(x.tolist()):
            start = 0
            for t in range(len(row)):
                start = t if row[t] == self.sep else start
                counts = self.table.get(tuple(row[start:t + 1]))
                if counts is not None:
                    out[b, t] = torch.from_numpy(np.where(counts > 0, np.log(np.maximum(counts, 1e-300)), -1e4))
        return out + 0 * self.dummy


def measured_docs(dataset) -> list[list[int]]:
    """The token sequences measurement feeds, one per person, as the dataset's kind renders them."""
    r = get_kind(dataset.kind).documents(dataset)(np.arange(dataset.n_people))
    return [r.tokens[a:b].tolist() for a, b in zip(r.offsets[:-1], r.offsets[1:])]
