"""``kcap fit ...`` and ``kcap optimal``: the scaling laws, from the run store or a CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from kcap.errors import KcapError

fit_app = typer.Typer(help="Fit scaling laws from the run store or a CSV.", no_args_is_help=True)


def _dump(obj) -> str:
    return json.dumps(obj, indent=2, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o))


@fit_app.command("compute")
def fit_compute(
    source: Annotated[str, typer.Argument(help="'store' (held-out losses of logged points) or a CSV with params,tokens,loss.")] = "store",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    boot: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.")] = 100,
    out: Annotated[Optional[Path], typer.Option(help="Also write the fit as JSON (for `kcap optimal --fit`).")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Also draw loss vs FLOPs with the lower envelope.")] = None,
) -> None:
    """Chinchilla Approaches 1, 2 and 3 (SCIENCE.md §5) with bootstrap percentiles."""
    from kcap.laws.compute import fit_compute_law
    from kcap.laws.inputs import compute_points

    pts = compute_points(source)
    if plot and "run" not in pts:  # checked before the fit, which takes a while
        raise KcapError("--plot draws training curves from the store; fit a CSV without --plot")
    result = fit_compute_law(pts["params"], pts["tokens"], pts["loss"], pts["flops"], n_boot=boot)
    samples = result.pop("samples")
    result["source"] = str(source)
    if out:
        out.write_text(_dump({**result, "samples": samples}) + "\n")
    if plot:
        from kcap.report.curves import compute_plot

        compute_plot(pts, plot)
    if as_json:
        typer.echo(_dump(result))
        return
    ci = result["ci"]
    typer.echo(f"L(N, D) = E + A/N^alpha + B/D^beta from {result['n_points']} points ({result['n_starts']} starts):")
    for k in ("E", "A", "B", "alpha", "beta", "a", "b"):
        typer.echo(f"  {k:>5} = {result[k]:.4g}   [{ci[k][0]:.4g}, {ci[k][1]:.4g}]")
    typer.echo(f"  N_opt ∝ C^{result['a']:.3f}, D_opt ∝ C^{result['b']:.3f}")


@fit_app.command("capacity")
def fit_capacity_cmd(
    source: Annotated[str, typer.Argument(help="'store' (measured runs) or a CSV with params,bits,bits_max.")] = "store",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Also write the fit as JSON (for `kcap optimal --capacity`).")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Draw the Figure-1 view with the fitted ratio and band.")] = None,
) -> None:
    """Capacity law: bits stored = R x params over capacity-bound runs, with a bootstrap interval."""
    from kcap.laws.capacity import fit_capacity
    from kcap.laws.inputs import capacity_points

    if plot and str(source) != "store":
        raise KcapError("--plot draws runs from the store; fit a CSV without --plot")
    pts = capacity_points(source)
    fit = fit_capacity(pts["params"], pts["bits"], pts["bits_max"])
    if "run" in pts:
        fit["runs"] = pts["run"]
    if out:
        out.write_text(_dump(fit) + "\n")
    if plot:
        from kcap.report.capacity import capacity_plot
        from kcap.store.db import RunStore

        with RunStore() as store:
            capacity_plot(store.runs(measured_only=True), plot, fit=fit)
    if as_json:
        typer.echo(_dump(fit))
        return
    typer.echo(f"capacity ratio R = {fit['ratio']:.3f} bits/param [{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}] "
               f"from {fit['n_capacity_bound']} capacity-bound of {fit['n_runs']} runs; "
               f"peak bits/param {fit['peak_ratio']:.3f}")
    if not fit["converged"]:
        typer.echo("the capacity-bound set did not settle (e.g. every model holds all its data): "
                   "R is only a lower bound; add larger datasets or smaller models")
    names = fit.get("runs") or [f"row {i + 1}" for i in range(fit["n_runs"])]
    data_bound = [n for n, bound in zip(names, fit["capacity_bound"]) if not bound]
    if data_bound:
        typer.echo(f"data-bound (hold all their data; not used for R): {', '.join(data_bound)}")


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
    rows = passes_curves(fraction)
    fit = fit_passes(np.array([r["params"] for r in rows]), np.array([r["needed"] for r in rows]))
    if plot:
        from kcap.report.curves import passes_plot

        passes_plot(rows, fit, fraction, plot)
    if as_json:
        typer.echo(_dump({"fraction": fraction, "fit": fit, "runs": rows}))
        return
    for r in rows:
        typer.echo(f"  {r['run']}: {r['params']:>10,} params, {r['needed']:.1f} exposures to {fraction:.0%} of "
                   f"{r['final_bits']:,.0f} bits")
    if fit["slope"] is not None:
        typer.echo(f"exposures needed ∝ params^{fit['slope']:.3f} (negative: larger models need fewer passes)")


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
