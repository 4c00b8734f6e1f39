"""Passes to memorize: how many exposures a model needs to store a given share of its knowledge.

The paper's informal rule: larger models need fewer passes to memorize the same knowledge; for k
bits, about 1000 passes with k/2 parameters, 100 with k, 1 with 10k (``INFORMAL_RULE``). From a
run's training curve (bits stored measured at evaluation points, ``kcap train --track-bits``,
best with ``--eval-spacing log``) we read the first exposure count at which the curve reaches
``fraction`` of its final bits, or of a reference such as bits_max (linear interpolation between
evaluations), then fit exposures_needed ∝ params^slope across runs: a negative slope supports the
rule.

A run that never stores positive bits has no exposure count (it is listed, not fitted); the slope
needs two distinct model sizes, else the fit is marked not identified (``laws.identify``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from kcap.laws.identify import distinct, verdict

INFORMAL_RULE = ((0.5, 1000.0), (1.0, 100.0), (10.0, 1.0))
"""(params / k, exposures to memorize k bits): the seed's informal rule."""
RULE_SLOPE = float(np.polyfit(np.log([p for p, _ in INFORMAL_RULE]), np.log([e for _, e in INFORMAL_RULE]), 1)[0])
"""The rule as one power law, exposures ∝ (params/k)^RULE_SLOPE (about -2.3)."""


def rule_exposures(params_over_k: float) -> float:
    """The informal rule's exposures at params/k, log-log interpolated between its three points
    (extended along the end segments)."""
    x = np.log([p for p, _ in INFORMAL_RULE])
    y = np.log([e for _, e in INFORMAL_RULE])
    t = np.log(params_over_k)
    i = 0 if t <= x[1] else 1
    return float(np.exp(y[i] + (t - x[i]) * (y[i + 1] - y[i]) / (x[i + 1] - x[i])))


def exposures_to_reach(exposures: np.ndarray, bits: np.ndarray, fraction: float = 0.9,
                       reference: float | None = None) -> float | None:
    """First exposure count at which ``bits`` reaches ``fraction`` of ``reference`` (default: its own
    final value), or None (it never does, or the final value is not positive)."""
    exposures, bits = np.asarray(exposures, float), np.asarray(bits, float)
    ref = bits[-1] if reference is None else float(reference)
    target = fraction * ref
    if ref <= 0:
        return None
    above = np.nonzero(bits >= target)[0]
    if above.size == 0:
        return None
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
    x, y = np.log(params[ok]), np.log(needed[ok])
    slope, intercept = np.polyfit(x, y, 1)
    return {"slope": float(slope), "coefficient": float(np.exp(intercept)), "ci": slope_ci(x, y), **out,
            **verdict([])}


def slope_ci(x: np.ndarray, y: np.ndarray, confidence: float = 0.90) -> list[float] | None:
    """The least-squares slope's ``confidence`` interval (Student t on its standard error, n - 2
    degrees of freedom); None with fewer than 3 points, where the line fits exactly."""
    if len(x) < 3 or distinct(x) < 2:
        return None
    fit = stats.linregress(x, y)
    t = stats.t.ppf(0.5 + confidence / 2, len(x) - 2)
    return [float(fit.slope - t * fit.stderr), float(fit.slope + t * fit.stderr)]
