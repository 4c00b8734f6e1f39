"""Rendering many documents at once with no per-token Python: one vectorized gather of token
ranges, and the result with its per-document offsets and measured spans."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Rendered:
    """A batch of rendered documents: flat tokens plus per-document offsets and spans.

    All spans are (start, length) in token positions *within* each document, whose position 0 is
    the separator that precedes it.
    """

    tokens: np.ndarray  # int32, all documents concatenated, each starting with the separator
    offsets: np.ndarray  # (B+1,) start of each document in ``tokens``
    name_span: np.ndarray | None = None  # (B, 2)
    value_spans: np.ndarray | None = None  # (B, attributes, 2), by the kind's attribute order
    gender_pos: np.ndarray | None = None  # (B,) bioS: position of the first pronoun (his/her/He/She)


def gather_ranges(source: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate source[s:s+l] for every (s, l), vectorized."""
    lengths = lengths.ravel()
    out_start = np.cumsum(lengths) - lengths
    idx = np.repeat(starts.ravel() - out_start, lengths) + np.arange(int(lengths.sum()))
    return source[idx]
