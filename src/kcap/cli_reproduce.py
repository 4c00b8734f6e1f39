"""``kcap reproduce``: plan, run and report every claim of the paper at one scale."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from kcap.errors import KcapError
from kcap.report.fmt import si


def _check_out(out: Path) -> None:
    """A new or empty folder, or one holding an earlier report (rebuilt in place, derived from the
    store); anything else is refused before any training."""
    from kcap.reproduce.report import FILES

    if out.exists() and not out.is_dir():
        raise KcapError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not any((out / f).is_file() for f in FILES):
        raise KcapError(f"--out {out} holds other files (not a kcap report); choose a new or empty folder")


def _print_plan(scale, planned, claims: list[str], jobs: int, as_json: bool) -> None:
    from kcap.reproduce.run import estimate
    from kcap.sweep import sweep_status
    from kcap.sweep.progress import fmt_duration

    est = estimate(scale, planned, claims, jobs)
    states = {r.key: st for runs in planned.values() for r, st, _ in sweep_status(runs)}
    if as_json:
        runs = [{"spec": spec, "state": states[r.key], **r.to_dict()} for spec, rs in planned.items() for r in rs]
        typer.echo(json.dumps({"scale": scale.name, "description": scale.description, **est,
                               "specs": {k: str(v) for k, v in scale.specs.items()}, "runs": runs}, indent=2))
        return
    done = sum(st == "done" for st in states.values())
    typer.echo(f"kcap reproduce --scale {scale.name}: {scale.description}")
    typer.echo(f"{'claim':<6}{'runs':>6}{'tokens':>10}{'FLOPs':>10}{'est. wall':>11}  specs")
    for cid in claims:
        if cid not in est["claims"]:
            typer.echo(f"{cid:<6}{'—':>6}{'':>10}{'':>10}{'':>11}  no spec at this scale (not run)")
            continue
        c, plan = est["claims"][cid], scale.claims[cid]
        specs = ", ".join(plan.specs) + (f" (+ search {plan.search})" if plan.search else "")
        typer.echo(f"{cid:<6}{c['runs']:>6}{si(c['tokens']):>10}{si(c['flops']):>10}"
                   f"{fmt_duration(c['seconds']):>11}  {specs}")
    t = est["total"]
    typer.echo(f"{'all':<6}{t['runs']:>6}{si(t['tokens']):>10}{si(t['flops']):>10}{fmt_duration(t['seconds']):>11}"
               f"  ({done} runs already done; shared runs counted once; {jobs} job(s) at once)")
    tp = scale.throughput
    typer.echo(f"wall time assumes {si(tp.flops_per_s)} FLOP/s or {si(tp.tokens_per_s)} tokens/s per job, "
               f"whichever binds, + {tp.overhead_s:g}s per run" + (f" ({tp.source})" if tp.source else ""))


def reproduce(
    scale: Annotated[str, typer.Option(help="cpu (2 CPU cores; the capacity claims aim at 90 min, the compute "
                                            "claims at 60), gpu (one H100-class GPU), or paper (the paper's grid: "
                                            "plan, or --backend ray).")] = "cpu",
    claims: Annotated[Optional[str], typer.Option(help="Claim ids, comma-separated, e.g. C1,C6, or a group: capacity "
                                                       "(C1-C8), compute (C9-C11), all (the default).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Report folder (default: reproduce-SCALE).")] = None,
    jobs: Annotated[Optional[int], typer.Option(min=1, help="Runs at once (default: CPU cores at cpu scale, else 1).")] = None,
    backend: Annotated[str, typer.Option(help="local or ray (the ray extra).")] = "local",
    plan: Annotated[bool, typer.Option("--plan", help="Print runs, tokens, FLOPs and wall time per claim; train nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --plan: print it as JSON.")] = False,
    report_only: Annotated[bool, typer.Option("--report-only", help="Rebuild the report from the store; train nothing.")] = False,
    specs: Annotated[Optional[Path], typer.Option(help="A scale folder of your own (an edited copy of "
                                                       "experiments/reproduce/SCALE with its claims.yaml).")] = None,
) -> None:
    """Measure the paper's claims at one scale and write report.html, report.md and claims.json.

    Runs go through the sweep engine into the workspace's run store: finished runs are never
    trained again, a killed invocation resumes, failures are recorded and skipped. The capacity
    claims (C1-C8) run first and the report is written once they are measured; the compute
    claims (C9-C11) follow and the report is written again."""
    from kcap.reproduce.report import write_report
    from kcap.reproduce.run import all_done, evaluate, parse_claims, plan_scale, run_scale, stage_claims
    from kcap.reproduce.scales import load_scale

    t0 = time.perf_counter()
    sc = load_scale(None if specs else scale, specs)
    ids = parse_claims(claims)
    out = Path(out) if out is not None else Path(f"reproduce-{sc.name}")
    if backend not in ("local", "ray"):
        raise KcapError(f"--backend must be local or ray, got {backend!r}")
    if plan and report_only:
        raise KcapError("--plan and --report-only: choose one")
    if as_json and not plan:
        raise KcapError("--json goes with --plan")
    if not plan:
        _check_out(out)
    if sc.plan_only and not (plan or report_only) and backend != "ray":
        raise KcapError(f"--scale {sc.name} trains the paper's grid (see --plan): run it on a cluster with "
                        "--backend ray, or choose --scale cpu or gpu")
    planned = plan_scale(sc, ids)
    if jobs is None:
        jobs = (os.cpu_count() or 1) if sc.name == "cpu" and backend == "local" else 1
    if plan:
        _print_plan(sc, planned, ids, jobs, as_json)
        return
    if report_only:
        _require_measured(sc, planned)
    else:
        # the capacity claims first, with a report as soon as they are measured, then the compute side
        stages = stage_claims([c for c in ids if c in sc.claims])  # the claims this scale measures
        for k, stage in enumerate(stages):
            mine = {name: planned[name] for name in sc.spec_names(stage)}
            states = run_scale(sc, mine, jobs if backend == "local" else None, backend, typer.echo)
            if states.get("failed"):
                typer.echo(f"{states['failed']} run(s) failed (recorded; `kcap sweep status SPEC` names them); "
                           "their claims count what finished")
            later = {name: planned[name] for s in stages[k + 1:] for name in sc.spec_names(s)}
            if later and not all_done(later):  # a report to read while the next stage trains
                write_report(out, sc, evaluate(sc, planned, ids), time.perf_counter() - t0)
                typer.echo(f"{', '.join(stage)} measured: report written in {time.perf_counter() - t0:.0f}s; "
                           f"now {', '.join(c for s in stages[k + 1:] for c in s)}")
    outcomes = evaluate(sc, planned, ids)
    write_report(out, sc, outcomes, time.perf_counter() - t0)
    for o in outcomes:
        typer.echo(f"{o.claim.id:<4}{o.verdict:<16}{o.claim.title}")
    typer.echo(f"wrote {out / 'report.html'}, {out / 'report.md'} and {out / 'claims.json'} "
               f"in {time.perf_counter() - t0:.0f}s")


def _require_measured(sc, planned) -> None:
    from kcap.reproduce.evidence import Evidence
    from kcap.store.workspace import store_path

    ev = Evidence(planned)
    if not any(r.done for rs in ev.by_spec.values() for r in rs):
        raise KcapError(f"--report-only: the run store {store_path()} has no measured run of the {sc.name} "
                        f"scale's specs (run `kcap reproduce --scale {sc.name}` first)")


def plot_claim(
    claim: Annotated[str, typer.Argument(help="Claim id, e.g. C1 or C9.")],
    scale: Annotated[str, typer.Option(help="cpu, gpu or paper: whose specs' runs to draw.")] = "cpu",
    specs: Annotated[Optional[Path], typer.Option(help="A scale folder of your own (as kcap reproduce --specs).")] = None,
    out: Annotated[Path, typer.Option(help="Image file to write.")] = Path("claim.png"),
) -> None:
    """One claim's report figure alone (e.g. C9, training loss vs FLOPs), from the run store."""
    from kcap.report.figure import figure_path
    from kcap.reproduce.figures import FIGURES
    from kcap.reproduce.run import evaluate, parse_claims, plan_scale
    from kcap.reproduce.scales import load_scale

    out = figure_path(out, "--out")  # a bad path fails before any work
    sc = load_scale(None if specs else scale, specs)
    (cid,) = parse_claims(claim)[:1]
    (outcome,) = evaluate(sc, plan_scale(sc, [cid]), [cid])
    if FIGURES[outcome.claim.figure](outcome, out) is None:
        raise KcapError(f"{cid}: no measured run of the {sc.name} scale's specs in the store "
                        f"(run `kcap reproduce --scale {sc.name} --claims {cid}` first)")
    typer.echo(f"wrote {out} ({cid}: {outcome.verdict})")
