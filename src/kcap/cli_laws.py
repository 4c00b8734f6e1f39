"""``kcap fit ...`` and ``kcap optimal``: the scaling laws, from the run store or a CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from kcap.errors import KcapError

fit_app = typer.Typer(help="Fit scaling laws from the run store or a CSV.", no_args_is_help=True)

# Besiroglu et al. 2024's refit of Chinchilla (SCIENCE.md §5): the default compute law.
CHINCHILLA_REFIT = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366,
                    "source": "Besiroglu et al. 2024 refit of Chinchilla"}


def _with_derived(fit: dict) -> dict:
    a, b = fit["alpha"], fit["beta"]
    return {**fit, "a": b / (a + b), "b": a / (a + b),
            "G": (a * fit["A"] / (b * fit["B"])) ** (1 / (a + b))}


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
    from kcap.laws.compute import bootstrap_approach3, fit_approach1, fit_approach2, fit_approach3
    from kcap.laws.inputs import compute_points

    pts = compute_points(source)
    if len(pts["params"]) < 6:
        raise KcapError(f"{len(pts['params'])} points are too few for a compute-law fit (need at least 6)")
    with np.errstate(all="ignore"):  # degenerate fits overflow exp(a) on the way; the result says so
        fit3 = fit_approach3(pts["params"], pts["tokens"], pts["loss"])
        boot_r = bootstrap_approach3(pts["params"], pts["tokens"], pts["loss"], n_boot=boot, fit=fit3)
    result = {**fit3, "ci": boot_r["ci"], "n_boot": boot, "source": str(source)}
    try:
        result["approach1"] = {k: v for k, v in fit_approach1(pts["params"], pts["tokens"], pts["loss"],
                                                             pts["flops"]).items() if k in ("a", "b")}
    except (KcapError, ValueError, np.linalg.LinAlgError) as e:
        result["approach1"] = {"error": str(e)}
    try:
        a2 = fit_approach2(pts["params"], pts["tokens"], pts["loss"], pts["flops"])
        result["approach2"] = {k: v for k, v in a2.items() if k in ("a", "b", "n_budgets", "minima")}
    except (KcapError, ValueError, np.linalg.LinAlgError) as e:
        result["approach2"] = {"error": str(e)}
    if out:
        out.write_text(_dump({**result, "samples": boot_r["samples"]}) + "\n")
    if plot:
        from kcap.report.curves import compute_plot

        if "run" not in pts:
            raise KcapError("--plot draws training curves from the store; fit a CSV without --plot")
        compute_plot(pts, plot)
    if as_json:
        typer.echo(_dump(result))
        return
    ci = result["ci"]
    typer.echo(f"L(N, D) = E + A/N^alpha + B/D^beta from {fit3['n_points']} points ({fit3['n_starts']} starts):")
    for k in ("E", "A", "B", "alpha", "beta", "a", "b"):
        typer.echo(f"  {k:>5} = {fit3[k]:.4g}   [{ci[k][0]:.4g}, {ci[k][1]:.4g}]")
    typer.echo(f"  N_opt ∝ C^{fit3['a']:.3f}, D_opt ∝ C^{fit3['b']:.3f}")


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

    pts = capacity_points(source)
    fit = fit_capacity(pts["params"], pts["bits"], pts["bits_max"])
    if "run" in pts:
        fit["runs"] = pts["run"]
    if out:
        out.write_text(_dump(fit) + "\n")
    if plot:
        if str(source) != "store":
            raise KcapError("--plot draws runs from the store; fit a CSV without --plot")
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
    from kcap.laws.compute import optimal_allocation, tokens_for_params

    if (flops is None) == (params is None):
        raise KcapError("give exactly one of --flops or --params")
    if (flops is not None and flops <= 0) or (params is not None and params <= 0):
        raise KcapError("--flops and --params must be positive")
    law = _load_fit(fit)
    if flops is not None:
        r = optimal_allocation(law, flops)
        typer.echo(f"C = {flops:.3g} FLOPs ({law.get('source', fit)}):")
        typer.echo(f"  N_opt = {r['N_opt']:.4g} params, D_opt = {r['D_opt']:.4g} tokens, "
                   f"{r['tokens_per_param']:.1f} tokens/param{_interval(law, flops)}")
        return
    ratio, where = _capacity_ratio(capacity, exposures)  # checked before anything is printed
    d = tokens_for_params(law, params)
    typer.echo(f"P = {params:.4g} parameters:")
    typer.echo(f"  compute law ({law.get('source', fit)}): compute-optimal on {d:.4g} tokens "
               f"({d / params:.1f} tokens/param, C = {6 * params * d:.3g} FLOPs)")
    bits = ratio * params
    from kcap.knowledge.people import NAME_SPACE

    people = _bios_people_for_bits(bits)
    if people is None:
        typer.echo(f"  capacity law ({where}): holds {bits:.4g} bits of knowledge, more than a bioS population "
                   f"of all N0 = {NAME_SPACE:.3g} possible names carries")
        return
    tokens = exposures * people * _tokens_per_biography()
    typer.echo(f"  capacity law ({where}): holds {bits:.4g} bits of knowledge, e.g. a bioS population of "
               f"{people:.4g} people ({bits / people:.1f} bits each, names included), which needs {exposures} "
               f"exposures = {tokens:.4g} tokens ({tokens / params:.1f} tokens/param) in kcap's bioS format")


def _bios_people_for_bits(bits: float) -> float | None:
    """The N whose bioS bits_max(N) = N·log2(N0/N) + N·log2(S0) equals ``bits``; None past N = N0.

    bits_max(N) increases on (0, N0] (its derivative log2(N0/N) + log2(S0) - 1/ln 2 is positive),
    so the root is unique."""
    from scipy.optimize import brentq

    from kcap.kinds.bios.bits import bios_bits_max
    from kcap.knowledge.people import NAME_SPACE

    f = lambda n: bios_bits_max(n)["total"] - bits  # noqa: E731
    if bits <= 0:
        return 0.0
    if f(NAME_SPACE) < 0:
        return None
    return float(brentq(f, 1e-9, NAME_SPACE, rtol=1e-12))


def _load_fit(path: Path | None) -> dict:
    if path is None:
        return _with_derived(CHINCHILLA_REFIT)
    try:
        law = json.loads(Path(path).read_text())
        return _with_derived({k: law[k] for k in ("E", "A", "B", "alpha", "beta")} | {
            "source": str(path), "samples": law.get("samples")})
    except FileNotFoundError:
        raise KcapError(f"--fit {path} does not exist") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise KcapError(f"--fit {path} is not a compute-law fit ({e.__class__.__name__}: {e})") from None


def _interval(law: dict, flops: float) -> str:
    s = law.get("samples")
    if not s:
        return ""
    n_opt = []
    for A, B, al, be in zip(s["A"], s["B"], s["alpha"], s["beta"]):
        G = (al * A / (be * B)) ** (1 / (al + be))
        n_opt.append(G * (flops / 6) ** (be / (al + be)))
    lo, hi = np.percentile(n_opt, [5, 95])
    return f"; N_opt 90% interval [{lo:.4g}, {hi:.4g}]"


PAPER_CAPACITY = {100: 1.0, 1000: 2.0}  # SCIENCE.md: ~1 bit/param at 100 exposures, ~2 at 1000


def _capacity_ratio(path: Path | None, exposures: int) -> tuple[float, str]:
    if path is None:
        if exposures not in PAPER_CAPACITY:
            raise KcapError(f"--exposures {exposures}: the paper gives a capacity ratio only at 100 and 1000 "
                            "exposures; pass --capacity FIT (from `kcap fit capacity --out`) for others")
        return PAPER_CAPACITY[exposures], f"paper, {exposures} exposures"
    try:
        fit = json.loads(Path(path).read_text())
        return float(fit["ratio"]), str(path)
    except FileNotFoundError:
        raise KcapError(f"--capacity {path} does not exist") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise KcapError(f"--capacity {path} is not a capacity fit ({e.__class__.__name__})") from None


def _tokens_per_biography() -> float:
    """Mean tokens per bioS biography in kcap's word tokenizer (separator included), measured."""
    import tempfile

    from kcap.kinds.bios.stream import BioStream
    from kcap.kinds.bios.data import load_bios, write_bios

    with tempfile.TemporaryDirectory() as tmp:
        write_bios(Path(tmp), 2000, seed=0)
        return BioStream(load_bios(Path(tmp)), 1).total_tokens() / 2000
