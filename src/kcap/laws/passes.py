"""Passes to memorize: how many exposures a model needs to store a given share of its knowledge.

The paper's informal rule: larger models need fewer passes to memorize the same knowledge. From a
run's training curve (bits stored measured at evaluation points, ``kcap train --track-bits``) we
read the first exposure count at which the curve reaches ``fraction`` of its final bits (linear
interpolation between evaluations), then fit exposures_needed ∝ params^slope across runs: a
negative slope supports the rule.
"""

from __future__ import annotations

import numpy as np


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
    """Power law exposures_needed = c · params^slope, by least squares in log-log space."""
    params, needed = np.asarray(params, float), np.asarray(needed, float)
    if len(params) < 2 or len(np.unique(params)) < 2:
        return {"slope": None, "coefficient": None, "n_runs": int(len(params))}
    slope, intercept = np.polyfit(np.log(params), np.log(needed), 1)
    return {"slope": float(slope), "coefficient": float(np.exp(intercept)), "n_runs": int(len(params))}
