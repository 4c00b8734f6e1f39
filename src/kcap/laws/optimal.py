"""Compute-optimal allocation, the published laws it defaults to, and the data a model needs.

The one home of the compute-optimal frontier (SCIENCE.md §5). Minimizing
L(N, D) = E + A/N^alpha + B/D^beta on the isoFLOP N·D = C/6 gives

    N_opt = G·(C/6)^a,   D_opt = (C/6)^b / G,
    G = (alpha·A / (beta·B))^(1/(alpha+beta)),   a = beta/(alpha+beta),   b = alpha/(alpha+beta).

Fits (``laws.compute``), ``kcap optimal`` and its bootstrap interval all go through ``frontier``.

The capacity side of "how much data does a model of P parameters need": a capacity-bound model
holds R·P bits, i.e. the bits_max of some bioS population, and E exposures of that population
take E · people · (tokens per biography) tokens: bioS's own estimates (``kcap.kinds.bios.plan``),
imported lazily; they pull in no torch, so laws/ stays numpy/scipy only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike

from kcap.errors import KcapError

LAW_KEYS = ("E", "A", "B", "alpha", "beta")

# Hoffmann et al. 2022's published Approach 3 fit; poorly converged (Besiroglu et al. 2024), kept
# for comparison. Read-only: every caller shares these.
CHINCHILLA = MappingProxyType({"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28,
                               "source": "Hoffmann et al. 2022 (Chinchilla), published fit"})
# Besiroglu et al. 2024's refit of the same data, the default: 20-26 tokens/param from 1e18 to 1e22
# FLOPs, falling slowly with compute (18 at Chinchilla's own 5.8e23).
CHINCHILLA_REFIT = MappingProxyType({"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366,
                                     "source": "Besiroglu et al. 2024 refit of Chinchilla"})
DEFAULT_COMPUTE_LAW = CHINCHILLA_REFIT

# The paper's capacity ratio R in bits/param, by exposures per fact (SCIENCE.md: ~1 bit/param at
# 100 exposures, ~2 at 1000). It gives no ratio at other exposure counts.
PAPER_CAPACITY = MappingProxyType({100: 1.0, 1000: 2.0})

FloatOrArray = float | np.ndarray  # scalars in, floats out; arrays in, arrays out
Frontier = tuple[FloatOrArray, FloatOrArray, FloatOrArray]  # (G, a, b)


def _scalar(x: ArrayLike) -> FloatOrArray:
    """A float for scalar input, an array otherwise (callers pass either)."""
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def frontier(A: ArrayLike, B: ArrayLike, alpha: ArrayLike, beta: ArrayLike) -> Frontier:
    """(G, a, b) of the compute-optimal frontier; arrays in, arrays out (e.g. bootstrap samples).

    Degenerate constants (alpha or beta 0, as a failed fit can return) give inf or nan, not an
    error: the fit's output then says so instead of the fit crashing.
    """
    A, B, alpha, beta = (np.asarray(v, dtype=float) for v in (A, B, alpha, beta))
    with np.errstate(all="ignore"):
        s = alpha + beta
        G = (alpha * A / (beta * B)) ** (1.0 / s)
        return _scalar(G), _scalar(beta / s), _scalar(alpha / s)


def _frontier_of(law: Mapping) -> Frontier:
    return frontier(law["A"], law["B"], law["alpha"], law["beta"])


def optimal_allocation(law: Mapping, flops: ArrayLike) -> dict:
    """Compute-optimal N and D for budget C under the law (with C = 6 N D).

    G, a and b are recomputed from the constants, never read from ``law``: a fit file edited by
    hand or written by an older kcap cannot disagree with its own constants.
    """
    G, a, b = _frontier_of(law)
    c6 = np.asarray(flops, dtype=float) / 6.0
    with np.errstate(all="ignore"):  # overflow gives inf, which plan_optimal refuses by name
        n_opt, d_opt = G * c6 ** a, c6 ** b / G
        ratio = d_opt / n_opt
    return {"N_opt": _scalar(n_opt), "D_opt": _scalar(d_opt), "tokens_per_param": _scalar(ratio)}


def tokens_for_params(law: Mapping, params: ArrayLike) -> FloatOrArray:
    """Tokens D at which a model of ``params`` parameters is compute-optimal: N_opt(C) inverted."""
    G, a, b = _frontier_of(law)
    with np.errstate(all="ignore"):  # overflow gives inf, which plan_optimal refuses by name
        c6 = (np.asarray(params, dtype=float) / G) ** (1.0 / a)
        return _scalar(c6 ** b / G)


def n_opt_interval(samples: Mapping[str, Sequence[float]], flops: float,
                   percentiles: tuple[float, float] = (5, 95)) -> list[float] | None:
    """Percentile interval of N_opt(C) over bootstrap samples of the constants (``fit compute --out``).

    None when any sample has no finite N_opt (a refit with an exponent <= 0 has no frontier):
    dropping those samples would narrow the interval, and keeping them would print nan or inf.
    """
    G, a, _ = frontier(samples["A"], samples["B"], samples["alpha"], samples["beta"])
    with np.errstate(all="ignore"):
        n_opt = np.asarray(G * (flops / 6.0) ** a, dtype=float)
    if not np.all(np.isfinite(n_opt) & (n_opt > 0)):
        return None
    return [float(v) for v in np.percentile(n_opt, percentiles)]


def _positive(value: object, what: str) -> float:
    """``value`` as a finite positive float, or a one-line refusal naming ``what``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise KcapError(f"{what} = {value!r} is not a number") from None
    if not math.isfinite(v):
        raise KcapError(f"{what} = {v:g} is not a finite number")
    if v <= 0:
        raise KcapError(f"{what} = {v:g} is not positive")
    return v


def _read_fit(path: Path, option: str, keys: tuple[str, ...], made_by: str) -> dict:
    """A fit file as a JSON object holding ``keys``, refused in one line otherwise, and refused
    when the fit marked itself not identified: planning from it would print a number the data
    never determined. Files from before the flag existed carry none and are read."""
    try:
        law = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise KcapError(f"{option} {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KcapError(f"{option} {path} is not a JSON fit file ({e.__class__.__name__})") from None
    if not isinstance(law, dict):
        raise KcapError(f"{option} {path} must hold a JSON object (from `{made_by}`)")
    missing = [k for k in keys if k not in law]
    if missing:
        raise KcapError(f"{option} {path}: missing key(s) {', '.join(missing)} (not a fit from `{made_by}`)")
    if law.get("identified") is False:
        raise KcapError(f"{option} {path}: the fit is not identified ({law.get('why')}); refit on runs that determine it")
    return law


def _samples(samples: object, path: Path) -> dict | None:
    """Bootstrap samples of a fit file as float arrays of one length, or None when it has none."""
    if samples is None:
        return None
    keys = ("A", "B", "alpha", "beta")
    try:
        out = {k: np.asarray([np.nan if v is None else v for v in samples[k]], dtype=float) for k in keys}
    except (KeyError, TypeError, ValueError):
        out = None
    if out is None or len({v.size for v in out.values()}) != 1 or out["A"].size < 2:
        raise KcapError(f"--fit {path}: 'samples' must map {', '.join(keys)} to lists of numbers of one length")
    return out


def load_compute_law(path: Path | None) -> dict:
    """The constants of a compute-law fit file (``kcap fit compute --out``), or the default law."""
    if path is None:
        return dict(DEFAULT_COMPUTE_LAW)
    law = _read_fit(path, "--fit", LAW_KEYS, "kcap fit compute --out")
    return {**{k: _positive(law[k], f"--fit {path}: {k}") for k in LAW_KEYS}, "source": str(path),
            "samples": _samples(law.get("samples"), path)}


def capacity_ratio(path: Path | None, exposures: int) -> tuple[float, str]:
    """Bits per parameter R and where it comes from: a capacity fit file, or the paper."""
    if path is None:
        if exposures not in PAPER_CAPACITY:
            raise KcapError(f"--exposures {exposures}: the paper gives a capacity ratio only at 100 and 1000 "
                            "exposures; pass --capacity FIT (from `kcap fit capacity --out`) for others")
        return PAPER_CAPACITY[exposures], f"paper, {exposures} exposures"
    fit = _read_fit(path, "--capacity", ("ratio",), "kcap fit capacity --out")
    # a model storing nothing (or less) needs no data: no answer
    return _positive(fit["ratio"], f"--capacity {path}: ratio (bits/param)"), str(path)


def for_flops(law: Mapping, flops: float) -> dict:
    """Compute-optimal N and D at budget C, with a bootstrap interval on N_opt when the law has samples."""
    samples = law.get("samples")
    out = {"flops": flops, "source": law.get("source"), **optimal_allocation(law, flops),
           "N_opt_interval": n_opt_interval(samples, flops) if samples is not None else None}
    if samples is not None and out["N_opt_interval"] is None:
        out["N_opt_interval_why"] = "some bootstrap refits have no compute-optimal frontier"
    return out


def for_params(law: Mapping, params: float, ratio: float, exposures: int) -> dict:
    """The data a model of ``params`` parameters needs, by the compute law and by the capacity law.

    Capacity side: the bioS population whose bits_max the model holds at ``ratio`` bits/param
    (people is None when that exceeds every possible name), and the tokens ``exposures`` of it take.
    """
    d = tokens_for_params(law, params)
    out = {"params": params, "source": law.get("source"), "D_opt": d, "tokens_per_param": d / params,
           "flops": 6 * params * d, "bits": ratio * params, "exposures": exposures}
    from kcap.kinds.bios.plan import expected_bio_tokens, people_for_bits  # bioS's own estimates

    if out["bits"] < 1:  # below one bit there is no population to speak of (and no root to find)
        raise KcapError(f"--params {params:g}: {out['bits']:.3g} bits of capacity is less than one bit, "
                        "beyond what the capacity law can answer")
    people = people_for_bits(out["bits"])
    out["people"] = people
    if people is not None:
        tokens = exposures * people * expected_bio_tokens()
        out |= {"bits_per_person": out["bits"] / people, "tokens": tokens,
                "capacity_tokens_per_param": tokens / params}
    return out


def plan_optimal(flops: float | None = None, params: float | None = None, fit: Path | None = None,
                 capacity: Path | None = None, exposures: int = 1000) -> dict:
    """``kcap optimal``: the allocation for a budget (``flops``) or the data for a model (``params``).

    Every input is checked and loaded before anything is computed, so an error leaves no partial
    answer; an answer that overflows (or underflows to 0) is refused rather than printed as inf
    or nan. The capacity ratio is needed (and checked) only with ``params``.
    """
    if (flops is None) == (params is None):
        raise KcapError("give exactly one of --flops or --params")
    option, value = ("--flops", flops) if flops is not None else ("--params", params)
    value = _positive(value, option)  # nan, inf and 1e400 (read as inf) stop here
    if params is not None and value < 1:
        raise KcapError(f"--params {value:g}: a model has at least one parameter")
    if exposures < 1:
        raise KcapError(f"--exposures {exposures} must be at least 1")
    law = load_compute_law(fit)
    if flops is not None:
        return _answerable({"mode": "flops", **for_flops(law, value)}, option, value)
    ratio, where = capacity_ratio(capacity, exposures)
    return _answerable({"mode": "params", **for_params(law, value, ratio, exposures), "capacity_source": where},
                       option, value)


def _answerable(result: dict, option: str, value: float) -> dict:
    """``result`` if every number in it is finite and positive, and N_opt and D_opt are at least one
    parameter and one token, else a one-line refusal: a budget or model far outside any fit can
    overflow (or underflow) the power laws, and a printed inf, 0 or 1e-156 params would be wrong."""
    for k, v in result.items():
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, (int, float)) and not isinstance(x, bool) and not (math.isfinite(x) and x > 0):
                raise KcapError(f"{option} {value:g}: {k} = {x:g} is beyond what the law can answer "
                                "(not a finite positive number)")
    for k in ("N_opt", "D_opt"):
        if k in result and result[k] < 1:
            raise KcapError(f"{option} {value:g}: {k} = {result[k]:.3g} is less than one, beyond what the law can answer")
    return result
