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
    n_opt, d_opt = G * c6 ** a, c6 ** b / G
    return {"N_opt": _scalar(n_opt), "D_opt": _scalar(d_opt), "tokens_per_param": _scalar(d_opt / n_opt)}


def tokens_for_params(law: Mapping, params: ArrayLike) -> FloatOrArray:
    """Tokens D at which a model of ``params`` parameters is compute-optimal: N_opt(C) inverted."""
    G, a, b = _frontier_of(law)
    c6 = (np.asarray(params, dtype=float) / G) ** (1.0 / a)
    return _scalar(c6 ** b / G)


def n_opt_interval(samples: Mapping[str, Sequence[float]], flops: float,
                   percentiles: tuple[float, float] = (5, 95)) -> list[float]:
    """Percentile interval of N_opt(C) over bootstrap samples of the constants (``fit compute --out``)."""
    G, a, _ = frontier(samples["A"], samples["B"], samples["alpha"], samples["beta"])
    return [float(v) for v in np.percentile(G * (flops / 6.0) ** a, percentiles)]


def load_compute_law(path: Path | None) -> dict:
    """The constants of a compute-law fit file (``kcap fit compute --out``), or the default law."""
    if path is None:
        return dict(DEFAULT_COMPUTE_LAW)
    try:
        law = json.loads(Path(path).read_text())
        return {**{k: float(law[k]) for k in LAW_KEYS}, "source": str(path), "samples": law.get("samples")}
    except FileNotFoundError:
        raise KcapError(f"--fit {path} does not exist") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise KcapError(f"--fit {path} is not a compute-law fit ({e.__class__.__name__}: {e})") from None


def capacity_ratio(path: Path | None, exposures: int) -> tuple[float, str]:
    """Bits per parameter R and where it comes from: a capacity fit file, or the paper."""
    if path is None:
        if exposures not in PAPER_CAPACITY:
            raise KcapError(f"--exposures {exposures}: the paper gives a capacity ratio only at 100 and 1000 "
                            "exposures; pass --capacity FIT (from `kcap fit capacity --out`) for others")
        return PAPER_CAPACITY[exposures], f"paper, {exposures} exposures"
    try:
        ratio = float(json.loads(Path(path).read_text())["ratio"])
    except FileNotFoundError:
        raise KcapError(f"--capacity {path} does not exist") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise KcapError(f"--capacity {path} is not a capacity fit ({e.__class__.__name__})") from None
    if not (np.isfinite(ratio) and ratio > 0):  # a model storing nothing needs no data: no answer
        raise KcapError(f"--capacity {path}: ratio {ratio} bits/param is not positive")
    return ratio, str(path)


def for_flops(law: Mapping, flops: float) -> dict:
    """Compute-optimal N and D at budget C, with a bootstrap interval on N_opt when the law has samples."""
    samples = law.get("samples")
    return {"flops": flops, "source": law.get("source"), **optimal_allocation(law, flops),
            "N_opt_interval": n_opt_interval(samples, flops) if samples else None}


def for_params(law: Mapping, params: float, ratio: float, exposures: int) -> dict:
    """The data a model of ``params`` parameters needs, by the compute law and by the capacity law.

    Capacity side: the bioS population whose bits_max the model holds at ``ratio`` bits/param
    (people is None when that exceeds every possible name), and the tokens ``exposures`` of it take.
    """
    d = tokens_for_params(law, params)
    out = {"params": params, "source": law.get("source"), "D_opt": d, "tokens_per_param": d / params,
           "flops": 6 * params * d, "bits": ratio * params, "exposures": exposures}
    from kcap.kinds.bios.plan import expected_bio_tokens, people_for_bits  # bioS's own estimates

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
    answer. The capacity ratio is needed (and checked) only with ``params``.
    """
    if (flops is None) == (params is None):
        raise KcapError("give exactly one of --flops or --params")
    if (flops is not None and flops <= 0) or (params is not None and params <= 0):
        raise KcapError("--flops and --params must be positive")
    law = load_compute_law(fit)
    if flops is not None:
        return {"mode": "flops", **for_flops(law, flops)}
    ratio, where = capacity_ratio(capacity, exposures)
    return {"mode": "params", **for_params(law, params, ratio, exposures), "capacity_source": where}
