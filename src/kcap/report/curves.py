"""Training-curve figures: loss vs compute (with the lower envelope) and passes to memorize."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402

from kcap.report.figure import figure_path, not_identified_note, save  # noqa: E402


def lower_envelope(points: dict, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """min over runs of each run's loss curve (interpolated in log FLOPs, within its own range)."""
    run_arr = np.array(points["run"])
    grid = np.geomspace(points["flops"].min(), points["flops"].max(), n)
    best = np.full(n, np.inf)
    for r in dict.fromkeys(points["run"]):
        sel = run_arr == r
        f, loss = points["flops"][sel], points["loss"][sel]
        order = np.argsort(f)
        f, loss = f[order], loss[order]
        inside = (grid >= f[0]) & (grid <= f[-1])
        best[inside] = np.minimum(best[inside], np.interp(np.log(grid[inside]), np.log(f), loss))
    ok = np.isfinite(best)
    return grid[ok], best[ok]


def compute_plot(points: dict, out: Path, title: str = "", fit: dict | None = None) -> Path:
    """Held-out loss vs training FLOPs, one curve per run (coloured by params), log FLOPs, with
    the lower envelope over runs (the best loss any size reached at each compute). With ``fit``
    (``kcap.laws.compute.fit_compute_law``) not identified, the figure says why."""
    out = figure_path(out)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    runs = list(dict.fromkeys(points["run"]))
    sizes = np.array([points["params"][points["run"].index(r)] for r in runs])
    norm = matplotlib.colors.LogNorm(sizes.min(), max(sizes.max(), sizes.min() * 1.01))
    cmap = plt.get_cmap("viridis")
    run_arr = np.array(points["run"])
    for r, n in zip(runs, sizes):
        sel = run_arr == r
        ax.plot(points["flops"][sel], points["loss"][sel], color=cmap(norm(n)), lw=1.2)
    ef, el = lower_envelope(points)
    ax.plot(ef, el, "k--", lw=1.2, label="lower envelope")
    ax.legend(fontsize=8)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, label="parameters")
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (exact count)")
    ax.set_ylabel("held-out loss (nats/token)")
    ax.set_title(title or "Loss vs compute")
    ax.grid(True, alpha=0.3)
    if fit is not None and fit.get("identified") is False:
        not_identified_note(ax, fit["why"], "Approach 3 fit")
    fig.tight_layout()
    return save(fig, out)


def passes_plot(rows: list[dict], fit: dict, fraction: float, out: Path) -> Path:
    """Exposures needed to reach ``fraction`` of final bits vs parameters, with the power-law fit
    (or a note saying why it is not identified). Runs with no count (never stored positive bits)
    cannot sit on a log axis; the command's table lists them."""
    out = figure_path(out)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    rows = [r for r in rows if r["needed"] is not None and r["needed"] > 0]
    p = np.array([r["params"] for r in rows], float)
    e = np.array([r["needed"] for r in rows], float)
    ax.scatter(p, e, color="tab:blue", edgecolor="black", lw=0.5, zorder=3)
    if fit.get("slope") is not None:
        xs = np.geomspace(p.min() / 1.2, p.max() * 1.2, 50)
        ax.plot(xs, fit["coefficient"] * xs ** fit["slope"], "r-", lw=1.2,
                label=f"exposures ∝ params^{fit['slope']:.2f}")
        ax.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("parameters")
    ax.set_ylabel(f"exposures to reach {fraction:.0%} of final bits")
    ax.set_title("Passes to memorize")
    ax.grid(True, which="both", alpha=0.3)
    if fit.get("identified") is False:
        not_identified_note(ax, fit["why"], "passes fit")
    fig.tight_layout()
    return save(fig, out)
