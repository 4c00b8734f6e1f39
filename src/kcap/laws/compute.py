"""The Chinchilla compute law: how loss falls with parameters N and training tokens D.

Three estimators of the compute-optimal allocation (Hoffmann et al. 2022), since each has known
failure modes and agreement between them is the evidence:

- Approach 1: lower envelope of loss over FLOPs, read off logged training points.
- Approach 2: IsoFLOP profiles, a parabola in log N per compute budget.
- Approach 3: a parametric fit of L(N, D) = E + A/N^alpha + B/D^beta, done exactly as in the
  replication of Besiroglu et al. 2024: Huber loss (delta 1e-3) on log loss, L-BFGS-B from a
  4500-point grid of starts, best objective kept.

Compute is C = 6 N D throughout unless a FLOPs array is passed. The compute-optimal frontier of
a fitted law (G, N_opt, D_opt) lives in ``laws.optimal``.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from kcap.errors import KcapError
from kcap.laws.identify import distinct, not_finite, verdict, zero_width
from kcap.laws.optimal import _scalar, frontier

DELTA = 1e-3
GRID_ALPHA = (0.0, 0.5, 1.0, 1.5, 2.0)
GRID_BETA = (0.0, 0.5, 1.0, 1.5, 2.0)
GRID_E = (-1.0, -0.5, 0.0, 0.5, 1.0)
GRID_A = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
GRID_B = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)

# Bootstrap refits start from the full fit's optimum plus this coarse grid (16 starts): the
# resampled data sit close to the original, so the full 4500-start search would only find the
# same basin 4500 times over, and n_boot full searches would take hours.
BOOT_GRID = {"a": (5.0, 15.0), "b": (5.0, 15.0), "e": (0.5,), "alpha": (0.5, 1.0), "beta": (0.5, 1.0)}

# scipy's defaults (a fit to ~250 points takes ~40 iterations per start).
LBFGS_OPTIONS = {"maxiter": 15000}

CI_KEYS = ("E", "A", "B", "alpha", "beta", "a", "b")

# Fewer points than this leave the five constants of Approach 3 nearly undetermined.
MIN_POINTS = 6
# Along N the law is E + A/N^alpha (+ a D term): three unknowns, so three distinct sizes at least;
# with two, any alpha fits once A and E absorb it. Likewise three distinct token counts for B, beta.
MIN_DISTINCT = 3

# An exponent outside this range is flagged, not trusted. The start grid searches [0, 2] and
# published exponents are 0.2-0.8; a fit that leaves the range has traded the exponent against its
# scale (the CPU sweep of docs/scaling.md: alpha 24.7 with A = 1e113), and an exponent near 0 makes
# its term a constant traded against E.
EXPONENT_RANGE = (0.01, max(GRID_ALPHA))
# E within this fraction of the lowest observed loss (or above it) is "pinned": the law then says
# the best run has no reducible loss left, so nothing in the data determines A, B or the exponents.
E_FLOOR_GAP = 0.01


def _grid(a, b, e, alpha, beta) -> np.ndarray:
    """Starts as rows of theta = (log A, log B, log E, alpha, beta)."""
    return np.array(list(itertools.product(a, b, e, alpha, beta)), dtype=float)


def default_starts() -> np.ndarray:
    """The 4500 starts of Hoffmann et al. / Besiroglu et al."""
    return _grid(GRID_A, GRID_B, GRID_E, GRID_ALPHA, GRID_BETA)


def _arrays(**cols: ArrayLike) -> list[np.ndarray]:
    """The named columns as float arrays, refused (naming the column and index) unless they are
    non-empty, of one length, positive and finite: logs of them are taken."""
    out = {k: np.asarray(v, dtype=float).ravel() for k, v in cols.items()}
    if len({x.size for x in out.values()}) != 1 or next(iter(out.values())).size == 0:
        raise KcapError(f"{', '.join(cols)} must be non-empty arrays of one length")
    for k, x in out.items():
        bad = np.flatnonzero(~(np.isfinite(x) & (x > 0)))
        if bad.size:
            raise KcapError(f"{k}[{bad[0]}] = {x[bad[0]]:g}: {', '.join(cols)} must be positive and finite")
    return list(out.values())


def _check_identifiable(n: np.ndarray, d: np.ndarray) -> None:
    """Refuse points that cannot determine Approach 3's constants, before spending a fit on them:
    the optimizer would return some minimum anyway, and its bootstrap a zero-width interval."""
    for values, field, what, consts in ((n, "params", "model sizes", "A and alpha"),
                                        (d, "tokens", "token counts", "B and beta")):
        k = distinct(values)
        if k < MIN_DISTINCT:
            raise KcapError(f"{field} holds {k} distinct value(s) among {values.size} points: Approach 3 needs "
                            f"at least {MIN_DISTINCT} {what} to identify {consts}")
    k = int(np.unique(np.column_stack([n, d]), axis=0).shape[0])
    if k < MIN_POINTS:
        raise KcapError(f"{k} distinct (params, tokens) points: Approach 3 needs at least {MIN_POINTS} "
                        "for its five constants")


def _flops(n: np.ndarray, d: np.ndarray, flops: ArrayLike | None) -> np.ndarray:
    """Training compute per point: the given FLOPs, or the standard C = 6 N D."""
    if flops is None:
        return 6.0 * n * d
    c = np.asarray(flops, dtype=float).ravel()
    if c.size != n.size or not np.all(np.isfinite(c) & (c > 0)):
        raise KcapError("flops must be positive and finite, one per point")
    return c


def _huber_lse(theta, log_n, log_d, log_l, delta):
    """Sum over points of Huber(LSE(a - alpha log N, b - beta log D, e) - log L), and its gradient.

    Kept to a dozen elementwise ufuncs over the points: L-BFGS-B calls it ~50 times per start and
    4500 starts are run. The Huber value is c (r - c/2) with c = clip(r, -delta, delta), which is
    also its derivative.
    """
    a, b, e, alpha, beta = theta
    t1 = a - alpha * log_n
    t2 = b - beta * log_d
    lse = np.logaddexp(np.logaddexp(t1, t2), e)
    r = lse - log_l
    c = np.minimum(np.maximum(r, -delta), delta)
    w1 = c * np.exp(t1 - lse)
    w2 = c * np.exp(t2 - lse)
    s1, s2 = w1.sum(), w2.sum()
    # The softmax weights sum to one, so the weight on e needs no third exp.
    grad = np.array([s1, s2, c.sum() - s1 - s2, -(w1 * log_n).sum(), -(w2 * log_d).sum()])
    return float((c * (r - 0.5 * c)).sum()), grad


def _one_blas_thread():
    """Run L-BFGS-B on one BLAS thread.

    scipy's L-BFGS-B does 5x5 linear algebra through OpenBLAS, which wakes its thread pool on
    every step, and on a busy machine each step then costs milliseconds instead of microseconds
    (measured on 2 busy cores: the 4500-start fit takes 14 s on one thread, 1 to ~14 minutes with
    the default pool). threadpoolctl limits every loaded BLAS and restores it afterwards.
    """
    return threadpool_limits(limits=1, user_api="blas")


FREE = [0, 1, 3, 4]  # theta's entries other than log E: what is fitted when E is known


def _huber_lse_known_e(theta4, log_e, log_n, log_d, log_l, delta):
    """_huber_lse with log E held at a known value: theta4 = (log A, log B, alpha, beta)."""
    f, g = _huber_lse(np.insert(theta4, 2, log_e), log_n, log_d, log_l, delta)
    return f, g[FREE]


def _best_of_starts(data: tuple, starts: np.ndarray, delta: float, log_e: float | None = None
                    ) -> tuple[np.ndarray, float]:
    """Run L-BFGS-B from every start and keep the lowest final objective. With ``log_e`` (a
    known floor) only the other four constants move: starts are then rows of (log A, log B,
    alpha, beta)."""
    if log_e is None:
        fun, args = _huber_lse, (*data, delta)
    else:
        fun, args = _huber_lse_known_e, (log_e, *data, delta)
    best_x, best_f = None, np.inf
    with np.errstate(over="ignore", invalid="ignore"), _one_blas_thread():
        for x0 in starts:
            res = minimize(fun, x0, args=args, jac=True, method="L-BFGS-B", options=LBFGS_OPTIONS)
            if np.isfinite(res.fun) and res.fun < best_f and np.all(np.isfinite(res.x)):
                best_x, best_f = res.x, float(res.fun)
    if best_x is None:
        raise KcapError("Approach 3 fit failed from every start")
    return (best_x if log_e is None else np.insert(best_x, 2, log_e)), best_f


def _summary(theta: np.ndarray, objective: float, n_points: int, n_starts: int, known_e: bool = False) -> dict:
    log_a, log_b, log_e, alpha, beta = (float(v) for v in theta)
    A, B = float(np.exp(log_a)), float(np.exp(log_b))
    G, a, b = frontier(A, B, alpha, beta)  # reported with the fit; kcap optimal recomputes them
    return {"E": float(np.exp(log_e)), "A": A, "B": B, "alpha": alpha, "beta": beta, "a": a, "b": b, "G": G,
            "objective": objective, "n_points": n_points, "n_starts": n_starts, "E_known": known_e}


def _theta(fit: dict) -> np.ndarray:
    return np.array([np.log(fit["A"]), np.log(fit["B"]), np.log(fit["E"]), fit["alpha"], fit["beta"]])


def fit_approach3(params: ArrayLike, tokens: ArrayLike, loss: ArrayLike, delta: float = DELTA, *,
                  starts: np.ndarray | None = None, E: float | None = None) -> dict:
    """Fit L(N, D) = E + A/N^alpha + B/D^beta (Approach 3) from every start of the standard grid.

    Fitting log L through a log-sum-exp keeps all scales positive and the residuals relative; the
    Huber loss with a tiny delta is nearly L1, so a few bad runs cannot drag the exponents. The
    surface has many local minima (A and E trade off), hence the 4500 starts. `starts` (rows of
    log A, log B, log E, alpha, beta) replaces the grid, e.g. for bootstrap refits. Points with
    fewer than 3 distinct sizes or token counts, or 6 distinct points, are refused (KcapError).

    `E`, where the irreducible loss is known exactly (random strings: the entropy of which string
    comes), holds it there and fits the other four constants (900 starts: the grid without E); it
    must lie below every observed loss, or the law could not reach the points.
    """
    n, d, l = _arrays(params=params, tokens=tokens, loss=loss)
    _check_identifiable(n, d)
    log_e = _known_log_e(E, l)
    return _fit3(n, d, l, delta, default_starts() if starts is None else starts, log_e)


def _known_log_e(E: float | None, loss: np.ndarray) -> float | None:
    if E is None:
        return None
    if not (np.isfinite(E) and 0 < E < loss.min()):
        raise KcapError(f"E = {E:g}: a known floor must be positive and below the lowest observed loss "
                        f"{loss.min():.4g}")
    return float(np.log(E))


def _fit3(n: np.ndarray, d: np.ndarray, l: np.ndarray, delta: float, starts: ArrayLike,
          log_e: float | None = None) -> dict:
    """Approach 3 on checked arrays. Bootstrap resamples come here unchecked: a resample that drew
    only two sizes fits badly, and that spread belongs in the interval."""
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    if log_e is not None:  # E known: the distinct starts of the other four constants
        starts = np.unique(starts[:, FREE], axis=0)
    theta, objective = _best_of_starts((np.log(n), np.log(d), np.log(l)), starts, delta, log_e)
    return _summary(theta, objective, n.size, len(starts), log_e is not None)


def approach3_loss(fit: dict, params: ArrayLike, tokens: ArrayLike) -> float | np.ndarray:
    """The fitted law's loss at (N, D)."""
    n, d = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    return _scalar(fit["E"] + fit["A"] / n ** fit["alpha"] + fit["B"] / d ** fit["beta"])


def bootstrap_approach3(params: ArrayLike, tokens: ArrayLike, loss: ArrayLike, n_boot: int = 200, seed: int = 0,
                        percentiles: tuple[float, float] = (5, 95), *, fit: dict | None = None,
                        delta: float = DELTA, E: float | None = None) -> dict:
    """Percentile intervals for the Approach 3 constants by resampling points with replacement.

    Each refit starts from the full fit's optimum plus BOOT_GRID (17 starts, not 4500): a
    resample's optimum lies near the original one, and the coarse grid guards against a resample
    moving to another basin. Pass `fit` to reuse a full fit already made; `E`, a known floor, is
    held in every refit as in the fit (E's interval then has zero width by construction).
    """
    n, d, l = _arrays(params=params, tokens=tokens, loss=loss)
    fit = fit_approach3(n, d, l, delta, E=E) if fit is None else fit
    log_e = _known_log_e(E, l)
    starts = np.vstack([_theta(fit), _grid(*BOOT_GRID.values())])
    rng = np.random.default_rng(seed)
    samples = {k: [] for k in CI_KEYS}
    for _ in range(n_boot):
        idx = rng.integers(0, n.size, n.size)
        refit = _fit3(n[idx], d[idx], l[idx], delta, starts, log_e)
        for k in CI_KEYS:
            samples[k].append(refit[k])
    ci = {k: [float(np.percentile(v, p)) for p in percentiles] for k, v in samples.items()}
    return {"fit": fit, "ci": ci, "percentiles": list(percentiles), "n_boot": n_boot, "samples": samples}


def _power_law(flops: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and prefactor k of y = k C^slope, by least squares in log-log."""
    slope, intercept = np.polyfit(np.log(flops), np.log(y), 1)
    return float(slope), float(np.exp(intercept))


def _group_budgets(log10_c: np.ndarray, tol: float) -> np.ndarray:
    """Label points by compute budget: in sorted log10 C, a gap of more than tol starts a new one."""
    order = np.argsort(log10_c)
    labels = np.empty(log10_c.size, dtype=int)
    labels[order] = np.concatenate([[0], np.cumsum(np.diff(log10_c[order]) > tol)])
    return labels


def fit_approach2(params: ArrayLike, tokens: ArrayLike, loss: ArrayLike, flops: ArrayLike | None = None,
                  *, budget: ArrayLike | None = None, tol: float = 0.05) -> dict:
    """IsoFLOP profiles (Approach 2): per budget, the loss-minimizing N from a parabola in log N.

    Points are grouped by compute: an explicit `budget` (nominal FLOPs per point, equal values
    form a group) or else by log10 of `flops` (default 6 N D), a gap over `tol` between sorted
    values separating two budgets. A budget needs at least 3 distinct sizes and a parabola opening
    upward, otherwise it has no minimum and is skipped. N_opt(C) and D_opt(C) = C / (6 N_opt) are then fitted as power laws of C.
    """
    n, d, l = _arrays(params=params, tokens=tokens, loss=loss)
    c = _flops(n, d, flops)
    if budget is None:
        labels = _group_budgets(np.log10(c), tol)
    else:
        budget = _flops(n, d, budget)
        labels = np.unique(budget, return_inverse=True)[1]
    minima = []
    for g in np.unique(labels):
        m = labels == g
        if np.unique(n[m]).size < 3:
            continue
        c_g = float(budget[m][0]) if budget is not None else float(np.exp(np.log(c[m]).mean()))
        x = np.log(n[m])
        curv, lin, const = np.polyfit(x, l[m], 2)
        if curv <= 0:
            continue
        x_opt = -lin / (2 * curv)
        n_opt = float(np.exp(x_opt))
        minima.append({"flops": c_g, "N_opt": n_opt, "D_opt": c_g / (6.0 * n_opt),
                       "loss_opt": float(const - lin**2 / (4 * curv)),
                       "interior": bool(x.min() <= x_opt <= x.max()), "n_points": int(m.sum())})
    if len(minima) < 2:
        raise KcapError(f"Approach 2 needs at least 2 budgets with an IsoFLOP minimum, found {len(minima)}")
    cs = np.array([m["flops"] for m in minima])
    a, k_n = _power_law(cs, np.array([m["N_opt"] for m in minima]))
    b, k_d = _power_law(cs, np.array([m["D_opt"] for m in minima]))
    # A parabola's minimum beyond the sizes trained is an extrapolation, not a measured optimum.
    outside = [f"{m['flops']:.3g}" for m in minima if not m["interior"]]
    why = [f"IsoFLOP minima at C = {', '.join(outside)} lie outside the sizes trained"] if outside else []
    return {"a": a, "b": b, "N_coef": k_n, "D_coef": k_d, "minima": minima, "n_budgets": len(minima),
            **verdict(why)}


def fit_approach1(params: ArrayLike, tokens: ArrayLike, loss: ArrayLike, flops: ArrayLike | None = None,
                  n_bins: int = 40, *, drop_edges: bool = True) -> dict:
    """Lower envelope of loss over FLOPs (Approach 1) from logged (run, step) points.

    log10 FLOPs is cut into n_bins equal bins and each bin keeps its lowest-loss point; the
    envelope's N and D are then fitted as power laws of C. With `drop_edges`, envelope points
    from the smallest or largest model are dropped: there the true optimum may lie outside the
    sizes trained, and the envelope only says "this size or beyond".
    """
    n, d, l = _arrays(params=params, tokens=tokens, loss=loss)
    c = _flops(n, d, flops)
    log_c = np.log10(c)
    edges = np.linspace(log_c.min(), log_c.max(), n_bins + 1)
    bins = np.clip(np.digitize(log_c, edges) - 1, 0, n_bins - 1)
    winners = {int(np.flatnonzero(bins == k)[np.argmin(l[bins == k])]) for k in np.unique(bins)}
    env = np.array(sorted(winners, key=lambda i: c[i]))
    if drop_edges:
        env = env[(n[env] > n.min()) & (n[env] < n.max())]
    if np.unique(c[env]).size < 2:
        raise KcapError("Approach 1 needs at least 2 envelope points away from the smallest and largest model")
    if distinct(n[env]) < 2:  # one size all along the envelope: N_opt ∝ C^0 by construction
        raise KcapError("Approach 1's envelope holds one model size away from the smallest and largest: "
                        "N_opt's exponent is not identified")
    a, k_n = _power_law(c[env], n[env])
    b, k_d = _power_law(c[env], d[env])
    envelope = [{"flops": float(c[i]), "N": float(n[i]), "D": float(d[i]), "loss": float(l[i])} for i in env]
    return {"a": a, "b": b, "N_coef": k_n, "D_coef": k_d, "envelope": envelope, "n_envelope": len(envelope),
            **verdict([])}


def _exponents(approach, keys: tuple[str, ...], *args) -> dict:
    """An approach's exponents, or not identified with the reason: Approaches 1 and 2 need sweeps
    of a particular shape (an envelope, IsoFLOP budgets) that a set of points may not have, and
    Approach 3 is the fit of record, so their failure marks them rather than refusing the fit."""
    try:
        return {k: v for k, v in approach(*args).items() if k in (*keys, "identified", "why")}
    except (KcapError, ValueError, np.linalg.LinAlgError) as e:
        return verdict([str(e)])


def _approach3_why(fit: dict, ci: dict, min_loss: float) -> list[str]:
    """Why Approach 3's constants are not identified (empty when they are): non-finite scales, an
    exponent off the searched range, E pinned at the best loss seen, an exponent whose interval is
    as wide as itself (the data cannot tell it from half or twice its value), a degenerate bootstrap."""
    why = [f"{k} = {fit[k]:.4g} is not a finite positive number" for k in not_finite(fit, ("E", "A", "B", "G"))]
    lo, hi = EXPONENT_RANGE
    for k, term in (("alpha", "N"), ("beta", "D")):
        if not lo <= fit[k] <= hi:  # nan fails too
            why.append(f"{k} = {fit[k]:.4g} is outside [{lo:g}, {hi:g}]: the {term} term is not identified "
                       "(its exponent traded against its scale)")
    if not fit.get("E_known") and not fit["E"] < (1 - E_FLOOR_GAP) * min_loss:
        why.append(f"E = {fit['E']:.4g} is pinned at the lowest observed loss {min_loss:.4g}: no loss is left "
                   "to reduce, so A, B and the exponents are not identified")
    for k in ("alpha", "beta", "a", "b"):
        lo, hi = ci[k]
        if not (np.isfinite(lo) and np.isfinite(hi) and hi - lo < abs(fit[k])):
            why.append(f"{k}'s 90% interval [{lo:.3g}, {hi:.3g}] is not narrower than {k} = {fit[k]:.3g} itself")
    zero = zero_width(ci, ("alpha", "beta") if fit.get("E_known") else ("E", "alpha", "beta"))
    if zero:
        why.append(f"bootstrap interval of zero width for {', '.join(zero)} (every resample gave one fit)")
    return why


def fit_compute_law(params: ArrayLike, tokens: ArrayLike, loss: ArrayLike, flops: ArrayLike | None = None,
                    n_boot: int = 100, E: float | None = None) -> dict:
    """All three approaches on one set of points, as ``kcap fit compute`` reports them.

    Approach 3's constants with bootstrap intervals (ci, and the bootstrap samples, from which
    ``kcap optimal --fit`` draws its interval on N_opt) and its ``identified`` / ``why``, plus the
    exponents a and b of Approaches 1 and 2 with their own ``identified`` / ``why``. Points that
    cannot identify Approach 3 at all are refused (KcapError) before any fit. ``E``: a known
    irreducible loss, held fixed in Approach 3 (``fit_approach3``).
    """
    if n_boot < 2:  # a percentile interval of 0 or 1 resamples has zero width by construction
        raise KcapError(f"n_boot = {n_boot}: the bootstrap needs at least 2 resamples")
    if np.size(params) < MIN_POINTS:
        raise KcapError(f"{np.size(params)} points are too few for a compute-law fit (need at least {MIN_POINTS})")
    with np.errstate(all="ignore"):  # degenerate fits overflow exp(a) on the way; the result says so
        fit3 = fit_approach3(params, tokens, loss, E=E)
        boot = bootstrap_approach3(params, tokens, loss, n_boot=n_boot, fit=fit3, E=E)
    why = _approach3_why(fit3, boot["ci"], float(np.min(loss)))
    return {**fit3, "ci": boot["ci"], "n_boot": n_boot, **verdict(why),
            "approach1": _exponents(fit_approach1, ("a", "b"), params, tokens, loss, flops),
            "approach2": _exponents(fit_approach2, ("a", "b", "n_budgets", "minima"), params, tokens, loss, flops),
            "samples": boot["samples"]}
