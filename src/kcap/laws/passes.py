"""Passes to memorize: how many exposures a model needs to store a given share of its knowledge.

The paper's informal rule: larger models need fewer passes to memorize the same knowledge. From a
run's training curve (bits stored measured at evaluation points, ``kcap train --track-bits``) we
read the first exposure count at which the curve reaches ``fraction`` of its final bits (linear
interpolation between evaluations), then fit exposures_needed ∝ params^slope across runs: a
negative slope supports the rule.

A run that never stores positive bits has no exposure count (it is listed, not fitted); the slope
needs two distinct model sizes, else the fit is marked not identified (``laws.identify``).
"""

from __future__ import annotations

import numpy as np

from kcap.laws.identify import distinct, verdict


def exposures_to_reach(exposures: np.ndarray, bits: np.ndarray, fraction: float = 0.9) -> float | None:
    """First exposure count at which ``bits`` reaches ``fraction`` of its final value, or None."""
    exposures, bits = np.asarray(exposures, float), np.asarray(bits, float)
    target = fraction * bits[-1]
    if bits[-1] <= 0:
        return None
    above = np.nonzero(bits >= target)[0]
    i = int(above[0])
    if i == 0:
        return float(exposures[0])
    x0, x1, y0, y1 = exposures[i - 1], exposures[i], bits[i - 1], bits[i]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0))


def fit_passes(params: np.ndarray, needed: np.ndarray) -> dict:
    """Power law exposures_needed = c · params^slope, by least squares in log-log space.

    Runs whose count is not a positive finite number cannot enter a log-log fit and are left out
    (n_used says how many went in); fewer than two distinct sizes leave the slope None, with why.
    """
    params, needed = np.asarray(params, float).ravel(), np.asarray(needed, float).ravel()
    ok = np.isfinite(params) & (params > 0) & np.isfinite(needed) & (needed > 0)
    out = {"n_runs": int(params.size), "n_used": int(ok.sum())}
    sizes = distinct(params[ok])
    if sizes < 2:
        return {"slope": None, "coefficient": None, **out,
                **verdict([f"{sizes} distinct model size(s) with a positive exposure count: the slope needs 2"])}
    slope, intercept = np.polyfit(np.log(params[ok]), np.log(needed[ok]), 1)
    return {"slope": float(slope), "coefficient": float(np.exp(intercept)), **out, **verdict([])}
