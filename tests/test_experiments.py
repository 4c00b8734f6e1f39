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


def test_popularity_by_rank_reads_horizons_and_draws_them(tmp_path):
    """The research script of docs/scaling.md §5 on constructed rows: one model at four horizons
    whose strings known grow as D^(2/3) and whose loss above the floor falls as D^-1/3 (the
    account's exponents for s = 1.5), and another model at two horizons (not a series)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("by_rank", EXPERIMENTS / "popularity_by_rank.py")
    by_rank = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(by_rank)
    tokens = [1e6, 2e6, 4e6, 8e6]
    rows = [{"params": 26_000, "data": "d", "s": 1.5, "tokens": t, "known": 10 * (t / 1e6) ** (2 / 3),
             "heldout": 0.2 + 0.3 * (t / 1e6) ** (-1 / 3), "floor": 0.2} for t in tokens]
    rows += [{**rows[0], "params": 57_000}, {**rows[1], "params": 57_000}]
    (series,) = by_rank.horizon_series(rows)
    assert [r["tokens"] for r in series] == tokens
    line = by_rank.horizon_line(series, from_tokens=2e6)
    assert "tokens^[0.67, 0.67, 0.67]; 0.67 from 2e+06 tokens" in line and "-0.33 from 2e+06" in line
    assert by_rank.plot_horizons([series], tmp_path / "h.png").stat().st_size > 10_000
