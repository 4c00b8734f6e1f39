"""``kcap sweep plan|run|status SPEC``: experiment specs, run idempotently, locally or on Ray."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kcap.report.fmt import si

sweep_app = typer.Typer(help="Sweeps from experiment specs (YAML): plan, run, status.", no_args_is_help=True)

SpecArg = Annotated[Path, typer.Argument(help="Experiment spec (YAML), e.g. experiments/fig1-cpu.yaml.")]


def _table(title: str, rows: list, with_state: bool) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    # a pipe or a log gets whole lines (ids and names are what a user copies), a terminal its width
    console = Console(width=None if sys.stdout.isatty() else 220)
    console.print(title)
    t = Table(box=None, header_style="bold")
    for col in ("#", "id", "run", "dataset", "params", "tokens", "steps", "FLOPs") + (("state",) if with_state else ()):
        t.add_column(col, justify="left" if col in ("id", "run", "dataset", "state") else "right")
    for i, (r, state, detail) in enumerate(rows):
        e = r.est
        params = si(e.get("params"))
        if e.get("active_params") is not None and e["active_params"] != e.get("params"):
            params += f" ({si(e['active_params'])} active)"  # mixture of experts: per token
        cells = [str(i + 1), r.key, r.name, r.dataset_key, params, si(e.get("tokens")),
                 si(e.get("steps")), si(e.get("flops"))]
        if with_state:
            cells.append(state + (f": {detail}" if detail else ""))
        t.add_row(*cells)
    console.print(t)


def _totals(runs: list) -> str:
    flops = sum(r.est.get("flops") or 0 for r in runs)
    tokens = sum(r.est.get("tokens") or 0 for r in runs)
    datasets = len({r.dataset_key for r in runs})
    return f"{len(runs)} runs, {datasets} datasets, {si(tokens)} tokens, {si(flops)} training FLOPs (estimated)"


@sweep_app.command("plan")
def plan(
    spec: SpecArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the resolved runs as JSON.")] = False,
) -> None:
    """Print the resolved runs of a spec with estimated tokens, steps, parameters and FLOPs."""
    from kcap.sweep import plan_spec, sweep_status

    tree, runs = plan_spec(spec)
    rows = sweep_status(runs)
    if as_json:
        typer.echo(json.dumps([{**r.to_dict(), "state": st} for r, st, _ in rows], indent=2))
        return
    _table(f"sweep {tree['name']}: {_totals(runs)}", rows, with_state=True)


@sweep_app.command("run")
def run(
    spec: SpecArg,
    jobs: Annotated[int | None, typer.Option(help="Runs at once (local default 1; ray default: GPUs, else CPUs).")] = None,
    backend: Annotated[str, typer.Option(help="local (processes on this machine) or ray (needs the ray extra).")] = "local",
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run failed runs again.")] = False,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray).")] = None,
    group_models: Annotated[int | None, typer.Option(help="Train up to this many runs of one shape at once, as one batched computation (default: 16 with a GPU, 1 on CPU).")] = None,
) -> None:
    """Run every run of a spec that is not done yet; failures are recorded and the sweep goes on."""
    from kcap.sweep import run_sweep

    if jobs is None and backend == "local":
        jobs = 1
    c = run_sweep(spec, jobs=jobs, backend=backend, retry_failed=retry_failed, address=ray_address,
                  echo=typer.echo, group_models=group_models)
    if c["failed"]:
        raise typer.Exit(1)


@sweep_app.command("status")
def status(
    spec: SpecArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print states as JSON.")] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Jobs at once, for the ETA.")] = 1,
) -> None:
    """Runs done / running / failed / to do, each run's state, and the ETA of what is left."""
    from collections import Counter

    from kcap.sweep import ledger, plan_spec, sweep_status
    from kcap.sweep.progress import eta_seconds, fmt_duration, measured_rate

    tree, runs = plan_spec(spec)
    rows = sweep_status(runs)
    c = Counter(st for _, st, _ in rows)
    left = sum((r.est.get("flops") or 0) * ((1 - (ledger.progress_fraction(r) or 0)) if st == "running" else 1)
               for r, st, _ in rows if st not in ("done", "failed"))
    eta = eta_seconds(left, measured_rate(runs), jobs)
    if as_json:
        typer.echo(json.dumps({"name": tree["name"], "counts": dict(c), "eta_s": eta,
                               "runs": [{"id": r.key, "name": r.name, "state": st, "detail": d}
                                        for r, st, d in rows]}, indent=2))
        return
    _table(f"sweep {tree['name']}", rows, with_state=True)
    typer.echo(f"{c['done']}/{len(rows)} done, {c['running']} running, {c['failed']} failed, "
               f"{c['pending'] + c['interrupted']} to do ({c['interrupted']} interrupted); "
               f"ETA {fmt_duration(eta) if left else '0s'} at {jobs} job(s)")
