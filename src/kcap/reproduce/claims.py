"""The paper's claims (SCIENCE.md §4, §7), each measured from its specs' runs: the capacity
claims C1-C8 here, the compute side C9-C11 in ``compute_claims``.

A claim is a record: id, title, the paper's statement, and a function from its runs to its
*parts* (one number the paper states, what kcap measured, and the runs behind it). The verdict
rule is ``verdict.py``'s; the figures are ``figures.py``'s. Adding a claim is one function and one
entry in ``CLAIMS`` (docs/extending.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass


from kcap.reproduce.compute_claims import c9, c10, c11, crossing, curve  # noqa: F401 (C.crossing, C.curve)
from kcap.reproduce.evidence import CAPACITY_BOUND, Result
from kcap.reproduce.parts import Part
from kcap.reproduce.verdict import Measured, Paper, combine, mean_ci, ratio_ci


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    paper_text: str
    measure: Callable[[list[Result]], list[Part]]
    """From the claim's measured runs to its parts (the first is the headline)."""
    figure: str
    """Which figure draws it (a name in ``figures.FIGURES``)."""


def _name(r: Result) -> str:
    return r.run.model["name"]


def _peak(results: list[Result], label: str, paper: Paper, bound: float | None = CAPACITY_BOUND) -> Part:
    """The paper's "peak R": over groups of runs differing only in seed (capacity-bound ones, when
    ``bound``), the highest mean bits/param, with the interval over that group's seeds."""
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        if bound is None or r.bound > bound:
            groups[r.group()].append(r)
    if not groups:
        why = f"no capacity-bound run (bits_max/params > {bound:g})" if results else ""
        return Part(label, paper, None, note=why)
    best = max(groups.values(), key=lambda g: sum(r.bpp for r in g) / len(g))
    m = mean_ci([r.bpp for r in best])
    return Part(label, paper, m, [r.id for r in best],
                note=f"{_name(best[0])}, {best[0].kind}, bits_max/params {best[0].bound:.2f}")


MIN_STORED = 0.05
"""A reference run (no junk, GPT2) must store this share of bits_max for a "× worse" to mean anything."""


def _ratio_part(label: str, paper: Paper, ref: list[Result], other: list[Result], per_param: bool) -> Part:
    """ref ÷ other (bits, or bits/param), untestable when the reference stored almost nothing."""
    value = (lambda r: r.bpp) if per_param else (lambda r: r.bits)
    part = Part(label, paper, ratio_ci([value(r) for r in ref], [value(r) for r in other]),
                [r.id for r in ref + other])
    stored = sum(r.bits / r.bits_max for r in ref) / len(ref)
    if stored < MIN_STORED:
        part.untestable = True
        part.note = f"the reference stored {stored:.1%} of bits_max (under {MIN_STORED:.0%}): the ratio is noise"
    return part


def _at(results: list[Result], exposures: int) -> list[Result]:
    return [r for r in results if r.exposures == exposures]


def c1(results: list[Result]) -> list[Part]:
    at = _at(results, 1000)
    peak = _peak(at, "peak bits/param, 1000 exposures",
                 Paper(2.0, "peak R ≥ 2 bits/param for capacity-bound GPT2 models at 1000 exposures", "at_least"))
    bound = [r for r in at if r.bound > CAPACITY_BOUND]
    top = max(bound, key=lambda r: r.bpp, default=None)
    ceiling = Part("highest single run", Paper(2.3, "never above ~2.3 bits/param", "at_most"),
                   Measured(top.bpp, None, 1) if top else None, [top.id] if top else [])
    return [peak, ceiling]


def c2(results: list[Result]) -> list[Part]:
    return [_peak(_at(results, 100), "peak bits/param, 100 exposures",
                  Paper(1.0, "R ≥ 1 bit/param at 100 exposures", "at_least"))]


def c3(results: list[Result]) -> list[Part]:
    """simple / multi bits at each shape, headline at the most capacity-bound shape."""
    by_shape: dict[str, dict[str, list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        by_shape[_name(r) + f" E{r.exposures}"][r.run.data.get("variant")].append(r)
    pairs = [(shape, v["simple"], v["multi"]) for shape, v in by_shape.items() if v["simple"] and v["multi"]]
    pairs.sort(key=lambda p: -p[2][0].bound)
    # "simple ≈ 2, slightly lower": the comparison is the claim, read as simple / multi ≤ 1
    paper = Paper(1.0, "bioS simple stores slightly less than multi (≈ 2 bits/param against ≈ 2)", "at_most")
    if not pairs:
        return [Part("simple / multi bits", paper, None)]
    parts = []
    for shape, simple, multi in pairs:
        parts.append(Part(f"simple / multi bits, {shape} (bits_max/params {multi[0].bound:.2f})", paper,
                          ratio_ci([r.bits for r in simple], [r.bits for r in multi]),
                          [r.id for r in simple + multi]))
    return parts


def c4(results: list[Result]) -> list[Part]:
    """Each bioD configuration at 1000 exposures, its best model (the paper: ≥ 2 for each)."""
    by_data: dict[str, list[Result]] = defaultdict(list)
    for r in _at(results, 1000):
        by_data[r.run.dataset_key].append(r)
    paper = Paper(2.0, "R ≥ 2 bits/param at 1000 exposures for every (K, C, D, L, T)", "at_least")
    if not by_data:
        return [Part("bioD", paper, None)]
    parts = []
    for runs in by_data.values():
        b = runs[0].run.data.get("biod", {})
        label = "K={attributes} C={chunks} D={diversity} L={chunk_len} T={alphabet}".format(**b) + \
                f", N={runs[0].run.data['people']}"
        part = _peak(runs, label, paper, bound=None)
        part.note += "" if runs[0].bound > CAPACITY_BOUND else " (not capacity-bound)"
        parts.append(part)
    return sorted(parts, key=lambda p: p.measured.value if p.measured else 0)  # headline: the lowest


def c5(results: list[Result]) -> list[Part]:
    rs = [r for r in results if r.kind == "random"]
    top = max((r.exposures for r in rs), default=1000)
    part = _peak(_at(rs, top), f"peak bits/param, random strings, {top} exposures",
                 Paper(3.6, "≈ 3.6 bits/param for random strings in fp32 (Morris et al. 2025)"))
    return [part]


def c6(results: list[Result]) -> list[Part]:
    """int8 / fp32 bits over capacity-bound runs, and how many times worse int4 is."""
    bound = [r for r in results if r.bound > CAPACITY_BOUND and r.quantized_bits("int8") is not None]
    p8 = Paper(1.0, "int8 after training: unchanged (≈ 2 bits/param)")
    p4 = Paper(2.0, "int4 after training: more than 2× worse (≈ 0.7 bits/param)", "at_least")
    if not bound:
        return [Part("int8 / fp32 bits", p8, None), Part("fp32 / int4 bits (× worse)", p4, None)]
    ids = [r.id for r in bound]
    r8 = mean_ci([r.quantized_bits("int8") / r.bits for r in bound])
    fp, q4 = [r.bits for r in bound], [r.quantized_bits("int4") for r in bound]
    worse4 = ratio_ci(fp, q4)
    note = "int4 models stored ≤ 0 bits on average" if worse4.value == float("inf") else ""
    return [Part("int8 / fp32 bits", p8, r8, ids), Part("fp32 / int4 bits (× worse)", p4, worse4, ids, note)]


def _junk(r: Result) -> str:
    j = r.run.data.get("junk") or {}
    if not j.get("fraction"):
        return "clean"
    if j.get("domain_token"):
        return "domain token"
    return "repetitive" if j.get("people") else "junk"


C7_PAPER = {("junk", 100): 20.0, ("junk", 300): 3.0, ("junk", 600): 1.5, ("junk", 1000): 1.3}


def c7(results: list[Result]) -> list[Part]:
    """No-junk bits ÷ junk bits at the same exposures (× worse), per kind of junk."""
    cells: dict[tuple[str, int], list[Result]] = defaultdict(list)
    for r in results:
        cells[(_junk(r), r.exposures)].append(r)
    wanted = [(("junk", e), Paper(v, f"7/8 junk at {e} exposures: {v:g}× worse than no junk", "factor"))
              for (_, e), v in C7_PAPER.items()]
    wanted += [(("domain token", 100), Paper(2.0, "domain token on useful data, 100 exposures: only 2× worse",
                                             "factor")),
               (("domain token", 300), Paper(1.0, "domain token, 300 exposures: matches no junk")),
               (("repetitive", 100), Paper(1.0, "repetitive junk: no harm"))]
    parts = []
    for (what, e), paper in wanted:
        clean, other = cells.get(("clean", e), []), cells.get((what, e), [])
        label = f"{what}, {e} exposures"
        if not clean or not other:
            parts.append(Part(label, paper, None))
            continue
        parts.append(_ratio_part(label, paper, clean, other, per_param=False))
    return parts


def variant(r: Result) -> str:
    """The architecture variant of C8 a run is."""
    m = r.run.model
    if (m.get("experts") or 0) > 1:
        return "MoE"
    if m["arch"] != "gpt2":
        return {"llama": "LLaMA", "mistral": "Mistral"}.get(m["arch"], m["arch"])
    ratio = m.get("mlp_ratio", 4)
    return {4: "GPT2", 1: "1/4 MLP", 0: "no MLP"}.get(ratio, f"mlp ratio {ratio}")


C8_PAPER = {("LLaMA", 1000): 1.0, ("Mistral", 1000): 1.0, ("1/4 MLP", 1000): 1.0, ("no MLP", 1000): 1.0,
            ("MoE", 1000): 1.3, ("LLaMA", 100): 1.3, ("1/4 MLP", 100): 1.0, ("no MLP", 100): 1.5,
            ("MoE", 100): 1.5}


def c8(results: list[Result]) -> list[Part]:
    """GPT2 bits/param ÷ the variant's bits/param at the same exposures (× worse)."""
    cells: dict[tuple[str, int], list[Result]] = defaultdict(list)
    for r in results:
        cells[(variant(r), r.exposures)].append(r)
    parts = []
    for (what, e), v in C8_PAPER.items():
        text = f"{what} at {e} exposures: " + ("≈ GPT2" if v == 1 else f"{v:g}× worse than GPT2")
        paper = Paper(v, text, "factor" if v > 1 else "level")
        base, other = cells.get(("GPT2", e), []), cells.get((what, e), [])
        if not base or not other:
            parts.append(Part(f"{what}, {e} exposures", paper, None))
            continue
        parts.append(_ratio_part(f"{what}, {e} exposures", paper, base, other, per_param=True))
    return parts


CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("C1", "Capacity at 1000 exposures", "≥ 2 bits/param for capacity-bound models; never above ~2.3",
          c1, "capacity"),
    Claim("C2", "Capacity at 100 exposures", "≈ 1 bit/param", c2, "capacity"),
    Claim("C3", "bioS simple vs multi", "simple ≈ 2, slightly lower than multi", c3, "capacity"),
    Claim("C4", "bioD over (K, C, D, L, T)", "≥ 2 bits/param for each, at 1000 exposures", c4, "capacity"),
    Claim("C5", "Random strings (Morris et al. 2025)", "≈ 3.6 bits/param in fp32", c5, "capacity"),
    Claim("C6", "Quantization after training", "int8 unchanged; int4 more than 2× worse", c6, "quantization"),
    Claim("C7", "Junk data", "7/8 junk: 20× / 3× / 1.5× / 1.3× worse at 100 / 300 / 600 / 1000 exposures; "
          "a domain token recovers most; repetitive junk does no harm", c7, "junk"),
    Claim("C8", "Architectures", "LLaMA / Mistral / 1/4 MLP / no MLP ≈ GPT2 at 1000 exposures; at 100 LLaMA "
          "1.3×, no MLP 1.5× worse, 1/4 MLP unchanged; MoE 1.3× / 1.5× worse", c8, "architectures"),
    Claim("C9", "Training loss vs FLOPs across sizes", "small models lower at low FLOPs; larger ones overtake",
          c9, "loss_vs_flops"),
    Claim("C10", "Passes to memorize", "larger models need fewer passes: k bits take ~1000 passes with k/2 params, "
          "100 with k, 1 with 10k", c10, "passes"),
    Claim("C11", "A compute law on knowledge", "loss falls as a power law in params and tokens on a popularity-"
          "weighted stream; data needs grow faster than parameters", c11, "compute_law"),
)}


def claim_verdict(parts: list[Part]) -> str:
    return combine([p.verdict for p in parts])
