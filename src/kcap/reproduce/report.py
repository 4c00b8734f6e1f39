"""The report of one scale: claims.json, report.md with figures/*.png, and report.html (the same
content, figures embedded). Every number comes from the run store through the claims' parts, and
every part names its runs."""

from __future__ import annotations

import math
import platform
import time
from pathlib import Path

from kcap.report.fmt import si
from kcap.reproduce import document as doc
from kcap.reproduce.parts import Part
from kcap.reproduce.evidence import CAPACITY_BOUND, Result
from kcap.reproduce.figures import FIGURES, search
from kcap.reproduce.run import Outcome
from kcap.reproduce.scales import Scale
from kcap.reproduce.verdict import RULE, RULE_TEXT, Measured
from kcap.atomic import write_bytes, write_json

FILES = ("report.html", "report.md", "claims.json")


def fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if not math.isfinite(x):
        return "∞"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def fmt_measured(m: Measured | None) -> str:
    if m is None:
        return "not run"
    ci = f" [{fmt(m.ci[0])}, {fmt(m.ci[1])}]" if m.ci else ""
    return f"{fmt(m.value)}{ci} ({m.n_runs} run{'s' if m.n_runs != 1 else ''})"


def scale_of(results: list[Result]) -> dict:
    """What the claim was measured at: kinds, N, parameter range, exposures, seeds."""
    if not results:
        return {}
    return {"kinds": sorted({r.row.get("dataset") or r.kind for r in results}),
            "people": sorted({r.run.data["people"] for r in results}),
            "params": [min(r.params for r in results), max(r.params for r in results)],
            "exposures": sorted({r.exposures for r in results}),
            "seeds": sorted({r.run.train["seed"] for r in results})}


def _part_dict(p: Part) -> dict:
    return {"label": p.label, "paper": {"value": p.paper.value, "text": p.paper.text, "rule": p.paper.rule},
            "measured": p.measured.to_dict() if p.measured else None, "verdict": p.verdict, "runs": p.runs,
            **({"note": p.note} if p.note else {}), **({"untestable": True} if p.untestable else {}), **p.data}


def claims_json(scale: Scale, outcomes: list[Outcome], figures: dict[str, Path | None], root: Path) -> dict:
    claims = []
    for o in outcomes:
        head = headline(o)
        fig = figures.get(o.claim.id)
        claims.append({"id": o.claim.id, "title": o.claim.title,
                       "paper": {"value": head.paper.value, "text": o.claim.paper_text},
                       "headline": head.label,
                       "measured": head.measured.to_dict() if head.measured else None,
                       "verdict": o.verdict, "figure": fig.relative_to(root).as_posix() if fig else None,
                       "runs": sorted({r.id for r in o.results}), "scale": scale_of(o.results),
                       "parts": [_part_dict(p) for p in o.parts],
                       **({"note": o.plan.note} if o.plan and o.plan.note else {})})
    return {"scale": scale.name, "description": scale.description, "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
            "rule": RULE_TEXT, "claims": claims}


def headline(o: Outcome) -> Part:
    """The part a claim's one-line summary shows: its first that ran (the first, if none ran)."""
    return next((p for p in o.parts if p.verdict != "not run"),
                next((p for p in o.parts if p.measured is not None), o.parts[0]))


def _summary_cell(o: Outcome) -> str:
    h = headline(o)
    head = (f"{h.label}: " if len(o.parts) > 1 and h.measured else "") + fmt_measured(h.measured)
    if len(o.parts) > 1:
        ran = [p for p in o.parts if p.verdict != "not run"]
        ok = sum(p.verdict == "reproduced" for p in ran)
        missing = len(o.parts) - len(ran)
        head += (f"; {ok} of {len(ran)} parts reproduced" if ran else "") + \
            (f"; {missing} parts not run or not testable" if missing else "")
    return head


def _runs_table(results: list[Result], quantized: bool) -> doc.Table:
    header = ("run", "name", "params", "bits", "bits_max", "bits/param", "bits_max/params")
    header += ("int8 bits", "int4 bits") if quantized else ()
    rows = []
    for r in sorted(results, key=lambda r: (r.run.dataset_key, r.params, r.run.name)):
        row = (r.id, r.run.name, si(r.params), f"{r.bits:,.0f}", f"{r.bits_max:,.0f}", f"{r.bpp:.3f}",
               f"{r.bound:.2f}" + (" (bound)" if r.bound > CAPACITY_BOUND else ""))
        if quantized:
            row += tuple(fmt(r.quantized_bits(m)) for m in ("int8", "int4"))
        rows.append(row)
    return doc.Table(header, tuple(rows))


def claim_blocks(o: Outcome, scale: Scale, fig: Path | None, search_fig: Path | None) -> list[doc.Block]:
    c = o.claim
    out: list[doc.Block] = [doc.Heading(f"{c.id}: {c.title}", 2, c.id.lower()),
                            doc.Text(f"**Paper:** {c.paper_text}. **Verdict: {o.verdict}.**")]
    out.append(doc.Table(("part", "paper", "kcap (90% interval)", "verdict", "note"),
                         tuple((p.label, f"{fmt(p.paper.value)} ({p.paper.rule.replace('_', ' ')})",
                                fmt_measured(p.measured), p.verdict, p.note) for p in o.parts)))
    s = scale_of(o.results)
    if s:
        out.append(doc.Text(f"Measured on {', '.join(s['kinds'])}, N = {', '.join(f'{n:,}' for n in s['people'])}, "
                            f"{si(s['params'][0])}–{si(s['params'][1])} parameters, "
                            f"{' and '.join(map(str, s['exposures']))} exposures, seeds "
                            f"{', '.join(map(str, s['seeds']))}: {len(o.results)} of {o.planned} planned runs measured."))
    else:
        out.append(doc.Text(f"No measured run: {o.planned} planned at this scale." if o.plan else
                            f"The {scale.name} scale has no spec for {c.id}."))
    if o.plan and o.plan.note:
        out.append(doc.Text(f"**What this scale leaves out:** {o.plan.note}."))
    if fig:
        out.append(doc.Figure(fig, f"{c.id} figure"))
    if o.results:
        out += _detail_blocks(o)
        out.append(_runs_table(o.results, quantized=c.figure == "quantization"))
    if o.search:
        out += _search_blocks(o, search_fig)
    if o.plan:
        specs = " ".join(f"experiments/reproduce/{scale.name}/{s}.yaml" for s in o.plan.specs)
        out.append(doc.Text("Rerun it (trains only what the store lacks):"))
        out.append(doc.Code(f"kcap reproduce --scale {scale.name} --claims {c.id}\n# or spec by spec: "
                            f"kcap sweep run {specs}"))
    return out


def _detail_blocks(o: Outcome) -> list[doc.Block]:
    """The numbers behind a compute-side claim's figure: C10's exposures per run, C11's fit."""
    data = o.parts[0].data if o.parts else {}
    if o.claim.figure == "passes" and data.get("passes"):
        rows = tuple((r["run"], r["model"], si(r["params"]), f"{r['params_over_k']:.2g}", fmt(r["to_final"]),
                      fmt(r["to_bits_max"]) if r["to_bits_max"] else f"not in {r['exposures']}",
                      f"{r['final_share']:.0%}")
                     for r in sorted(data["passes"], key=lambda r: r["params_over_k"]))
        return [doc.Text("**Exposures needed, run by run** (k = bits_max; 90% shares, read off the bits curve):"),
                doc.Table(("run", "model", "params", "params/k", "to 90% of own final", "to 90% of bits_max",
                           "final share of bits_max"), rows)]
    if o.claim.figure == "compute_law" and data.get("fit"):
        fits = [(data["fit"], data["ci"], False)]
        if data.get("known_floor"):
            fits.append((data["known_floor"]["fit"], data["known_floor"]["ci"], True))

        def cells(k: str) -> tuple[str, ...]:
            return tuple(c for fit, ci, held in fits
                         for c in (fmt(fit[k]), "held" if held and k == "E" else f"[{fmt(ci[k][0])}, {fmt(ci[k][1])}]"))

        rows = tuple((k, *cells(k)) for k in ("E", "A", "B", "alpha", "beta", "a", "b"))
        head = ("constant", "fit", "90% interval") + (("E at the exact floor", "90% interval") if len(fits) > 1 else ())
        state = "identified" if data["identified"] else f"**not identified**: {data['why']}"
        if data.get("known_floor"):
            kf = data["known_floor"]
            state += (f"; refitted with E held at the exact floor {data['floor']:.3g}: "
                      + ("identified" if kf["identified"] else f"not identified ({kf['why']})"))
        out: list[doc.Block] = [
            doc.Text(f"**Approach 3** on {data['points']} logged held-out losses (popularity s = {data['s']:g}, "
                     f"C = 6ND): {state}. At C = {data['optimum']['flops']:.3g}: N_opt = "
                     f"{si(data['optimum']['N_opt'])}, D_opt = {si(data['optimum']['D_opt'])}, "
                     f"{data['optimum']['tokens_per_param']:.3g} tokens per parameter."),
            doc.Table(head, rows)]
        minima = (data.get("approach2") or {}).get("minima") or []
        if minima:
            out += [doc.Text("**Approach 2**: the IsoFLOP minima (parabola in log N per budget) and Approach 3's "
                             "90% interval of N_opt at the same budget:"),
                    doc.Table(("budget C", "N_opt (Approach 2)", "Approach 3's interval", "interior"),
                              tuple((f"{m['flops']:.3g}", si(m["N_opt"]),
                                     f"[{si(m['approach3_interval'][0])}, {si(m['approach3_interval'][1])}]"
                                     if m.get("approach3_interval") else "—", "yes" if m["interior"] else "no")
                                    for m in minima))]
        return out
    return []


def _search_blocks(o: Outcome, fig: Path | None) -> list[doc.Block]:
    used = {(r.run.model["name"], r.run.train["lr"]) for r in o.results}
    rows, better = [], []
    for r in sorted(o.search, key=lambda r: (r.params, r.run.train["lr"])):
        name, lr = r.run.model["name"], r.run.train["lr"]
        rows.append((name, f"{lr:g}", f"{r.bpp:.3f}", "yes" if (name, lr) in used else ""))
    for name in {r.run.model["name"] for r in o.search}:
        runs = [r for r in o.search if r.run.model["name"] == name]
        best = max(runs, key=lambda r: r.bpp)
        if (name, best.run.train["lr"]) not in used and any(n == name for n, _ in used):
            better.append(f"{name} stored more at lr {best.run.train['lr']:g} ({best.bpp:.3f} bits/param, one seed)")
    text = "**Recipe search** (seed 0): the rate each size uses is the one marked."
    if better:
        text += " In this run another rate did better than the one used: " + "; ".join(better) + "."
    out: list[doc.Block] = [doc.Text(text), doc.Table(("model", "lr", "bits/param", "used"), tuple(rows))]
    return out + ([doc.Figure(fig, "learning-rate search")] if fig else [])


def footer(wall_s: float, outcomes: list[Outcome]) -> list[doc.Block]:
    import numpy
    import torch

    import kcap

    train_s = sum((r.row.get("metrics") or {}).get("wall_s", 0) for r in {r.id: r for o in outcomes
                                                                              for r in o.results + o.search}.values())
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()})"
    return [doc.Heading("About this report", 2),
            doc.Text(f"kcap {kcap.__version__}, torch {torch.__version__}, numpy {numpy.__version__}, "
                     f"Python {platform.python_version()}, {platform.platform()}; device: {device}. "
                     f"Training time of the runs behind it: {train_s / 60:.1f} min (summed over runs); "
                     f"this invocation: {wall_s / 60:.1f} min. Generated {time.strftime('%Y-%m-%d %H:%M')}.")]


def write_report(out: Path, scale: Scale, outcomes: list[Outcome], wall_s: float) -> dict:
    """Write the three files and the figures into ``out``; returns claims.json's content."""
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    figs, search_figs = {}, {}
    for o in outcomes:
        figs[o.claim.id] = FIGURES[o.claim.figure](o, figdir / f"{o.claim.id}.png")
        search_figs[o.claim.id] = search(o, figdir / f"{o.claim.id}-search.png")
    blocks: list[doc.Block] = [
        doc.Heading(f"kcap reproduce: {scale.name} scale", 1),
        doc.Text(f"{scale.description}. Each claim of the paper (Allen-Zhu & Li 2024, SCIENCE.md §4) beside "
                 "what kcap measured on this machine, with a verdict by the rule below. Every number names the "
                 "runs in the store it comes from."),
        doc.Table(("claim", "paper", "kcap", "verdict"),
                  tuple((f"{o.claim.id} {o.claim.title}", o.claim.paper_text, _summary_cell(o), o.verdict)
                        for o in outcomes)),
        doc.Heading("The verdict rule", 2), doc.Text(RULE[0]), doc.Bullets(RULE[1:-1]), doc.Text(RULE[-1]),
    ]
    for o in outcomes:
        blocks += claim_blocks(o, scale, figs[o.claim.id], search_figs[o.claim.id])
    blocks += footer(wall_s, outcomes)
    data = claims_json(scale, outcomes, figs, out)
    write_json(out / "claims.json", data)
    write_bytes(out / "report.md", doc.to_markdown(blocks, out).encode())
    write_bytes(out / "report.html", doc.to_html(blocks, f"kcap reproduce: {scale.name}").encode())
    return data
