"""Plan, run and evaluate the claims of one scale: specs -> sweep engine -> claims' parts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from kcap.errors import KcapError
from kcap.reproduce.claims import CLAIMS, Claim, Part, claim_verdict
from kcap.reproduce.evidence import Evidence, Result
from kcap.reproduce.scales import ClaimPlan, Scale
from kcap.sweep.plan import PlannedRun


GROUPS = {"capacity": [f"C{i}" for i in range(1, 9)], "compute": ["C9", "C10", "C11"]}
"""Names ``--claims`` accepts for sets of claims: the paper's capacity claims and the compute side."""


def parse_claims(text: str | None) -> list[str]:
    """``C1,C4`` -> ["C1", "C4"]; a group name (``capacity``, ``compute``) -> its claims; None or
    ``all`` -> every claim. An unknown id is an error."""
    if text is None or text.strip().lower() == "all":
        return list(CLAIMS)
    ids = []
    for c in (c.strip() for c in text.split(",") if c.strip()):
        ids += GROUPS.get(c.lower(), [c.upper()])
    bad = [c for c in ids if c not in CLAIMS]
    if bad or not ids:
        raise KcapError(f"--claims: unknown claim id {', '.join(bad) or repr(text)} (known: {', '.join(CLAIMS)}, "
                        f"or {', '.join(GROUPS)}, all)")
    return list(dict.fromkeys(ids))


def stage_claims(claims: list[str]) -> list[list[str]]:
    """The claims in the order they are run: the capacity claims, then the rest (each stage a
    queue of its own, with a report between), leaving out an empty stage."""
    first = [c for c in claims if c in GROUPS["capacity"]]
    rest = [c for c in claims if c not in GROUPS["capacity"]]
    return [s for s in (first, rest) if s]


def plan_scale(scale: Scale, claims: list[str]) -> dict[str, list[PlannedRun]]:
    """The planned runs of every spec these claims need (writes nothing)."""
    from kcap.sweep import plan_spec

    out = {}
    for name in scale.spec_names(claims):
        try:
            out[name] = plan_spec(scale.specs[name])[1]
        except KcapError as e:
            raise KcapError(f"{scale.specs[name]}: {e}") from None
    return out


def estimate(scale: Scale, planned: dict[str, list[PlannedRun]], claims: list[str], jobs: int) -> dict:
    """Runs, tokens, FLOPs and wall time per claim and in all (a run shared by claims counts once
    in the total), from the scale's assumed throughput."""
    def cost(runs: list[PlannedRun]) -> dict:
        tokens = sum(r.est["tokens"] for r in runs)
        flops = sum(r.est["flops"] for r in runs)
        secs = sum(scale.throughput.seconds(r.est["flops"], r.est["tokens"]) for r in runs)
        return {"runs": len(runs), "tokens": tokens, "flops": flops, "seconds": secs / jobs}

    per = {}
    for cid in claims:
        plan = scale.claims.get(cid)
        if plan:
            per[cid] = cost(_unique(planned, plan.specs + ((plan.search,) if plan.search else ())))
    return {"claims": per, "total": cost(_unique(planned, tuple(planned))), "jobs": jobs}


def _unique(planned: dict[str, list[PlannedRun]], specs: tuple[str, ...]) -> list[PlannedRun]:
    """Each run once; a run specs share is measured as each of them asks (``merge_shared``)."""
    from kcap.sweep.runner import merge_shared

    return list(merge_shared([r for s in specs for r in planned.get(s, [])]).values())


def all_done(planned: dict[str, list[PlannedRun]]) -> bool:
    """Whether every run of these specs is done (measured as its specs ask): nothing to train."""
    from kcap.sweep.runner import sweep_status

    return all(state == "done" for _, state, _ in sweep_status(_unique(planned, tuple(planned))))


def run_scale(scale: Scale, planned: dict[str, list[PlannedRun]], jobs: int | None, backend: str,
              echo: Callable[[str], None]) -> Counter:
    """Run every spec's runs through the sweep engine as one queue, longest first (done runs are
    skipped, interrupted ones resume, failed ones are recorded and left); the states at the end."""
    from kcap.sweep.runner import run_planned

    return run_planned(_unique(planned, tuple(planned)), f"reproduce-{scale.name}", jobs=jobs, backend=backend,
                       echo=echo)


@dataclass
class Outcome:
    """One claim at one scale: its parts, the runs behind them, and the recipe search beside it."""

    claim: Claim
    plan: ClaimPlan | None
    parts: list[Part]
    results: list[Result] = field(default_factory=list)
    planned: int = 0
    search: list[Result] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return claim_verdict(self.parts)


def evaluate(scale: Scale, planned: dict[str, list[PlannedRun]], claims: list[str]) -> list[Outcome]:
    ev = Evidence(planned)
    out = []
    for cid in claims:
        claim, plan = CLAIMS[cid], scale.claims.get(cid)
        results = ev.results(list(plan.specs)) if plan else []
        parts = claim.measure(results)
        planned_n = len(ev.results(list(plan.specs), done=False)) if plan else 0
        search = ev.results([plan.search]) if plan and plan.search else []
        out.append(Outcome(claim, plan, parts, results, planned_n, search))
    return out
