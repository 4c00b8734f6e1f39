"""The report's figures, in the manner of the paper: bits vs parameters (Figure 1) for the
capacity claims, bars against the paper's values for quantization and architectures, and the junk
ratios against exposures. Each takes a claim's outcome and returns the PNG it wrote, or None when
the claim has no measured runs."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402

from kcap.report.capacity import capacity_plot  # noqa: E402
from kcap.report.figure import save  # noqa: E402
from kcap.reproduce.compute_claims import curve  # noqa: E402
from kcap.reproduce.run import Outcome  # noqa: E402


def _finish(fig, ax, path: Path, title: str, legend: int = 8) -> Path:
    """What every figure ends with: its title, legend and layout, then the checked save."""
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=legend)
    fig.tight_layout()
    return save(fig, path)


def capacity(o: Outcome, path: Path) -> Path | None:
    if not o.results:
        return None
    return capacity_plot([r.row for r in o.results], path, title=f"{o.claim.id}: {o.claim.title}")


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def parts_bars(o: Outcome, path: Path, ylabel: str) -> Path | None:
    """One bar per part that ran (kcap, with its 90% interval) and the paper's value beside it."""
    ran = [p for p in o.parts if p.measured is not None]
    if not ran:
        return None
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(ran) + 2), 4.2), dpi=120)
    xs = range(len(ran))
    vals = [p.measured.value if _finite(p.measured.value) else float("nan") for p in ran]
    ax.bar([x - 0.2 for x in xs], vals, width=0.4, color="#4c72b0", label="kcap (90% interval)")
    for x, p in zip(xs, ran):
        if p.measured.ci and all(map(_finite, p.measured.ci)):
            lo, hi = p.measured.ci
            ax.plot([x - 0.2] * 2, [lo, hi], color="k", lw=1.2)
        if not _finite(p.measured.value):
            ax.annotate("∞", (x - 0.2, 1), ha="center", va="bottom")
    ax.bar([x + 0.2 for x in xs], [p.paper.value for p in ran], width=0.4, color="#dd8452", label="paper")
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_xticks(list(xs), [p.label.replace(", ", "\n", 1) for p in ran], fontsize=7)
    ax.set_ylabel(ylabel)
    return _finish(fig, ax, path, f"{o.claim.id}: {o.claim.title}")


def quantization(o: Outcome, path: Path) -> Path | None:
    """bits/param as trained, after int8 and after int4, per model (mean over seeds), beside the
    paper's ≈ 2 (fp32 and int8) and ≈ 0.7 (int4)."""
    runs = [r for r in o.results if r.quantized_bits("int8") is not None]
    if not runs:
        return None
    by_model: dict[str, list] = defaultdict(list)
    for r in sorted(runs, key=lambda r: r.params):
        by_model[f"{r.run.model['name']}\n{r.params / 1e3:.1f}K params"].append(r)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(by_model) + 2), 4.2), dpi=120)
    for i, (method, color) in enumerate((("fp32", "#4c72b0"), ("int8", "#55a868"), ("int4", "#c44e52"))):
        vals = [sum((r.bits if method == "fp32" else r.quantized_bits(method)) / r.params for r in rs) / len(rs)
                for rs in by_model.values()]
        ax.bar([x + (i - 1) * 0.27 for x in range(len(vals))], vals, width=0.27, color=color, label=method)
    ax.axhline(2.0, color="0.4", lw=0.9, ls="--", label="paper: fp32, int8 ≈ 2")
    ax.axhline(0.7, color="#c44e52", lw=0.9, ls=":", label="paper: int4 ≈ 0.7")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(range(len(by_model)), list(by_model), fontsize=7)
    ax.set_ylabel("bits/param (mean over seeds)")
    return _finish(fig, ax, path, f"{o.claim.id}: {o.claim.title}", 7)


def architectures(o: Outcome, path: Path) -> Path | None:
    return parts_bars(o, path, "× worse than GPT2 (GPT2 bits/param ÷ variant's)")


def junk(o: Outcome, path: Path) -> Path | None:
    """× worse than no junk against exposures (log-log), kcap's and the paper's, per kind of junk."""
    ran = [p for p in o.parts if p.measured is not None]
    if not ran:
        return None
    fig, ax = plt.subplots(figsize=(6.0, 4.2), dpi=120)
    series: dict[str, list[tuple[int, object]]] = defaultdict(list)
    for p in o.parts:
        what, e = p.label.rsplit(", ", 1)
        series[what].append((int(e.split()[0]), p))
    for i, (what, pts) in enumerate(series.items()):
        color = f"C{i}"
        ax.plot([e for e, _ in pts], [p.paper.value for _, p in pts], ls="--", marker="x", color=color,
                alpha=0.6, label=f"paper: {what}")
        got = [(e, p.measured) for e, p in pts if p.measured is not None and _finite(p.measured.value)]
        if got:
            ax.plot([e for e, _ in got], [m.value for _, m in got], marker="o", color=color, label=f"kcap: {what}")
            for e, m in got:
                if m.ci and all(map(_finite, m.ci)):
                    ax.plot([e, e], list(m.ci), color=color, lw=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("exposures")
    ax.set_ylabel("× worse than no junk (bits without ÷ bits with)")
    return _finish(fig, ax, path, f"{o.claim.id}: {o.claim.title}", 7)


def search(o: Outcome, path: Path) -> Path | None:
    """The recipe search beside a claim: bits/param against the learning rate, one line per model."""
    if not o.search:
        return None
    by_model: dict[str, list] = defaultdict(list)
    for r in o.search:
        by_model[r.run.model["name"]].append((r.run.train["lr"], r.bpp))
    fig, ax = plt.subplots(figsize=(5.6, 4.0), dpi=120)
    for name, pts in sorted(by_model.items()):
        pts.sort()
        ax.plot([lr for lr, _ in pts], [b for _, b in pts], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel("bits/param")
    return _finish(fig, ax, path, f"{o.claim.id}: the learning-rate search behind its recipe")


def loss_vs_flops(o: Outcome, path: Path) -> Path | None:
    """The seed's figure: training loss against training FLOPs (log), one curve per size, each
    crossing (a larger model overtaking the next smaller) marked."""
    runs = sorted((r for r in o.results if r.points), key=lambda r: r.params)
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=120)
    cmap = plt.get_cmap("viridis", max(2, len(runs)))
    for i, r in enumerate(runs):
        f, loss = curve(r)
        ax.plot(f, loss, color=cmap(i), lw=1.2, label=f"{r.run.model['name']} ({r.params / 1e3:.1f}K)")
    for c in (o.parts[0].data or {}).get("crossings", []):
        if c["flops"] is not None:
            ax.axvline(c["flops"], color="0.6", lw=0.7, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (exact)")
    ax.set_ylabel("training loss (nats/token, running mean)")
    return _finish(fig, ax, path, f"{o.claim.id}: {o.claim.title} (dotted: crossings)", 7)




def passes(o: Outcome, path: Path) -> Path | None:
    """C10: exposures needed against params/k (log-log), the fitted decline and the informal rule."""

    from kcap.laws.passes import INFORMAL_RULE, rule_exposures

    rows = (o.parts[0].data or {}).get("passes") or []
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.0, 4.4), dpi=120)
    x = np.array([r["params_over_k"] for r in rows])
    for key, marker, style, label in (("to_final", "o", {"color": "C0"}, "to 90% of its own final bits"),
                                      ("to_bits_max", "s", {"facecolors": "none", "edgecolors": "C1", "s": 60},
                                       "to 90% of bits_max")):
        have = [r for r in rows if r[key]]
        ax.scatter([r["params_over_k"] for r in have], [r[key] for r in have], marker=marker, label=label,
                   zorder=3, **style)
    never = [r for r in rows if not r["to_bits_max"]]
    if never:
        ax.scatter([r["params_over_k"] for r in never], [r["exposures"] for r in never], marker="v", color="0.5",
                   label="never 90% of bits_max (at its exposures)", zorder=3)
    slope = (o.parts[0].data or {}).get("slope")
    have = [r for r in rows if r["to_final"]]
    if slope is not None and have:
        xs = np.geomspace(x.min(), x.max(), 50)
        ref = np.exp(np.mean([np.log(r["to_final"]) - slope * np.log(r["params_over_k"]) for r in have]))
        ax.plot(xs, ref * xs**slope, color="C0", lw=1, label=f"fit: ∝ (params/k)^{slope:.2f}")
    xs = np.geomspace(min(x.min(), INFORMAL_RULE[0][0]), max(x.max(), INFORMAL_RULE[-1][0]), 50)
    ax.plot(xs, [rule_exposures(v) for v in xs], color="0.4", ls="--", lw=1, label="informal rule")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("params / k (k = bits_max of the data)")
    ax.set_ylabel("exposures needed")
    return _finish(fig, ax, path, f"{o.claim.id}: {o.claim.title}", 7)


def compute_law(o: Outcome, path: Path) -> Path | None:
    """C11: IsoFLOP profiles (held-out loss against params at each budget) with Approach 2's
    minima and Approach 3's law drawn through them."""

    from kcap.laws.compute import approach3_loss

    data = o.parts[0].data or {}
    slices = data.get("isoflop") or []
    if not slices:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=120)
    budgets = sorted({p["budget"] for p in slices})
    cmap = plt.get_cmap("plasma", max(2, len(budgets) + 1))
    fit = data.get("fit")
    for i, c in enumerate(budgets):
        pts = sorted((p for p in slices if p["budget"] == c), key=lambda p: p["params"])
        n = np.array([p["params"] for p in pts])
        ax.plot(n, [p["loss"] for p in pts], "o", color=cmap(i), ms=4, label=f"C = {c:.2g}")
        if fit:
            ns = np.geomspace(n.min(), n.max(), 40)
            ax.plot(ns, approach3_loss(fit, ns, c / (6 * ns)), color=cmap(i), lw=0.8)
    for m in ((data.get("approach2") or {}).get("minima") or []):
        ax.plot(m["N_opt"], m["loss_opt"], marker="*", color="k", ms=8, ls="none")
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("held-out loss (popular draws, nats/token)")
    state = "identified" if data.get("identified") else f"NOT IDENTIFIED: {data.get('why')}"
    ax.text(0.01, 0.01, f"lines: Approach 3 ({state[:90]}); stars: Approach 2 minima", transform=ax.transAxes,
            fontsize=6, va="bottom")
    return _finish(fig, ax, path, f"{o.claim.id}: {o.claim.title} (IsoFLOP, C = 6ND)", 6)


FIGURES = {"loss_vs_flops": loss_vs_flops, "capacity": capacity, "quantization": quantization, "junk": junk,
           "architectures": architectures, "passes": passes, "compute_law": compute_law}
