"""Scales: which shipped YAML specs measure which claim at cpu, gpu or paper scale.

A scale is a folder of ordinary sweep specs plus ``claims.yaml``, its manifest: for each claim
the specs that measure it (and an optional ``search``, the measured recipe search shown beside
it, and a ``note`` saying what this scale cannot test and where it is tested), and the assumed
throughput that ``--plan`` turns into wall time. The shipped folders are
``src/kcap/reproduce/specs/<scale>/`` (``experiments/reproduce`` in a checkout links there); a
user may copy one, edit it and pass it with ``--specs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kcap.errors import KcapError
from kcap.reproduce.claims import CLAIMS

SPEC_ROOT = Path(__file__).parent / "specs"
SCALES = ("cpu", "gpu", "paper")
MANIFEST = "claims.yaml"


@dataclass(frozen=True)
class ClaimPlan:
    specs: tuple[str, ...]
    """Spec names (files in the scale's folder, without .yaml) whose runs measure the claim."""
    search: str | None = None
    """A spec of the recipe search behind it, shown beside the claim."""
    note: str = ""
    """What this scale cannot test of the claim, why, and which spec does."""


@dataclass(frozen=True)
class Throughput:
    """What ``--plan`` assumes of one job: whichever of FLOPs and tokens binds, plus a fixed cost
    per run (start, compile, measurement)."""

    flops_per_s: float
    tokens_per_s: float
    overhead_s: float = 0.0
    source: str = ""

    def seconds(self, flops: float, tokens: float) -> float:
        return max(flops / self.flops_per_s, tokens / self.tokens_per_s) + self.overhead_s


@dataclass(frozen=True)
class Scale:
    name: str
    description: str
    folder: Path
    claims: dict[str, ClaimPlan]
    throughput: Throughput
    plan_only: bool = False
    """True for a scale no single machine can run (the paper's): it runs only with --backend ray."""
    specs: dict[str, Path] = field(default_factory=dict)

    def spec_names(self, claims: list[str]) -> list[str]:
        """Every spec these claims need (searches included), in manifest order, once."""
        names: dict[str, None] = {}
        for cid in claims:
            plan = self.claims.get(cid)
            if plan:
                names.update(dict.fromkeys(plan.specs + ((plan.search,) if plan.search else ())))
        return list(names)


def _fail(path: Path, what: str) -> KcapError:
    return KcapError(f"{path}: {what}")


def load_scale(name: str | None = None, folder: Path | None = None) -> Scale:
    """A shipped scale by name, or the scale in ``folder`` (a copy with claims.yaml)."""
    if folder is None:
        if name not in SCALES:
            raise KcapError(f"--scale must be one of {', '.join(SCALES)}, got {name!r}")
        folder = SPEC_ROOT / name
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise KcapError(f"--specs {folder} has no {MANIFEST} (copy experiments/reproduce/<scale>/ and edit it)")
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise _fail(path, f"is not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(tree, dict) or not isinstance(tree.get("claims"), dict):
        raise _fail(path, "needs a mapping 'claims' (claim id -> {specs: [...]})")
    claims = {}
    for cid, entry in tree["claims"].items():
        if cid not in CLAIMS:
            raise _fail(path, f"claims.{cid}: no such claim (known: {', '.join(CLAIMS)})")
        if not isinstance(entry, dict) or not entry.get("specs"):
            raise _fail(path, f"claims.{cid}.specs: a list of spec names is required")
        claims[cid] = ClaimPlan(tuple(entry["specs"]), entry.get("search"), entry.get("note", ""))
    specs = {}
    for plan in claims.values():
        for spec in plan.specs + ((plan.search,) if plan.search else ()):
            p = folder / f"{spec}.yaml"
            if not p.is_file():
                raise _fail(path, f"names spec {spec!r}, but {p} does not exist")
            specs[spec] = p
    try:
        throughput = Throughput(**tree.get("throughput", {}))
    except TypeError as e:
        raise _fail(path, f"throughput: {e}") from None
    return Scale(name=tree.get("scale", folder.name), description=tree.get("description", ""), folder=folder,
                 claims=claims, throughput=throughput, plan_only=bool(tree.get("plan_only", False)), specs=specs)
