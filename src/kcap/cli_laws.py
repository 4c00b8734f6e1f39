"""``kcap fit ...`` and ``kcap optimal``: the scaling laws, from the run store or a CSV."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from kcap.atomic import plain
from kcap.errors import KcapError
from kcap.report.figure import figure_path, output_path

fit_app = typer.Typer(help="Fit scaling laws from the run store or a CSV.", no_args_is_help=True)


def _dump(obj) -> str:
    """Strict JSON: arrays as lists, nan/inf (a degenerate fit's overflow) as null, so a fit file
    never carries a number that is not one (``kcap optimal`` refuses null)."""
    return json.dumps(plain(obj, strict=True), indent=2, allow_nan=False, default=str)


def _write(path: Path, obj) -> None:
    from kcap.atomic import write_bytes

    write_bytes(path, (_dump(obj) + "\n").encode())


def _g(v) -> str:
    """A number for a table, or 'n/a' for nan/inf/None (never printed as a number)."""
    return f"{v:.4g}" if v is not None and math.isfinite(v) else "n/a"


def _verdict_line(r: dict, what: str) -> list[str]:
    return [] if r.get("identified", True) else [f"  {what} NOT IDENTIFIED: {r['why']}"]


@fit_app.command("compute")
def fit_compute(
    source: Annotated[str, typer.Argument(help="'store' (held-out losses of logged points) or a CSV with params,tokens,loss.")] = "store",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    boot: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals (at least 2).")] = 100,
    out: Annotated[Optional[Path], typer.Option(help="Also write the fit as JSON (for `kcap optimal --fit`).")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Also draw loss vs FLOPs with the lower envelope.")] = None,
    known_e: Annotated[Optional[float], typer.Option("--E", help="A known irreducible loss (nats/token), held fixed "
                                                     "in Approach 3: random strings know theirs exactly.")] = None,
) -> None:
    """Chinchilla Approaches 1, 2 and 3 (SCIENCE.md §5) with bootstrap percentiles; each says
    whether the points identify it (`identified`, `why`)."""
    from kcap.laws.compute import fit_compute_law
    from kcap.laws.inputs import compute_points

    # every cheap check before the fit, which takes a while
    if boot < 2:
        raise KcapError(f"--boot {boot}: the bootstrap needs at least 2 resamples")
    out = output_path(out, "--out") if out else None
    plot = figure_path(plot, "--plot") if plot else None
    if plot and str(source) != "store":
        raise KcapError("--plot draws training curves from the store; fit a CSV without --plot")
    pts = compute_points(source)
    result = fit_compute_law(pts["params"], pts["tokens"], pts["loss"], pts["flops"], n_boot=boot, E=known_e)
    samples = result.pop("samples")
    result["source"] = str(source)
    if out:
        _write(out, {**result, "samples": samples})
    if plot:
        from kcap.report.curves import compute_plot

        compute_plot(pts, plot, fit=result)
    if as_json:
        typer.echo(_dump(result))
        return
    for line in _compute_lines(result):
        typer.echo(line)


def _compute_lines(r: dict) -> list[str]:
    ci = r["ci"]
    lines = [f"L(N, D) = E + A/N^alpha + B/D^beta from {r['n_points']} points ({r['n_starts']} starts"
             f"{', E known' if r.get('E_known') else ''}):"]
    lines += [f"  {k:>5} = {_g(r[k])}   [{_g(ci[k][0])}, {_g(ci[k][1])}]" for k in ("E", "A", "B", "alpha", "beta", "a", "b")]
    lines += _verdict_line(r, "Approach 3")
    lines.append(f"  N_opt ∝ C^{_g(r['a'])}, D_opt ∝ C^{_g(r['b'])}")
    for name in ("approach1", "approach2"):
        a, label = r[name], f"Approach {name[-1]}"
        if "a" in a:
            lines.append(f"  {label}: N_opt ∝ C^{_g(a['a'])}, D_opt ∝ C^{_g(a['b'])}")
        lines += _verdict_line(a, label)
    return lines


@fit_app.command("capacity")
def fit_capacity_cmd(
    source: Annotated[str, typer.Argument(help="'store' (measured runs) or a CSV with params,bits,bits_max.")] = "store",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Also write the fit as JSON (for `kcap optimal --capacity`).")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Draw the Figure-1 view with the fitted ratio and band.")] = None,
    include_negative: Annotated[bool, typer.Option("--include-negative", help="Fit runs with negative bits (under-trained) too; by default they are listed and left out.")] = False,
) -> None:
    """Capacity law: bits stored = R x params over capacity-bound runs, with a bootstrap interval."""
    from kcap.laws.capacity import fit_capacity
    from kcap.laws.inputs import capacity_points

    out = output_path(out, "--out") if out else None
    plot = figure_path(plot, "--plot") if plot else None
    if plot and str(source) != "store":
        raise KcapError("--plot draws runs from the store; fit a CSV without --plot")
    pts = capacity_points(source)
    fit = fit_capacity(pts["params"], pts["bits"], pts["bits_max"], names=pts["names"],
                       include_negative=include_negative)
    if "run" in pts:
        fit["runs"] = pts["run"]
    if out:
        _write(out, fit)
    if plot:
        from kcap.report.capacity import capacity_plot
        from kcap.store.db import RunStore

        with RunStore() as store:
            capacity_plot(store.runs(measured_only=True), plot, fit=fit)
    if as_json:
        typer.echo(_dump(fit))
        return
    for line in _capacity_lines(fit, pts["names"]):
        typer.echo(line)


def _capacity_lines(fit: dict, names: list[str]) -> list[str]:
    lines = [(f"capacity ratio R = {fit['ratio']:.3f} bits/param [{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}] "
              f"from {fit['n_capacity_bound']} capacity-bound of {fit['n_runs']} runs; "
              f"peak bits/param {fit['peak_ratio']:.3f}")]
    lines += _verdict_line(fit, "R")
    if not fit["converged"]:
        lines.append("  (every model may hold all its data: add larger datasets or smaller models)")
    data_bound = [n for n, bound in zip(names, fit["data_bound"]) if bound]
    if data_bound:
        lines.append(f"data-bound (hold all their data; not used for R): {', '.join(data_bound)}")
    negative = [n for n, neg in zip(names, fit["under_trained"]) if neg]
    if negative:
        used = "fitted, as asked" if fit["include_negative"] else "not used for R; --include-negative to fit them"
        lines.append(f"under-trained (negative bits: worse than uniform; {used}): {', '.join(negative)}")
    return lines


@fit_app.command("passes")
def fit_passes_cmd(
    fraction: Annotated[float, typer.Option(help="Share of the final bits to reach.")] = 0.9,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    plot: Annotated[Optional[Path], typer.Option(help="Draw exposures-needed vs params.")] = None,
) -> None:
    """Exposures each run needed to reach a share of its final bits (runs trained with --track-bits)."""
    from kcap.laws.inputs import passes_curves
    from kcap.laws.passes import fit_passes

    if not 0 < fraction <= 1:
        raise KcapError(f"--fraction must be in (0, 1], got {fraction}")
    plot = figure_path(plot, "--plot") if plot else None
    rows = passes_curves(fraction)
    counted = [r for r in rows if r["needed"] is not None]
    fit = fit_passes(np.array([r["params"] for r in counted]), np.array([r["needed"] for r in counted]))
    if plot:
        from kcap.report.curves import passes_plot

        passes_plot(rows, fit, fraction, plot)
    if as_json:
        typer.echo(_dump({"fraction": fraction, "fit": fit, "runs": rows}))
        return
    for r in rows:
        head = f"  {r['run']}: {r['params']:>10,} params, "
        typer.echo(head + (f"{r['needed']:.1f} exposures to {fraction:.0%} of {r['final_bits']:,.0f} bits"
                           if r["needed"] is not None else
                           f"never stored positive bits (final {r['final_bits']:,.0f}): no exposure count"))
    if fit["slope"] is not None:
        ci = f", 90% interval [{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}]" if fit.get("ci") else ""
        typer.echo(f"exposures needed ∝ params^{fit['slope']:.3f}{ci} (negative: larger models need fewer passes)")
    for line in _verdict_line(fit, "slope"):
        typer.echo(line)


def optimal(
    flops: Annotated[Optional[float], typer.Option(help="Training compute budget C in FLOPs.")] = None,
    params: Annotated[Optional[float], typer.Option(help="Model parameters P.")] = None,
    fit: Annotated[Optional[Path], typer.Option(help="Compute-law fit JSON (`kcap fit compute --out`); default: the Chinchilla refit.")] = None,
    capacity: Annotated[Optional[Path], typer.Option(help="Capacity fit JSON (`kcap fit capacity --out`); default: the paper's ratio.")] = None,
    exposures: Annotated[int, typer.Option(help="Exposures per fact, for the capacity side.")] = 1000,
) -> None:
    """Compute-optimal allocation (--flops), or the data a model of --params needs, both ways."""
    from kcap.laws.optimal import plan_optimal

    r = plan_optimal(flops=flops, params=params, fit=fit, capacity=capacity, exposures=exposures)
    for line in (_flops_lines(r) if r["mode"] == "flops" else _params_lines(r)):
        typer.echo(line)


def _flops_lines(r: dict) -> list[str]:
    lo_hi = r["N_opt_interval"]
    interval = f"; N_opt 90% interval [{lo_hi[0]:.4g}, {lo_hi[1]:.4g}]" if lo_hi else ""
    if r.get("N_opt_interval_why"):
        interval = f"; no N_opt interval ({r['N_opt_interval_why']})"
    return [f"C = {r['flops']:.3g} FLOPs ({r['source']}):",
            f"  N_opt = {r['N_opt']:.4g} params, D_opt = {r['D_opt']:.4g} tokens, "
            f"{r['tokens_per_param']:.1f} tokens/param{interval}"]


def _params_lines(r: dict) -> list[str]:
    lines = [f"P = {r['params']:.4g} parameters:",
             f"  compute law ({r['source']}): compute-optimal on {r['D_opt']:.4g} tokens "
             f"({r['tokens_per_param']:.1f} tokens/param, C = {r['flops']:.3g} FLOPs)"]
    capacity = f"  capacity law ({r['capacity_source']}): holds {r['bits']:.4g} bits of knowledge, "
    if r["people"] is None:
        from kcap.knowledge.people import NAME_SPACE

        return lines + [capacity + f"more than a bioS population of all N0 = {NAME_SPACE:.3g} possible names carries"]
    return lines + [capacity + f"e.g. a bioS population of {r['people']:.4g} people ({r['bits_per_person']:.1f} bits "
                    f"each, names included), which needs {r['exposures']} exposures = {r['tokens']:.4g} tokens "
                    f"({r['capacity_tokens_per_param']:.1f} tokens/param) in kcap's bioS format"]
