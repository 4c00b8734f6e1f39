"""What every kind's training stream shares: cutting a token stream into training windows.

A kind's stream yields token chunks (each document preceded by the separator); ``WindowedStream``
turns them into batches of windows of ``seq`` inputs whose targets are the next ``seq`` tokens, so
every token after the first is predicted exactly once. The constants below are part of the RNG
layout of every built-in stream: changing them changes every stream's bytes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK_PEOPLE = 1 << 15  # documents rendered per call; part of the RNG layout, keep fixed
FIXED_STREAM = 0x51_4D_50  # RNG stream id of fixed renderings (simple variants, measurement)


class WindowedStream:
    """What the training loop needs of a stream, given ``chunks()``, ``total_tokens()`` and ``pad``:
    batches of windows cut from the chunks, and their count. Datasets without held-out people
    return None from ``heldout``."""

    def n_windows(self, seq: int) -> int:
        return n_windows(self.total_tokens(), seq)

    def batches(self, seq: int, batch: int, start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches from batch ``start`` on (a resumed run): the tokens before it are rendered and
        dropped, which is correct for any stream; a stream that can skip cheaper overrides this."""
        return windows(skip_tokens(self.chunks(), start * seq * batch), seq, batch, pad=self.pad)

    def _round_rng(self, r: int, chunk: int | None = None) -> np.random.Generator:
        """Exposure round r's RNG (and chunk ``chunk``'s, where a kind draws per chunk), from the
        dataset's seed and the run's (``self.dataset``, ``self.seed``): part of the RNG layout."""
        key = [self.dataset.seed, self.seed, r] + ([] if chunk is None else [chunk])
        return np.random.default_rng(np.random.SeedSequence(key))

    def heldout(self, count: int, seq: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Held-out windows for the loss logged along training (None: this stream has none)."""
        return None

    def render_docs(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Documents ``idx`` (separator first), rendered as training renders them (fresh choices
        from ``rng`` where the kind varies its renderings): what a popular held-out sample reads."""
        raise NotImplementedError

    def popular_heldout(self, count: int, seq: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows of ``count`` documents drawn from the stream's own popularity law (its ``_pop``,
        a ``kcap.corpus.popularity.Popularity``), freshly rendered: the held-out loss of a popular
        stream is the expected loss on what the population talks about, which more compute keeps
        lowering as rarer people are learned."""
        idx, rng = self._pop.heldout(self.dataset.seed, count)
        tokens = self.render_docs(idx, rng)
        (x, y), = windows(iter([tokens]), seq, n_windows(len(tokens), seq), pad=self.pad)
        return x, y

    def stream_stats(self, exposures: int, seq: int) -> dict:
        """``kcap data stats`` figures of the stream: every token is useful knowledge here (a stream
        that mixes in junk overrides this with a measured pass)."""
        return {"exposures": exposures, "seq": seq, "windows": self.n_windows(seq),
                "useful_tokens": self.total_tokens() - 1, "junk_tokens": 0, "junk_fraction": 0.0,
                "mixed_windows": 0}


def skip_tokens(chunks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """The token stream of ``chunks`` without its first ``n`` tokens."""
    for ch in chunks:
        if n >= len(ch):
            n -= len(ch)
            continue
        yield ch[n:]
        n = 0


def n_windows(total_tokens: int, seq: int) -> int:
    return -(-(total_tokens - 1) // seq)


def windows(chunks: Iterator[np.ndarray], seq: int, rows: int, pad: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Cut a token stream into batches of ``rows`` windows: inputs (rows, seq) and targets.

    Window i covers stream tokens [i*seq, i*seq + seq] (seq + 1 tokens: consecutive windows share
    one). The final window is padded with ``pad`` inputs and -1 targets (ignored by the loss), and
    the final batch may have fewer rows.
    """
    span = seq * rows
    buf = np.empty(0, np.int32)
    for ch in chunks:
        buf = np.concatenate([buf, ch]) if len(buf) else ch
        while len(buf) >= span + 1:
            x = buf[:span].reshape(rows, seq)
            y = buf[1:span + 1].reshape(rows, seq)
            yield x, y
            buf = buf[span:]
    if len(buf) > 1:
        n_rows = -(-(len(buf) - 1) // seq)
        x = np.full(n_rows * seq, pad, np.int32)
        y = np.full(n_rows * seq, -1, np.int32)
        x[:len(buf) - 1] = buf[:-1]
        y[:len(buf) - 1] = buf[1:]
        yield x.reshape(n_rows, seq), y.reshape(n_rows, seq)
