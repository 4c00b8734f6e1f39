"""``kcap demo``: the whole pipeline on CPU in minutes, ending in a knowledge-capacity plot.

One bioS population; a ladder of model sizes derived from one base (only width and depth vary)
that spans both regimes: the smallest cannot hold the dataset (bits_max/params >= 2), the largest
can (bits_max/params <= 0.5); each trained for the same exposures, measured, and plotted from the
run store. The training recipe (lr, batch, warm-up) is calibrated for tiny models on CPU:
see docs/demo.md for the measurements behind it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from kcap.errors import KcapError
from kcap.kinds.bios.data import write_bios
from kcap.measure.evaluate import measure_run
from kcap.model.spec import ModelSpec
from kcap.outdir import holding
from kcap.report.capacity import capacity_plot
from kcap.report.tables import capacity_table, console
from kcap.store import rundir
from kcap.store.db import RunStore
from kcap.train.config import TrainConfig
from kcap.train.loop import train

# (layers, d_model, heads): the ladder, smallest to largest
DEMO_SIZES = ((1, 12, 2), (1, 24, 2), (2, 32, 2), (3, 64, 2))


@dataclass
class DemoConfig:
    people: int = 1000
    exposures: int = 100
    seed: int = 0
    sizes: tuple[tuple[int, int, int], ...] = DEMO_SIZES
    # Tiny models need a far larger learning rate and far more optimizer steps (small batches) than
    # the paper's recipe for 10K+ people; 1e-2 was the best of 3e-3..2e-2 at every size (docs/demo.md).
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        exposures=100, lr=1e-2, wd=0.01, batch=8, seq=256, device="cpu"))


def run_demo(cfg: DemoConfig, out: Path, overwrite: bool = False) -> list[dict]:
    """Run the demo into ``out``, which must be new or empty; ``overwrite``: run it again there,
    replacing an earlier demo's dataset and runs (and their store rows)."""
    t0 = time.perf_counter()
    out = Path(out)
    h = holding(out)
    if h.kind == "file":
        raise KcapError(f"--out {out} exists and is not a directory")
    if h.kind != "absent" and h.kind != "empty" and not overwrite:
        raise KcapError(f"--out {out} holds {h.what}; pass --overwrite to run the demo again there")
    tcfg = replace(cfg.train, exposures=cfg.exposures)  # a bad value is refused before anything is written
    data = out / "data"
    meta = write_bios(data, cfg.people, cfg.seed, overwrite=overwrite)
    console.print(f"[bold]kcap demo[/bold]: bioS with {cfg.people:,} people ({meta['bits_max']:,.0f} bits_max), "
                  f"{len(cfg.sizes)} models x {cfg.exposures} exposures, on CPU")
    results, ids = [], []
    for i, (layers, d_model, heads) in enumerate(cfg.sizes):
        name = f"gpt2-{layers}x{d_model}x{heads}"
        console.print(f"[{i + 1}/{len(cfg.sizes)}] {name}")
        run = out / "runs" / name
        s = train(data, ModelSpec(layers=layers, heads=heads, d_model=d_model), tcfg, run, overwrite=overwrite)
        r = measure_run(run, device=tcfg.device)
        console.print(f"    {s['wall_s']:.0f}s, {s['tokens_per_s'] / 1e3:.0f}K tok/s, "
                      f"{r['bits']:,.0f} bits = {r['bits_per_param']:.3f} bits/param ({r['fraction_stored']:.1%} of bits_max)")
        results.append({"name": name, "run_dir": str(run), **r})
        ids.append(r["id"])
    with RunStore() as store:  # the plot reads the store, like every plot
        rows = store.runs(ids=ids, measured_only=True)
    capacity_plot(rows, out / "capacity.png",
                  title=f"bioS N={cfg.people:,}, {cfg.exposures} exposures (kcap demo, CPU)")
    rundir.write_json(out / "results.json", results)
    capacity_table(results, title=f"bioS N={cfg.people:,}, {cfg.exposures} exposures")
    console.print(f"wrote {out / 'results.json'} and {out / 'capacity.png'} in {time.perf_counter() - t0:.0f}s")
    return results
