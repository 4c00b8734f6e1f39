"""People's popularity: which documents a round of the training stream holds.

The paper's stream is uniform: every round (exposure) holds every person once, in a fresh random
order. Knowledge in real text is not: a few facts appear constantly, most rarely. With a Zipf
exponent s > 0, a round instead holds N documents drawn i.i.d. with P(person i) ∝ (i + 1)^-s
(person 0 the most popular; people are generated at random, so index order carries no meaning of
its own). The stream keeps its length (E·N documents), so ``exposures`` is the *mean* exposure per
person and tokens and FLOPs are planned as before; person i appears about E·N·p_i times.

Draws use the round's own RNG, so a popular stream is, like a uniform one, a pure function of the
seeds (same seeds, same bytes; a resumed run re-derives every round). s = 0 calls
``rng.permutation`` exactly as the uniform stream always did, so its bytes are unchanged.
"""

from __future__ import annotations

import numpy as np

HELDOUT_STREAM = 0x50_4F_50  # RNG stream id of popularity-weighted held-out draws


def zipf_probs(n: int, s: float) -> np.ndarray:
    """P(person i) ∝ (i + 1)^-s over n people (s = 0: uniform)."""
    w = np.arange(1, n + 1, dtype=np.float64) ** -float(s)
    return w / w.sum()


class Popularity:
    """How a round orders (s = 0) or draws (s > 0) its N documents."""

    def __init__(self, n: int, s: float = 0.0):
        self.n, self.s = n, float(s)
        self._cdf = None
        if self.s:
            self._cdf = np.cumsum(zipf_probs(n, self.s))
            self._cdf[-1] = 1.0  # float sums may stop a hair short: no draw may fall past the last person

    def round(self, rng: np.random.Generator) -> np.ndarray:
        """The documents of one round, in stream order: a permutation, or N i.i.d. Zipf draws."""
        return self.draw(rng, self.n) if self.s else rng.permutation(self.n)

    def draw(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` people drawn i.i.d. from the popularity law (uniform when s = 0)."""
        if not self.s:
            return rng.integers(0, self.n, size=count)
        return np.searchsorted(self._cdf, rng.random(count), side="right").astype(np.int64)

    def heldout(self, dataset_seed: int, count: int) -> tuple[np.ndarray, np.random.Generator]:
        """People of a popularity-weighted held-out sample and the RNG that renders them: the same
        for every run of a dataset (it depends on the dataset's seed only), so runs compare on it."""
        rng = np.random.default_rng(np.random.SeedSequence([dataset_seed, HELDOUT_STREAM]))
        return self.draw(rng, count), rng
