"""The verdict rule, and the statistics behind a measured value (kept free of torch).

A claim of the paper is one or more *parts*, each a number the paper states and a rule saying how
that number is read (``Paper.rule``). The rule, as the report states it, is ``RULE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RULES = ("level", "at_least", "at_most", "factor")
VERDICTS = ("reproduced", "same direction", "not reproduced", "not run")
TOLERANCE = 0.15  # the ±15% of the rule
CONFIDENCE = 0.90  # kcap's interval
BOOTSTRAP = 4000  # resamples
RULE = (
    "Each claim is one or more parts: a number the paper states, read by one of four rules.",
    "**level** (\"about v\"): *reproduced* when v lies in kcap's 90% interval or kcap's value is within "
    "±15% of v; *same direction* when it is within a factor of 2 (the same order, another size); otherwise "
    "*not reproduced*.",
    "**at least** (\"v or more\"): *reproduced* when kcap's value is at least 0.85·v or its interval reaches "
    "v; *same direction* when it is at least v/2; otherwise *not reproduced*.",
    "**at most** (\"never above v\"): *reproduced* when kcap's value is at most 1.15·v or its interval "
    "reaches down to v; otherwise *not reproduced*.",
    "**factor** (\"v times worse\", v > 1): *reproduced* as for level; *same direction* when kcap also "
    "measures worse (above 1, its interval too when there is one); otherwise *not reproduced*. "
    "\"Unchanged\" (v = 1) has no direction: level applies.",
    "A part with no measured run is *not run*, and so is one whose reference run (no junk, GPT2) stored under "
    "5% of bits_max: its ratio is noise, shown but not judged. A claim takes the weakest verdict among its parts that ran "
    "(reproduced > same direction > not reproduced); parts not run are listed, not counted; a claim none of "
    "whose parts ran is *not run*. Intervals are 90% bootstrap intervals over runs (seeds), none for one run.",
)
RULE_TEXT = "\n".join(RULE)


@dataclass(frozen=True)
class Paper:
    """What the paper states for one part of a claim."""

    value: float
    """The paper's number (bits/param, a ratio, or a factor "× worse")."""
    text: str
    """The paper's statement, as SCIENCE.md §4 words it."""
    rule: str = "level"
    """How ``value`` is read: level, at_least, at_most or factor (see the module docstring)."""

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")


@dataclass(frozen=True)
class Measured:
    """What kcap measured for one part: a value, its 90% interval (None with a single run) and
    how many runs it stands on. ``value`` may be inf (a factor over a run that stored nothing)."""

    value: float
    ci: tuple[float, float] | None
    n_runs: int

    def to_dict(self) -> dict:
        finite = math.isfinite(self.value)
        return {"value": self.value if finite else None, "ci": list(self.ci) if self.ci else None,
                "n_runs": self.n_runs, **({} if finite else {"infinite": True})}


def verdict(paper: Paper, m: Measured | None) -> str:
    """The verdict of one part (see the module docstring)."""
    if m is None or math.isnan(m.value):
        return "not run"
    v, x = paper.value, m.value
    lo, hi = m.ci if m.ci else (x, x)
    within = lo <= v <= hi or (math.isfinite(x) and abs(x / v - 1) <= TOLERANCE)
    if paper.rule == "at_least":
        if x >= (1 - TOLERANCE) * v or hi >= v:
            return "reproduced"
        return "same direction" if x >= v / 2 else "not reproduced"
    if paper.rule == "at_most":
        return "reproduced" if x <= (1 + TOLERANCE) * v or lo <= v else "not reproduced"
    if within:
        return "reproduced"
    if paper.rule == "factor" and v > 1:
        return "same direction" if x > 1 and lo > 1 else "not reproduced"
    return "same direction" if 0 < x and 0.5 <= x / v <= 2 else "not reproduced"


def combine(verdicts: list[str]) -> str:
    """A claim's verdict from its parts': the weakest of those that ran."""
    ran = [v for v in verdicts if v != "not run"]
    return max(ran, key=VERDICTS.index) if ran else "not run"


def mean_ci(values: list[float], seed: int = 0) -> Measured:
    """The mean of ``values`` with a 90% bootstrap interval of the mean (None for one value).
    Same values, same interval: the resampling is seeded."""
    a = np.asarray(values, float)
    if a.size == 0:
        raise ValueError("no values")
    if a.size == 1 or not np.isfinite(a).all():
        return Measured(float(a.mean()), None, int(a.size))
    rng = np.random.default_rng(seed)
    means = a[rng.integers(0, a.size, size=(BOOTSTRAP, a.size))].mean(axis=1)
    q = (1 - CONFIDENCE) / 2
    return Measured(float(a.mean()), (float(np.quantile(means, q)), float(np.quantile(means, 1 - q))), int(a.size))


def ratio_ci(num: list[float], den: list[float], seed: int = 0) -> Measured:
    """mean(num) / mean(den), with a 90% bootstrap interval resampling each side's runs (None when
    both sides are single runs). The denominator at or below 0 gives inf: a model that stored
    nothing is worse than any factor."""
    a, b = np.asarray(num, float), np.asarray(den, float)
    if b.mean() <= 0:
        return Measured(math.inf, None, int(a.size + b.size))
    value = float(a.mean() / b.mean())
    if a.size == 1 and b.size == 1:
        return Measured(value, None, 2)
    rng = np.random.default_rng(seed)
    na = a[rng.integers(0, a.size, size=(BOOTSTRAP, a.size))].mean(axis=1)
    nb = b[rng.integers(0, b.size, size=(BOOTSTRAP, b.size))].mean(axis=1)
    r = np.where(nb > 0, na / np.where(nb > 0, nb, 1), np.inf)
    q = (1 - CONFIDENCE) / 2
    return Measured(value, (float(np.quantile(r, q)), float(np.quantile(r, 1 - q))), int(a.size + b.size))
