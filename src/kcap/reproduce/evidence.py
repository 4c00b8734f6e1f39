"""What the claims are measured on: the planned runs of a scale's specs, with their rows from the
run store (a run counts once it is measured; anything else is "not run" for the claims)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from kcap.store.db import RunStore
from kcap.store.workspace import store_path
from kcap.sweep import ledger
from kcap.sweep.plan import PlannedRun

CAPACITY_BOUND = 2.3
"""bits_max / params above which a model is capacity-bound: it could not hold the data even at the
paper's highest ratio (2.3 bits/param), so what it stores measures its capacity, not the data."""


@dataclass
class Result:
    """One planned run of a spec and, once measured, its store row."""

    run: PlannedRun
    spec: str
    row: dict | None = None
    store_id: str | None = None
    """The run's id in the store (``kcap runs``), once training has given it one."""
    points: list[dict] | None = None
    """Its training curve from the store (step, tokens, exposures, flops, loss, heldout_loss, bits)."""

    @property
    def done(self) -> bool:
        r = self.row
        return bool(r and r["status"] == "measured" and r.get("results") and not r.get("problem"))

    @property
    def id(self) -> str:
        return self.store_id or self.run.key

    @property
    def params(self) -> int:
        return self.row["results"]["params"]

    @property
    def bits(self) -> float:
        return self.row["results"]["bits"]

    @property
    def bits_max(self) -> float:
        return self.row["results"]["bits_max"]

    @property
    def bpp(self) -> float:
        return self.bits / self.params

    @property
    def bound(self) -> float:
        """bits_max / params: above CAPACITY_BOUND the model is capacity-bound."""
        return self.bits_max / self.params

    @property
    def exposures(self) -> int:
        return self.run.train["exposures"]

    @property
    def kind(self) -> str:
        return self.run.data["kind"]

    def quantized_bits(self, method: str) -> float | None:
        q = (self.row or {}).get("quantized", {}).get(method)
        return None if q is None else q["bits"]

    def group(self) -> str:
        """Runs that differ only in their seed share a group."""
        train = {k: v for k, v in self.run.train.items() if k != "seed"}
        return json.dumps([self.run.dataset_key, self.run.model, train], sort_keys=True)


class Evidence:
    """Results by spec name, read from the store once."""

    def __init__(self, planned: dict[str, list[PlannedRun]]):
        sid = {r.key: ledger.store_id(r) for runs in planned.values() for r in runs}
        ids = sorted({i for i in sid.values() if i})
        rows: dict[str, dict] = {}
        if ids and store_path().exists():
            with RunStore() as store:
                rows = {r["id"]: r for r in store.runs(ids=ids)}
                points = {i: store.points(i) for i in rows}
        else:
            points = {}
        self.by_spec = {name: [Result(r, name, rows.get(sid[r.key]), sid[r.key], points.get(sid[r.key]))
                               for r in runs] for name, runs in planned.items()}

    def results(self, specs: list[str], done: bool = True) -> list[Result]:
        """The results of these specs (each run once), only the measured ones unless ``done`` is False."""
        seen, out = set(), []
        for name in specs:
            for r in self.by_spec.get(name, []):
                if r.id not in seen and (r.done or not done):
                    seen.add(r.id)
                    out.append(r)
        return out
