"""The compute side of the seed (C9-C11), measured on knowledge: loss curves that cross, passes
to memorize, and a compute law on a popularity-weighted stream. Registered in ``claims.CLAIMS``."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from kcap.reproduce.evidence import Result
from kcap.reproduce.parts import Part
from kcap.reproduce.verdict import Measured, Paper, mean_ci


def curve(r: Result, smooth: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(training FLOPs, training loss) along a run, the loss a running mean over ``smooth`` records."""
    pts = [p for p in r.points or [] if p["flops"] and p["loss"] is not None]
    f = np.array([p["flops"] for p in pts], float)
    loss = np.array([p["loss"] for p in pts], float)
    if loss.size >= smooth:
        loss = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
        f = f[smooth - 1:]
    return f, loss


def crossing(small: Result, large: Result) -> float | None:
    """The training FLOPs from which the larger model's loss stays below the smaller's, when the
    smaller one was ahead before (None: no such crossing on their common FLOPs range)."""
    (fs, ls), (fl, ll) = curve(small), curve(large)
    if fs.size < 2 or fl.size < 2:
        return None
    lo, hi = max(fs[0], fl[0]), min(fs[-1], fl[-1])
    if lo >= hi:
        return None
    grid = np.geomspace(lo, hi, 200)
    diff = np.interp(np.log(grid), np.log(fl), ll) - np.interp(np.log(grid), np.log(fs), ls)
    ahead = diff < 0  # the larger model lower
    if ahead.all() or not ahead[-1]:
        return None
    first = len(ahead) - int(np.argmin(ahead[::-1]))  # the start of the final run of "larger ahead"
    return float(grid[first])


def c9(results: list[Result]) -> list[Part]:
    """Adjacent sizes (by parameters) on the same data: how many pairs cross, and where."""
    by_data: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        if r.points:
            by_data[r.run.dataset_key].append(r)
    paper = Paper(1.0, "at low FLOPs the smaller models' loss is lower; each larger model overtakes the next "
                       "smaller one at higher FLOPs (share of adjacent pairs that cross)", "at_least")
    pairs = []
    for runs in by_data.values():
        runs.sort(key=lambda r: r.params)
        pairs += [(a, b, crossing(a, b)) for a, b in zip(runs, runs[1:])]
    if not pairs:
        return [Part("adjacent size pairs that cross", paper, None)]
    crossings = [{"smaller": a.id, "larger": b.id, "smaller_params": a.params, "larger_params": b.params,
                  "flops": f} for a, b, f in pairs]
    n = sum(f is not None for _, _, f in pairs)
    ids = sorted({r.id for a, b, _ in pairs for r in (a, b)})
    return [Part("adjacent size pairs that cross", paper, Measured(n / len(pairs), None, len(ids)), ids,
                 note=f"{n} of {len(pairs)} pairs cross", data={"crossings": crossings})]


PASSES_SHARE = 0.9
"""C10 reads the exposures at which a run has stored this share of its final bits, and of bits_max."""


def passes_rows(results: list[Result]) -> list[dict]:
    """Per bits-tracked run: params/k (k = bits_max of its data) and the exposures at which it
    reached PASSES_SHARE of its final bits and of bits_max (None: not within its exposures)."""
    from kcap.laws.passes import exposures_to_reach

    rows = []
    for r in results:
        pts = [p for p in r.points or [] if p.get("bits") is not None and p.get("exposures") is not None]
        if len(pts) < 2:
            continue
        e = np.array([p["exposures"] for p in pts], float)
        b = np.array([p["bits"] for p in pts], float)
        rows.append({"run": r.id, "model": r.run.model["name"], "params": r.params, "k": r.bits_max,
                     "params_over_k": r.params / r.bits_max, "exposures": r.exposures,
                     "final_share": float(b[-1] / r.bits_max),
                     "to_final": exposures_to_reach(e, b, PASSES_SHARE),
                     "to_bits_max": exposures_to_reach(e, b, PASSES_SHARE, reference=r.bits_max)})
    return rows


def _decline(rows: list[dict], key: str, label: str, paper: Paper) -> Part:
    """exposures[key] ∝ (params/k)^slope over the rows that have a count: the decline exponent
    -slope with its 90% interval (Student t on the slope)."""
    from kcap.laws.passes import fit_passes

    have = [r for r in rows if r[key]]
    fit = fit_passes(np.array([r["params_over_k"] for r in have]), np.array([r[key] for r in have]))
    runs = [r["run"] for r in have]
    if fit["slope"] is None:
        return Part(label, paper, None, runs, note=fit["why"] or "")
    ci = fit["ci"]
    m = Measured(-fit["slope"], (-ci[1], -ci[0]) if ci else None, len(have))
    note = (f"exposures ∝ (params/k)^{fit['slope']:.2f}" + (f", 90% interval [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
            + f", {len(have)} of {len(rows)} runs")
    return Part(label, paper, m, runs, note=note, data={"slope": fit["slope"], "ci": ci})


def c10(results: list[Result]) -> list[Part]:
    """Passes to memorize: how the exposures needed fall with params/k, and the informal rule's rows."""
    from kcap.laws.passes import INFORMAL_RULE, RULE_SLOPE

    rows = passes_rows(results)
    share = f"{PASSES_SHARE:.0%}"
    rule = (f"larger models need fewer passes: k bits take ~1000 passes with k/2 params, 100 with k, 1 with 10k, "
            f"i.e. exposures ∝ (params/k)^{RULE_SLOPE:.1f}")
    parts = [_decline(rows, "to_final", f"decline exponent, exposures to {share} of own final bits",
                      Paper(-RULE_SLOPE, rule)),
             _decline(rows, "to_bits_max", f"decline exponent, exposures to {share} of bits_max",
                      Paper(-RULE_SLOPE, rule))]
    parts[0].data["passes"] = rows
    for ratio, passes in INFORMAL_RULE:
        label = f"params ≈ {ratio:g}k: exposures to {share} of bits_max"
        paper = Paper(passes, f"{passes:g} passes with {ratio:g}k parameters (informal rule)")
        near = [r for r in rows if abs(np.log(r["params_over_k"] / ratio)) <= np.log(2)]
        if not near:
            parts.append(Part(label, paper, None, note="no run within a factor 2 of this params/k"))
            continue
        best = min(near, key=lambda r: abs(np.log(r["params_over_k"] / ratio)))
        group = [r for r in near if r["model"] == best["model"]]  # its seeds
        counts = [r["to_bits_max"] if r["to_bits_max"] else float("inf") for r in group]
        part = Part(label, paper, mean_ci(counts), [r["run"] for r in group],
                    note=f"{best['model']}, params/k {best['params_over_k']:.2g}")
        if not all(r["to_bits_max"] for r in group):
            most = max(r["final_share"] for r in group)
            part.note += f"; stored at most {most:.0%} of bits_max in {best['exposures']} exposures"
            if best["exposures"] < passes:  # trained for fewer passes than the rule allows: untested
                part.untestable = True
        parts.append(part)
    return parts


A2_LABEL = "Approach 2 (IsoFLOP minima): a"
LAW_BOOT = 100
"""Bootstrap resamples of C11's Approach 3 fit."""
ISOFLOP_BUDGETS = 10
"""IsoFLOP budgets C11 reads off the runs' curves (log-spaced over the runs' 6ND range)."""


def _warmup(r: Result) -> int:
    return ((r.row or {}).get("config") or {}).get("derived", {}).get("warmup", 0)


def _law_curve(r: Result) -> list[dict]:
    """A run's logged held-out losses past its warm-up: what C11 reads (the warm-up is outside
    what the law describes)."""
    return [p for p in r.points or [] if p.get("heldout_loss") is not None and p["tokens"] and p["step"] >= _warmup(r)]


def law_points(results: list[Result]) -> dict[str, np.ndarray]:
    """Every point of every run's law curve: params, tokens, loss (Approach 3 treats each as one
    observation of L(N, D))."""
    pts = [(r.params, p) for r in results for p in _law_curve(r)]
    return {"params": np.array([n for n, _ in pts], float), "tokens": np.array([p["tokens"] for _, p in pts], float),
            "loss": np.array([p["heldout_loss"] for _, p in pts], float)}


def isoflop_slices(results: list[Result], budgets: int = ISOFLOP_BUDGETS) -> list[dict]:
    """IsoFLOP profiles read off constant-rate curves: at each budget C = 6·N·D (the convention
    of Approach 3's allocation, so the two compare), every run whose curve (past its warm-up)
    spans C gives (params, tokens at C, held-out loss at C), log-log interpolated. One run per
    size then yields a point at every budget it spans: the many-horizons-from-one-run design.
    Budgets are log-spaced over all the runs' range; those spanned by fewer than 3 sizes are left out."""
    curves = []
    for r in results:
        pts = _law_curve(r)
        if len(pts) >= 2:
            curves.append((r, np.log([6.0 * r.params * p["tokens"] for p in pts]),
                           np.log([p["tokens"] for p in pts]), np.log([p["heldout_loss"] for p in pts])))
    if len(curves) < 3:
        return []
    out = []
    lo, hi = min(c[1][0] for c in curves), max(c[1][-1] for c in curves)
    for c in np.linspace(lo, hi, budgets + 2)[1:-1]:
        here = [(r, f, t, l) for r, f, t, l in curves if f[0] <= c <= f[-1]]
        if len({r.params for r, *_ in here}) < 3:
            continue
        for r, f, t, l in here:
            out.append({"budget": float(np.exp(c)), "run": r.id, "params": r.params,
                        "tokens": float(np.exp(np.interp(c, f, t))), "loss": float(np.exp(np.interp(c, f, l)))})
    return out


def random_strings_floor(strings: int, length: int, s: float) -> float:
    """The exact irreducible loss (nats per token) of random strings drawn by popularity s: a model
    that knows every string still pays the entropy of which string comes, H(p) over the length + 1
    targets of a document."""
    from kcap.corpus.popularity import zipf_probs

    p = zipf_probs(strings, s)
    return float(-(p * np.log(p)).sum() / (length + 1))


def loss_floor(results: list[Result], s: float) -> float | None:
    """The exact irreducible held-out loss where kcap knows it (random strings), None for other kinds."""
    r = results[0]
    if r.kind != "random" or "random" not in r.run.data:
        return None
    return random_strings_floor(r.run.data["people"], r.run.data["random"]["length"], s)


def cached_fit(pts: dict[str, np.ndarray], E: float | None = None) -> dict:
    """``fit_compute_law`` on these points (``E``: a known floor, held fixed), kept in the workspace
    (``fits/<hash>.json``) under a hash of its exact inputs: the fit is deterministic and takes
    about a minute (4,500 starts and LAW_BOOT refits), so a report rebuilt from an unchanged store
    reads it back instead."""
    import hashlib
    import json

    from kcap.atomic import plain, write_json
    from kcap.laws.compute import fit_compute_law
    from kcap.store.workspace import workspace_dir

    key = [LAW_BOOT] + [pts[k].tolist() for k in ("params", "tokens", "loss")] + ([E] if E is not None else [])
    h = hashlib.sha256(json.dumps(key).encode())
    path = workspace_dir() / "fits" / f"compute-{h.hexdigest()[:16]}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except ValueError:  # a damaged cache file is refitted and rewritten
            pass
    law = fit_compute_law(pts["params"], pts["tokens"], pts["loss"], n_boot=LAW_BOOT, E=E)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, plain(law))
    return law


def predicted_exponents(s: float) -> dict[str, float]:
    """The compute law predicted from the capacity law and a Zipf popularity exponent s > 1
    (docs/scaling.md): L - E ∝ (people not known)'s mass, a model of N params knows the ∝ N most
    popular people and D tokens teach those seen often enough, ∝ D^(1/s); the tail mass beyond
    rank m is ∝ m^(1-s). Hence alpha = s - 1, beta = (s - 1)/s, a = 1/(1 + s), b = s/(1 + s)."""
    return {"alpha": s - 1, "beta": (s - 1) / s, "a": 1 / (1 + s), "b": s / (1 + s)}


def _known_floor(pts: dict[str, np.ndarray], law: dict, floor: float, data: dict) -> str:
    """The one constant kcap knows exactly: how the fit's E compares, and the law refitted with E
    held there (do the exponents move once E cannot take part of the fall?), kept in ``data``."""
    known = cached_fit(pts, E=floor)
    data["known_floor"] = {"fit": {k: known[k] for k in data["fit"]}, "ci": known["ci"],
                           "identified": known["identified"], "why": known["why"]}
    lo, hi = law["ci"]["E"]
    return (f"E = {law['E']:.3g} [{lo:.3g}, {hi:.3g}] against the exact floor {floor:.3g} (the entropy of which "
            "string comes); with E held at the floor: "
            + ", ".join(f"{k} = {known[k]:.3g} [{known['ci'][k][0]:.3g}, {known['ci'][k][1]:.3g}]"
                        for k in ("alpha", "beta", "a", "b")))


def c11(results: list[Result]) -> list[Part]:
    """Approach 3 on the popular stream's held-out losses, its exponents against the prediction
    from s, and Approach 2's IsoFLOP minima against Approach 3's interval."""
    from kcap.errors import KcapError
    from kcap.laws.compute import fit_approach2
    from kcap.laws.optimal import n_opt_interval, optimal_allocation
    from kcap.laws.passes import slope_ci

    runs = [r for r in results if r.points and r.run.train.get("popularity")]
    s = float(np.median([r.run.train["popularity"] for r in runs])) if runs else 0.0
    pred = predicted_exponents(s) if s > 1 else None
    labels = (("a", "a: N_opt ∝ C^a"), ("b", "b: D_opt ∝ C^b"), ("alpha", "alpha: the N term's exponent"),
              ("beta", "beta: the D term's exponent"))
    why_pred = f"prediction from the capacity law and popularity s = {s:g} (docs/scaling.md)"

    def paper(key: str) -> Paper:
        if pred is None:  # nothing to predict from: the part is not run (0.0 keeps claims.json valid JSON)
            return Paper(0.0, "a prediction needs a popular stream with s > 1")
        return Paper(pred[key], f"{why_pred}: {key} = {pred[key]:.3g}")

    pts = law_points(runs)
    ids = [r.id for r in runs]
    try:
        if pred is None:
            raise KcapError("no run of a popular stream with s > 1")
        law = cached_fit(pts)  # C = 6ND throughout
    except KcapError as e:
        return [Part(label, paper(k), None, ids, note=str(e))
                for k, label in labels] + [Part(A2_LABEL, Paper(0.0, "Approach 3's a (not fitted)"), None, ids)]
    parts = []
    for k, label in labels:
        lo, hi = law["ci"][k]
        part = Part(label, paper(k), Measured(law[k], (lo, hi), len(runs)), ids)
        if not law["identified"]:
            part.untestable, part.note = True, f"Approach 3 not identified: {law['why']}"
        parts.append(part)
    slices = isoflop_slices(runs)
    constants = {k: law[k] for k in ("E", "A", "B", "alpha", "beta", "a", "b", "G")}
    floor = loss_floor(runs, s)
    data = {"s": s, "fit": constants, "ci": law["ci"], "identified": law["identified"], "why": law["why"],
            "points": int(pts["params"].size), "approach2": None, "isoflop": slices, "floor": floor}
    parts[0].data = data
    if floor is not None:
        parts[0].note = (parts[0].note + "; " if parts[0].note else "") + (
            _known_floor(pts, law, floor, data) if floor < pts["loss"].min() else
            f"the exact floor {floor:.3g} is not below the lowest held-out loss {pts['loss'].min():.3g} "
            "(a held-out sample too small to measure it?): no refit with E held there")
    top = max((p["budget"] for p in slices), default=float(np.max(6.0 * pts["params"] * pts["tokens"])))
    alloc = optimal_allocation(constants, top)
    data["optimum"] = {"flops": top, **{k: float(v) for k, v in alloc.items()}}
    parts[0].note = (parts[0].note + "; " if parts[0].note else "") + \
        f"tokens per parameter at the optimum for C = {top:.3g}: {alloc['tokens_per_param']:.3g}"
    agree = Paper(law["a"], f"Approach 2's a agrees with Approach 3's a = {law['a']:.3g} "
                            f"[{law['ci']['a'][0]:.3g}, {law['ci']['a'][1]:.3g}]")
    try:
        a2 = fit_approach2([p["params"] for p in slices], [p["tokens"] for p in slices],
                           [p["loss"] for p in slices], budget=[p["budget"] for p in slices])
    except (KcapError, ValueError) as e:
        parts.append(Part(A2_LABEL, agree, None, ids, note=str(e)))
        return parts
    inside = 0
    for m in a2["minima"]:
        ci = n_opt_interval(law["samples"], m["flops"], (5, 95))  # None: some resample has no optimum
        m["approach3_interval"] = ci
        inside += ci is not None and ci[0] <= m["N_opt"] <= ci[1]
    cs = np.log([m["flops"] for m in a2["minima"]])
    a_ci = slope_ci(cs, np.log([m["N_opt"] for m in a2["minima"]]))
    data["approach2"] = {**{k: a2[k] for k in ("a", "b", "identified", "why", "minima")}, "a_ci": a_ci}
    overlap = a_ci is not None and a_ci[0] <= law["ci"]["a"][1] and law["ci"]["a"][0] <= a_ci[1]
    part = Part(A2_LABEL, agree, Measured(a2["a"], tuple(a_ci) if a_ci else None, len(runs)), ids,
                note=f"{len(a2['minima'])} IsoFLOP budgets; intervals of a {'overlap' if overlap else 'do not overlap'}; "
                     f"{inside} of {len(a2['minima'])} minima inside Approach 3's N_opt interval; b = {a2['b']:.3g}")
    if not a2["identified"]:
        part.note += f"; Approach 2: {a2['why']}"
    if not law["identified"]:
        part.untestable, part.note = True, part.note + f"; Approach 3 not identified: {law['why']}"
    parts.append(part)
    return parts
