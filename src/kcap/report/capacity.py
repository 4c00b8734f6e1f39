"""The paper's Figure 1: bits stored vs parameters, log-log, with bits-per-parameter guides."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from kcap.report.figure import figure_path, not_identified_note, save  # noqa: E402
from kcap.report.fmt import si  # noqa: E402

MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
GUIDES = (2.0, 1.0, 0.5, 0.25)


def _group(key: tuple[str, int]) -> str:
    dataset, n = key
    return f"{dataset} N={n:,}"


def capacity_plot(rows: list[dict], out: Path, title: str | None = None, fit: dict | None = None) -> Path:
    """Plot measured runs (store rows with ``results``): colour = dataset (kind, variant, junk) and
    people N, marker = exposures; the simple variant is drawn hollow, so simple and multi runs of
    one population sit side by side.

    With ``fit`` (from ``kcap.laws.capacity.fit_capacity``), draw the fitted ratio and its band, or
    say in the figure that it is not identified."""
    out = figure_path(out)  # before drawing: a bad path is a one-line error, not a lost figure
    params = np.array([r["results"]["params"] for r in rows], float)
    bits = np.array([r["results"]["bits"] for r in rows], float)
    people = [(r.get("dataset") or "bioS-multi", r["people"]) for r in rows]
    exposures = [r["exposures"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    lo, hi = params.min() / 2, params.max() * 2
    xs = np.geomspace(lo, hi, 50)
    for ratio, style in zip(GUIDES, ("-", "--", "-.", ":")):
        ax.plot(xs, ratio * xs, color="0.55", lw=0.9, ls=style, label=f"{ratio:g} bit/param")
    if fit is not None and fit.get("ratio"):
        _draw_fit(ax, xs, fit)
    n_values = sorted(set(people))
    cmap = plt.get_cmap("viridis", max(2, len(n_values)))
    for i, n in enumerate(n_values):
        bmax = next(r["results"]["bits_max"] for k, r in enumerate(rows) if people[k] == n)
        ax.axhline(bmax, color=cmap(i), lw=1.0, ls="--", alpha=0.8)
        # labels alternate above and below their line: datasets of similar bits_max stay legible
        ax.annotate(f"bits_max, {_group(n)}", (hi / 1.05, bmax), ha="right", va="bottom" if i % 2 == 0 else "top",
                    fontsize=8, color=cmap(i))
    # a log axis cannot show <= 0 bits (a model worse than uniform); such runs sit on the floor, marked
    positive = bits[bits > 0]
    floor = (positive.min() if len(positive) else GUIDES[-1] * lo) / 4
    if (bits <= 0).any():
        left_out = fit is not None and not fit.get("include_negative") and any(fit.get("under_trained", []))
        ax.axhline(floor, color="firebrick", lw=0.8, ls=":")
        ax.annotate("at or below 0 bits" + (" (negative: under-trained, not in the fit)" if left_out else ""),
                    (hi / 1.05, floor), ha="right", va="bottom", fontsize=8, color="firebrick")
    e_values = sorted(set(exposures))
    for i, n in enumerate(n_values):
        for j, e in enumerate(e_values):
            sel = [k for k in range(len(rows)) if people[k] == n and exposures[k] == e]
            if not sel:
                continue
            hollow = "simple" in n[0]
            ax.scatter(params[sel], np.maximum(bits[sel], floor), marker=MARKERS[j % len(MARKERS)], s=42,
                       facecolor="none" if hollow else cmap(i), edgecolor=cmap(i) if hollow else "black",
                       lw=1.4 if hollow else 0.5, zorder=3, label=f"{_group(n)}, {e} exposures")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(floor / 1.5, max(bits.max(), GUIDES[0] * hi) * 1.5)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: si(v, "g")))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("parameters (embedding rows of used tokens only)")
    ax.set_ylabel("bits of knowledge stored")
    ax.set_title(title or "Knowledge capacity")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    if fit is not None and fit.get("identified") is False:
        not_identified_note(ax, fit["why"], "capacity fit")
    fig.tight_layout()
    return save(fig, out)


def _draw_fit(ax, xs: np.ndarray, fit: dict) -> None:
    """The fitted ratio as a line with its bootstrap band; dashed, and labelled so, when the fit
    is not identified (the note in the figure says why)."""
    lo_r, hi_r = fit["ci"]
    identified = fit.get("identified", True)
    if identified:
        ax.fill_between(xs, lo_r * xs, hi_r * xs, color="tab:red", alpha=0.15, lw=0)
    label = (f"fit: {fit['ratio']:.2f} bits/param [{lo_r:.2f}, {hi_r:.2f}]" if identified
             else f"fit: {fit['ratio']:.2f} bits/param, not identified")
    ax.plot(xs, fit["ratio"] * xs, color="tab:red", lw=1.6, ls="-" if identified else "--", label=label)
