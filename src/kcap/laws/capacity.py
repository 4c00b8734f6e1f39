"""The knowledge-capacity law: bits stored grow linearly with parameters, bits = R * P.

A run stores at most R bits per parameter (capacity-bound) and at most the bits its data hold
(data-bound): bits ~ min(R * P, bits_max). Only capacity-bound runs say anything about R, and
which runs are capacity-bound (bits_max / P > R) depends on R, so the fit is a fixed point.

Estimator: R = median of bits / P over the capacity-bound runs, iterated until the set of
capacity-bound runs stops changing. A fixed point of this iteration is a stationary point of the
least-absolute-deviation fit of log bits = log min(R * P, bits_max) over all runs: data-bound
runs then do not pull on R however far below capacity they sit, and one badly trained run moves
the median by at most one rank, where a least-squares slope would follow it.

What the fit refuses and what it marks (``laws.identify``): bits above bits_max are refused naming
the run, since a model cannot store more than its data hold (a measurement bug, never data); runs
with negative bits (worse than uniform over the pools: under-trained) are listed and kept out of R
unless asked for; R from one capacity-bound run, from one model size (copies of one run included)
or from a run set that never settled (only a lower bound) is marked not identified.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from kcap.errors import KcapError
from kcap.laws.identify import distinct, verdict

MAX_ITER = 50

# bits <= bits_max holds exactly: per-token losses are >= 0 and the name loss is >= ln N (Gibbs'
# inequality over N distinct names). Measured in float32 a perfect memorizer can overshoot by
# rounding, ~1e-7 of bits_max; anything beyond this tolerance is a bug in the measurement.
BITS_MAX_RTOL = 1e-5


def _arrays(params, bits, bits_max, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked float arrays; a bad value is refused naming its run (or row)."""
    p, b, m = (np.asarray(x, dtype=float).ravel() for x in (params, bits, bits_max))
    if not (p.size == b.size == m.size == len(names)) or p.size == 0:
        raise KcapError("params, bits and bits_max must be non-empty arrays of one length")
    for field, x, positive in (("params", p, True), ("bits_max", m, True), ("bits", b, False)):
        bad = np.flatnonzero(~np.isfinite(x) | ((x <= 0) if positive else False))
        if bad.size:
            i = bad[0]
            raise KcapError(f"{names[i]}: {field} = {x[i]:g} must be {'positive and ' if positive else ''}finite")
    over = np.flatnonzero(b > m * (1 + BITS_MAX_RTOL))
    if over.size:
        i = over[0]
        raise KcapError(f"{names[i]}: bits {b[i]:.6g} exceed bits_max {m[i]:.6g}, more than its data hold: "
                        "a measurement bug, not data (remeasure it)")
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
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, ratio.size, (n_boot, ratio.size))
    medians = np.median(ratio[idx], axis=1)
    return [float(np.percentile(medians, p)) for p in percentiles]


def fit_capacity(params: ArrayLike, bits: ArrayLike, bits_max: ArrayLike, n_boot: int = 1000, seed: int = 0,
                 percentiles: tuple[float, float] = (5, 95), *, names: list[str] | None = None,
                 include_negative: bool = False) -> dict:
    """Fit the capacity ratio R (bits per parameter) of bits = R * P from capacity-bound runs.

    Returns ratio, its bootstrap interval ci, peak_ratio (the largest bits/P of any run, a model-
    free lower bound on capacity), the capacity_bound / data_bound / under_trained masks (one entry
    per run; runs left out of the fit are in none of the first two), run counts, and identified /
    why. converged is False when the run set never settled, e.g. when every run is data-bound
    (bits ~ bits_max throughout): ratio is then only a lower bound on R. ``names`` (run ids or
    table rows) name the run in a refusal; runs with negative bits are fitted only with
    ``include_negative``.
    """
    if n_boot < 2:  # a percentile interval of 0 or 1 resamples has zero width by construction
        raise KcapError(f"n_boot = {n_boot}: the bootstrap needs at least 2 resamples")
    names = list(names) if names is not None else [f"row {i + 1}" for i in range(np.size(params))]
    p, b, m = _arrays(params, bits, bits_max, names)
    negative = b < 0
    used = ~negative | include_negative
    if not used.any():
        raise KcapError(f"all {p.size} runs store negative bits (worse than uniform: under-trained), so there is "
                        "nothing to fit R from (--include-negative fits them anyway)")
    ratio, room = b[used] / p[used], m[used] / p[used]
    r, cap_used, iterations, converged = _fixed_point(ratio, room)
    ci = _bootstrap_ci(ratio[cap_used], n_boot, seed, percentiles)
    cap, data = np.zeros(p.size, bool), np.zeros(p.size, bool)
    cap[used], data[used] = cap_used, ~cap_used
    return {
        "ratio": r,
        "ci": ci,
        "peak_ratio": float((b / p).max()),
        "capacity_bound": cap.tolist(),
        "data_bound": data.tolist(),
        "under_trained": negative.tolist(),
        "include_negative": include_negative,
        "n_runs": int(p.size),
        "n_capacity_bound": int(cap.sum()),
        "iterations": iterations,
        "converged": converged,
        **verdict(_capacity_why(p[cap], converged)),
    }


def _capacity_why(cap_params: np.ndarray, converged: bool) -> list[str]:
    """Why R is not identified (empty when it is), from the capacity-bound runs it came from."""
    why = []
    if not converged:
        why.append("the capacity-bound set did not settle (e.g. every model holds all its data): "
                   "R is only a lower bound")
    if cap_params.size < 2:
        why.append(f"{cap_params.size} capacity-bound run: R is its bits/param, with no spread for an interval")
    elif distinct(cap_params) < 2:
        # copies of one run land here too: their zero-width interval says nothing about R's spread.
        # (Equal bits/param across several sizes is also a zero-width interval, but an exact one.)
        why.append("the capacity-bound runs have one model size: bits = R * P is not tested across sizes")
    return why


def bits_for_params(fit: dict, params: ArrayLike) -> float | np.ndarray:
    """Bits a capacity-bound model of `params` parameters stores under the fitted ratio."""
    bits = fit["ratio"] * np.asarray(params, dtype=float)
    return float(bits) if bits.ndim == 0 else bits
