"""``kcap demo``: the whole pipeline on CPU in minutes, ending in a knowledge-capacity plot.

Two views, one figure. **The law**: random strings (4 bits a symbol, almost no embedding) for 1000
exposures, where small models are capacity-bound and store well over a bit per parameter.
**bioS**: the paper's biographies at 100 exposures over a ladder of sizes that spans both regimes
(the smallest cannot hold the data, the largest can). Each model is trained, measured, and
plotted from the run store. The recipes (lr, batch) are calibrated for tiny models on CPU: see
docs/demo.md for the measurements behind them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from kcap.errors import KcapError
from kcap.kinds import get_kind
from kcap.measure.evaluate import measure_run
from kcap.model.spec import ModelSpec
from kcap.outdir import holding
from kcap.report.capacity import capacity_plot
from kcap.report.tables import capacity_table, console
from kcap.store import rundir
from kcap.store.db import RunStore
from kcap.train.config import TrainConfig
from kcap.train.loop import train


@dataclass
class DemoPart:
    """One dataset and the models trained on it."""

    title: str
    data: dict
    """The dataset, as a sweep spec's ``data`` (kind, people, seed, variant, the kind's section)."""
    sizes: tuple[tuple[int, int, int, float], ...]
    """(layers, d_model, heads, peak lr) of each model, smallest to largest."""
    train: TrainConfig


# Random strings: N = 256 sequences of 64 symbols over 16 (bits_max 65,536). Both models are
# capacity-bound (bits_max/params 4.9 and 2.5); the deeper one wants the lower rate (docs/demo.md).
LAW = DemoPart(
    title="random strings, 1000 exposures",
    data={"kind": "random", "people": 256, "seed": 0, "variant": "plain", "random": {"length": 64, "alphabet": 16}},
    sizes=((1, 32, 2, 1e-2), (2, 32, 2, 5e-3)),
    train=TrainConfig(exposures=1000, wd=0.01, batch=8, seq=256, device="cpu"))

# bioS, N = 1,000 at 100 exposures: tiny models need a far larger learning rate and far more
# optimizer steps (small batches) than the paper's recipe for 10K+ people (docs/demo.md).
BIOS = DemoPart(
    title="bioS N=1,000, 100 exposures",
    data={"kind": "bioS", "people": 1000, "seed": 0, "variant": "multi"},
    sizes=((1, 12, 2, 1e-2), (2, 32, 2, 1e-2), (3, 64, 2, 1e-2)),
    train=TrainConfig(exposures=100, wd=0.01, batch=8, seq=256, device="cpu"))


@dataclass
class DemoConfig:
    parts: tuple[DemoPart, ...] = field(default_factory=lambda: (LAW, BIOS))


def _run_part(part: DemoPart, out: Path, overwrite: bool) -> list[dict]:
    kind = get_kind(part.data["kind"])
    meta = kind.write(out / "data", part.data, overwrite=overwrite)
    console.print(f"[bold]{part.title}[/bold]: {kind.summary}, {part.data['people']:,} "
                  f"({meta['bits_max']:,.0f} bits_max), {len(part.sizes)} models")
    results = []
    for i, (layers, d_model, heads, lr) in enumerate(part.sizes):
        name = f"gpt2-{layers}x{d_model}x{heads}"
        console.print(f"  [{i + 1}/{len(part.sizes)}] {name}, lr {lr:g}")
        run = out / "runs" / name
        s = train(out / "data", ModelSpec(layers=layers, heads=heads, d_model=d_model), replace(part.train, lr=lr), run,
                  overwrite=overwrite)
        r = measure_run(run, device=part.train.device)
        console.print(f"    {s['wall_s']:.0f}s, {s['tokens_per_s'] / 1e3:.0f}K tok/s, {r['bits']:,.0f} bits = "
                      f"{r['bits_per_param']:.3f} bits/param ({r['fraction_stored']:.1%} of bits_max)")
        results.append({"name": name, "part": part.title, "lr": lr, "run_dir": str(run), **r})
    return results


def run_demo(cfg: DemoConfig, out: Path, overwrite: bool = False) -> list[dict]:
    """Train and measure every part into ``out`` (new or empty; ``overwrite``: run the demo again
    there, replacing an earlier demo's datasets and runs and their store rows), then one figure
    from the run store and one table per part."""
    t0 = time.perf_counter()
    out = Path(out)
    h = holding(out)
    if h.kind == "file":
        raise KcapError(f"--out {out} exists and is not a directory")
    if h.kind not in ("absent", "empty") and not overwrite:
        raise KcapError(f"--out {out} holds {h.what}; pass --overwrite to run the demo again there")
    console.print("[bold]kcap demo[/bold] on CPU: " + "; ".join(p.title for p in cfg.parts))
    results = [r for i, part in enumerate(cfg.parts) for r in _run_part(part, out / f"part{i + 1}", overwrite)]
    with RunStore() as store:  # the plot reads the store, like every plot
        rows = store.runs(ids=[r["id"] for r in results], measured_only=True)
    capacity_plot(rows, out / "capacity.png", title="kcap demo (CPU): bits stored vs parameters")
    rundir.write_json(out / "results.json", results)
    for part in cfg.parts:
        capacity_table([r for r in results if r["part"] == part.title], title=part.title)
    console.print(f"wrote {out / 'results.json'} and {out / 'capacity.png'} in {time.perf_counter() - t0:.0f}s")
    console.print("How the recipes were chosen: docs/demo.md. Every capacity claim of the paper, measured with a "
                  "verdict in one report: `kcap reproduce --scale cpu` (docs/reproduction.md)")
    return results
