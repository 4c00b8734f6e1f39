"""What a fit can and cannot say: the shared vocabulary of the fits' honesty checks.

Every fit ends in one of three states, chosen per case in its own module:

- refused (``KcapError``, one line, exit code 2): the inputs cannot determine the law at all
  (one model size for a size exponent, ten copies of one row) or are wrong (bits above bits_max);
  no number is printed, because any number would be an artefact of the optimizer or the bootstrap;
- fitted but **not identified** (``identified: false`` with ``why``): the fit ran and its numbers
  are kept for inspection, but they are degenerate (an exponent that ran off the searched range, a
  bootstrap interval of zero width, a ratio that is only a lower bound); tables, JSON and figures
  say so and ``kcap optimal`` refuses to plan from them;
- identified: none of the above.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike


def verdict(reasons: Sequence[str]) -> dict:
    """The ``identified`` / ``why`` pair every fit reports (``why`` is None when identified)."""
    return {"identified": not reasons, "why": "; ".join(reasons) if reasons else None}


def distinct(values: ArrayLike) -> int:
    """How many different values an input column holds (exact equality: copies are one value)."""
    return int(np.unique(np.asarray(values, dtype=float)).size)


def zero_width(ci: Mapping[str, Sequence[float]], keys: Iterable[str]) -> list[str]:
    """Keys whose bootstrap interval has zero width: every resample gave the same value, which
    says the resamples carried no independent information (copies of one row, one run), not that
    the value is exact. A relative 1e-12 absorbs only float noise: real data never get that close."""
    out = []
    for k in keys:
        lo, hi = ci[k]
        if np.isfinite(lo) and np.isfinite(hi) and hi - lo <= 1e-12 * max(1.0, abs(lo), abs(hi)):
            out.append(k)
    return out


def not_finite(values: Mapping[str, float], keys: Iterable[str]) -> list[str]:
    """Keys whose value is nan, inf or not positive (scales and exponents of a law must be > 0)."""
    return [k for k in keys if not (np.isfinite(values[k]) and values[k] > 0)]
