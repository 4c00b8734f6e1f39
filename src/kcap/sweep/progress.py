"""Sweep-level progress: runs done / running / failed / pending, and an ETA from estimated FLOPs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from kcap.sweep import ledger


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "?"
    s = round(s)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def measured_rate(runs: list) -> float | None:
    """Training FLOPs per second of one run, from the finished runs' summaries (None if none)."""
    flops = wall = 0.0
    for r in runs:
        s = ledger.summary(r)
        if s and s.get("flops") and s.get("wall_s"):
            flops += s["flops"]
            wall += s["wall_s"]
    return flops / wall if wall else None


def eta_seconds(remaining_flops: float, rate_per_run: float | None, jobs: int) -> float | None:
    if rate_per_run is None:
        return None
    return remaining_flops / (rate_per_run * max(1, jobs))


class SweepProgress:
    """Counts states while a sweep runs and prints one line per event."""

    def __init__(self, name: str, runs: list, states: dict[str, str], jobs: int, echo: Callable[[str], None]):
        self.name, self.runs, self.jobs, self.echo = name, {r.key: r for r in runs}, jobs, echo
        self.states = dict(states)
        self.t0 = time.perf_counter()
        self.flops_done = 0.0  # estimated FLOPs of runs finished in this session

    def counts(self) -> Counter:
        return Counter(self.states.values())

    def _remaining_flops(self) -> float:
        rem = 0.0
        for key, st in self.states.items():
            run = self.runs[key]
            f = run.est.get("flops") or 0.0
            if st in ("pending", "interrupted"):
                rem += f
            elif st == "running":  # the part not yet done, from its last logged step
                rem += f * (1 - (ledger.progress_fraction(run) or 0.0))
        return rem

    def _rate(self) -> float | None:
        """Whole-sweep FLOPs per second, from this session if a run finished, else from the store."""
        elapsed = time.perf_counter() - self.t0
        if self.flops_done and elapsed > 0:
            return self.flops_done / elapsed
        r = measured_rate(list(self.runs.values()))
        return r * self.jobs if r else None

    def line(self) -> str:
        c = self.counts()
        rate = self._rate()
        eta = self._remaining_flops() / rate if rate else None
        return (f"{c['done']}/{len(self.states)} done, {c['running']} running, {c['failed']} failed, "
                f"{c['pending'] + c['interrupted']} to do | ETA {fmt_duration(eta)}")

    def start(self, run) -> None:
        self.states[run.key] = "running"
        self.echo(f"[{self.name}] start {run.name} ({run.key}) | {self.line()}")

    def end(self, run, result: dict) -> None:
        self.states[run.key] = result["state"]
        if result["state"] == "done":
            self.flops_done += run.est.get("flops") or 0.0
        what = "done" if result["state"] == "done" else f"FAILED ({result['reason']})"
        self.echo(f"[{self.name}] {what}: {run.name} in {fmt_duration(result.get('wall_s'))} | {self.line()}")
