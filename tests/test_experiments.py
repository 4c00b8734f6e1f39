"""The paper's experiments shipped as specs under experiments/: all load and plan; the CPU-sized
Figure-1 spec runs end to end (slow tier)."""

from pathlib import Path

import pytest

from kcap.sweep import plan_spec, run_sweep, sweep_status

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SPECS = sorted(EXPERIMENTS.glob("*.yaml"))


def test_the_paper_experiments_are_shipped_cpu_and_gpu_sized():
    names = {p.stem for p in SPECS}
    for exp in ("fig1", "junk", "arch", "quant"):
        assert f"{exp}-cpu" in names and f"{exp}-gpu" in names, exp
    assert "fig1-1000exp-cpu" in names


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_spec_loads_and_plans(path):
    tree, runs = plan_spec(path)
    assert tree["name"] == path.stem and runs
    assert all(r.est["tokens"] > 0 and r.est["steps"] > 0 for r in runs)
    assert all(0 < r.est["active_params"] <= r.est["params"] and r.est["flops"] > 0 for r in runs)
    if "arch" in path.stem:  # every arch of the paper, MoE counted total and active
        assert {r.model["arch"] for r in runs} == {"gpt2", "llama", "mistral"}
        assert any(r.est["active_params"] < r.est["params"] for r in runs)


def test_gpu_figure1_covers_both_exposure_settings_with_paper_defaults():
    _, runs = plan_spec(EXPERIMENTS / "fig1-gpu.yaml")
    assert {r.train["exposures"] for r in runs} == {100, 1000}
    r = next(r for r in runs if r.data["people"] == 100_000 and r.train["exposures"] == 1000)
    assert (r.train["lr"], r.train["wd"], r.train["batch"]) == (1e-3, 0.02, 192)


@pytest.mark.slow
def test_cpu_figure1_runs_end_to_end():
    lines = []
    counts = run_sweep(EXPERIMENTS / "fig1-cpu.yaml", jobs=1, echo=lines.append)
    assert counts["done"] == 3, lines
    _, runs = plan_spec(EXPERIMENTS / "fig1-cpu.yaml")
    assert all(st == "done" for _, st, _ in sweep_status(runs))
    from kcap.store.db import RunStore

    with RunStore() as store:
        rows = sorted(store.runs(measured_only=True), key=lambda r: r["params"])
    assert len(rows) == 3
    assert rows[-1]["bits"] > rows[0]["bits"]  # the largest model stores more than the smallest
