"""What each model of a popular random-strings sweep knows, string by string (docs/scaling.md §5, C11).

The prediction C11 tests assumes a string is either known or not, that a string is learned once
seen about E* times whatever the model, and that a model knows as many strings as its capacity
allows. This reads every popular random-strings run in the workspace, scores each string with the
final model (nats over its symbols after the first, which carries "which string comes"), and
prints, per run: tokens and held-out loss, strings known (under a third of a uniform guess),
strings half-known, E* (the exposures the stream gave the string at the rank where the share known
falls below one half), the bits held in known strings per parameter, and what an unknown string
costs against a uniform guess. A model trained to several horizons (experiments/popular-horizons.yaml)
also gets the exponents of strings known and of held-out loss above the floor against tokens.

    KCAP_WORKSPACE=reproduce-ws python experiments/popularity_by_rank.py [--from-tokens 8e5] [--plot f.png]
    (seconds; reads, never writes)
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from kcap.corpus.popularity import zipf_probs
from kcap.kinds.random_strings.measure import measured_documents
from kcap.measure.evaluate import load_run_model, run_dataset
from kcap.measure.losses import token_losses
from kcap.reproduce.compute_claims import random_strings_floor
from kcap.store.workspace import workspace_dir


def by_string(run) -> dict | None:
    """Per-string losses of one run's final model, or None if the run is not a popular random-strings run."""
    cfg = json.loads((run / "config.json").read_text())
    s = cfg["train"].get("popularity") or 0
    if not s or cfg["data"].get("kind") != "random" or not (run / "model.safetensors").is_file():
        return None
    config, model = load_run_model(run)
    ds = run_dataset(run, config)
    n, S, V = ds.n_people, ds.meta["length"], ds.meta["alphabet"]
    p = zipf_probs(n, s)
    docs = measured_documents(ds)(np.arange(n))
    with torch.no_grad():
        loss, _ = token_losses(model, docs.tokens, docs.offsets, torch.device("cpu"), 256, "previous")
    done = json.loads((run / "summary.json").read_text())
    return {"params": config["params"]["total"], "exposures": cfg["train"]["exposures"], "s": s,
            "data": json.dumps({k: v for k, v in cfg["data"].items() if k != "path"}, sort_keys=True),
            "tokens": done["tokens"], "heldout": done.get("final_heldout_loss"),
            "floor": random_strings_floor(n, S, s),
            "seen": cfg["train"]["exposures"] * n * p,  # expected draws of each string
            "loss": loss[:, 2:].astype(np.float64).sum(1), "uniform": (S - 1) * math.log(V), "bits": (S - 1) * math.log2(V)}


def summary(r: dict) -> dict:
    known = r["loss"] < r["uniform"] / 3
    half = (r["loss"] >= r["uniform"] / 3) & (r["loss"] < 2 * r["uniform"] / 3)
    order = np.argsort(-r["seen"])  # most popular first
    w = min(21, len(order))  # share known in a window of ranks (all of them for a tiny population)
    share = np.convolve(known[order], np.ones(w) / w, mode="valid")
    below = np.flatnonzero(share < 0.5) + w // 2  # the window's centre rank
    return {"params": r["params"], "exposures": r["exposures"], "tokens": r["tokens"], "heldout": r["heldout"],
            "s": r["s"], "data": r["data"], "floor": r["floor"], "known": int(known.sum()), "half": int(half.sum()),
            "E_star": float(r["seen"][order][below[0]]) if below.size else None,
            "bits_per_param": known.sum() * r["bits"] / r["params"],
            "unknown_cost": float(np.median(r["loss"][~known]) / r["uniform"]) if (~known).any() else None}


def main(from_tokens: float = 0.0, plot: Path | None = None) -> None:
    runs = sorted((workspace_dir() / "runs").iterdir()) if (workspace_dir() / "runs").is_dir() else []
    rows = [summary(r) for r in map(by_string, runs) if r is not None]
    if not rows:
        sys.exit(f"no popular random-strings run with weights in {workspace_dir() / 'runs'}")
    print("| params | exposures | tokens | held-out loss | strings known | half-known | E* (exposures) "
          "| known bits/param | unknown string vs uniform |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in sorted(rows, key=lambda s: (s["params"], s["exposures"])):
        e = f"{s['E_star']:.0f}" if s["E_star"] is not None else "-"
        cost = f"{s['unknown_cost']:.2f}x" if s["unknown_cost"] is not None else "-"
        loss = f"{s['heldout']:.3f}" if s["heldout"] is not None else "-"
        print(f"| {s['params']:,} | {s['exposures']} | {s['tokens'] / 1e6:.2f}M | {loss} | {s['known']} | {s['half']} "
              f"| {e} | {s['bits_per_param']:.2f} | {cost} |")
    series = horizon_series(rows)
    for one in series:
        print(horizon_line(one, from_tokens))
    if plot is not None:
        if not series:
            sys.exit("--plot draws models at several horizons: this workspace has none")
        print(f"wrote {plot_horizons(series, plot)}")


def plot_horizons(series: list[list[dict]], path: Path) -> Path:
    """Strings known and held-out loss above the floor against tokens, one line per model, with
    the account's slopes (1/s and -(s-1)/s) drawn through each model's last horizon."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kcap.report.figure import save

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for one in series:
        t = np.array([r["tokens"] for r in one], float)
        sv, label = one[0]["s"], f"{one[0]['params'] / 1e3:.0f}K params"
        for ax, y, slope in ((axes[0], [r["known"] for r in one], 1 / sv),
                             (axes[1], [r["heldout"] - r["floor"] for r in one], -(sv - 1) / sv)):
            line, = ax.loglog(t, y, "o-", label=label)
            ref = y[-1] * (t / t[-1]) ** slope
            ax.loglog(t, ref, "--", color=line.get_color(), alpha=0.4, lw=1)
    s0 = series[0][0]["s"]
    axes[0].set(xlabel="training tokens", ylabel="strings known",
                title=f"strings known (dashed: the account's D^{1 / s0:.2f})")
    axes[1].set(xlabel="training tokens", ylabel="held-out loss - exact floor (nats/token)",
                title=f"loss above the floor (dashed: D^{-(s0 - 1) / s0:.2f})")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return save(fig, path)


def horizon_series(rows: list[dict]) -> list[list[dict]]:
    """Runs of one model on one stream (params, data, s) at 3 or more horizons, by tokens (a
    constant rate makes each the longer run's prefix), each with a positive count known and a
    held-out loss above the floor, so both can be read in logs."""
    groups: dict[tuple, dict[int, dict]] = {}
    for r in rows:
        if r["known"] > 0 and r["heldout"] is not None and r["heldout"] > r["floor"]:
            groups.setdefault((r["params"], r["data"], r["s"]), {})[r["tokens"]] = r  # one run per horizon
    return [sorted(g.values(), key=lambda r: r["tokens"]) for _, g in sorted(groups.items()) if len(g) >= 3]


def horizon_line(series: list[dict], from_tokens: float) -> str:
    """How the strings known and the held-out loss above the exact floor change with tokens, from
    one horizon to the next and by least squares over the horizons from ``from_tokens`` on (past
    the onset), against the account with E* fixed: m ∝ D^(1/s), L - E ∝ D^-((s-1)/s)."""
    t = np.log([r["tokens"] for r in series])
    known = np.log([r["known"] for r in series])
    above = np.log([r["heldout"] - r["floor"] for r in series])
    late = np.array([r["tokens"] >= from_tokens for r in series])
    sv = series[0]["s"]

    def exps(y: np.ndarray) -> str:
        steps = ", ".join(f"{x:.2f}" for x in np.diff(y) / np.diff(t))
        fit = f"; {np.polyfit(t[late], y[late], 1)[0]:.2f} from {from_tokens:.3g} tokens" if late.sum() >= 2 else ""
        return f"[{steps}]{fit}"

    return (f"{series[0]['params']:,} params: strings known ∝ tokens^{exps(known)} (account: {1 / sv:.2f}); "
            f"held-out loss above the floor ∝ tokens^{exps(above)} (account: {-(sv - 1) / sv:.2f})")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from-tokens", type=float, default=0.0,
                    help="least-squares exponents over the horizons from this many tokens on (past the onset)")
    ap.add_argument("--plot", type=Path, default=None, help="also draw the models trained to several horizons")
    args = ap.parse_args()
    main(args.from_tokens, args.plot)
