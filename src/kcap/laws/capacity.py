"""The knowledge-capacity law: bits stored grow linearly with parameters, bits = R * P.

A run stores at most R bits per parameter (capacity-bound) and at most the bits its data hold
(data-bound): bits ~ min(R * P, bits_max). Only capacity-bound runs say anything about R, and
which runs are capacity-bound (bits_max / P > R) depends on R, so the fit is a fixed point.

Estimator: R = median of bits / P over the capacity-bound runs, iterated until the set of
capacity-bound runs stops changing. A fixed point of this iteration is a stationary point of the
least-absolute-deviation fit of log bits = log min(R * P, bits_max) over all runs: data-bound
runs then do not pull on R however far below capacity they sit, and one badly trained run moves
the median by at most one rank, where a least-squares slope would follow it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from kcap.errors import KcapError

MAX_ITER = 50


def _arrays(params, bits, bits_max) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, b, m = (np.asarray(x, dtype=float).ravel() for x in (params, bits, bits_max))
    if not (p.size == b.size == m.size) or p.size == 0:
        raise KcapError("params, bits and bits_max must be non-empty arrays of one length")
    if not (np.all(np.isfinite(p) & (p > 0)) and np.all(np.isfinite(m) & (m > 0)) and np.all(np.isfinite(b))):
        raise KcapError("params and bits_max must be positive; bits must be finite")
    return p, b, m


def _initial_set(room: np.ndarray) -> np.ndarray:
    """The quarter of runs with the most knowledge per parameter (at least one run).

    These are the likeliest to be capacity-bound. Starting from the median over all runs would
    start low, among data-bound runs, and the iteration climbs only to the nearest fixed point.
    """
    return room >= np.quantile(room, 0.75)


def _fixed_point(ratio: np.ndarray, room: np.ndarray) -> tuple[float, np.ndarray, int, bool]:
    """Iterate R <- median(bits/P over runs with bits_max/P > R) until the run set is stable."""
    cap = _initial_set(room)
    r = float(np.median(ratio[cap]))
    for it in range(1, MAX_ITER + 1):
        new_cap = room > r
        if not new_cap.any():
            # R above every run's bits_max/P: no run can be capacity-bound; keep the last set.
            return r, cap, it, False
        if np.array_equal(new_cap, cap):
            return r, cap, it, True
        cap = new_cap
        r = float(np.median(ratio[cap]))
    return r, cap, MAX_ITER, False


def _bootstrap_ci(ratio: np.ndarray, n_boot: int, seed: int, percentiles: tuple[float, float]) -> list[float]:
    """Percentile interval of the median ratio, resampling capacity-bound runs with replacement.

    The run set is held fixed: with noise small next to the gap between regimes, resampling
    rarely changes which runs are capacity-bound, and re-running the fixed point per resample
    would add nothing but time.
    """
    if n_boot <= 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, ratio.size, (n_boot, ratio.size))
    medians = np.median(ratio[idx], axis=1)
    return [float(np.percentile(medians, p)) for p in percentiles]


def fit_capacity(params: ArrayLike, bits: ArrayLike, bits_max: ArrayLike, n_boot: int = 1000, seed: int = 0,
                 percentiles: tuple[float, float] = (5, 95)) -> dict:
    """Fit the capacity ratio R (bits per parameter) of bits = R * P from capacity-bound runs.

    Returns ratio, its bootstrap interval ci, peak_ratio (the largest bits/P of any run, a model-
    free lower bound on capacity), the capacity_bound / data_bound masks, and run counts.
    converged is False when the run set never settled, e.g. when every run is data-bound
    (bits ~ bits_max throughout): ratio is then only a lower bound on R.
    """
    p, b, m = _arrays(params, bits, bits_max)
    ratio, room = b / p, m / p
    r, cap, iterations, converged = _fixed_point(ratio, room)
    return {
        "ratio": r,
        "ci": _bootstrap_ci(ratio[cap], n_boot, seed, percentiles),
        "peak_ratio": float(ratio.max()),
        "capacity_bound": cap.tolist(),
        "data_bound": (~cap).tolist(),
        "n_runs": int(p.size),
        "n_capacity_bound": int(cap.sum()),
        "iterations": iterations,
        "converged": converged,
    }


def bits_for_params(fit: dict, params: ArrayLike) -> float | np.ndarray:
    """Bits a capacity-bound model of `params` parameters stores under the fitted ratio."""
    bits = fit["ratio"] * np.asarray(params, dtype=float)
    return float(bits) if bits.ndim == 0 else bits
