"""Scaling-law fits recover the constants of synthetic data generated from known laws."""

import math
import subprocess
import sys
import time

import numpy as np
import pytest

from kcap.errors import KcapError
from kcap.laws import (
    approach3_loss,
    bits_for_params,
    bootstrap_approach3,
    compute,
    fit_approach1,
    fit_approach2,
    fit_approach3,
    fit_capacity,
    optimal_allocation,
    tokens_for_params,
)

TRUE = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
BESIROGLU = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def law(c: dict) -> dict:
    """A fit dict for known constants, as fit_approach3 would return it."""
    theta = np.array([math.log(c["A"]), math.log(c["B"]), math.log(c["E"]), c["alpha"], c["beta"]])
    return compute._summary(theta, 0.0, 0, 0)


def synthetic_losses(n: int, seed: int = 0, noise: float = 0.005):
    rng = np.random.default_rng(seed)
    params, tokens = 10 ** rng.uniform(6, 10, n), 10 ** rng.uniform(8, 12, n)
    loss = approach3_loss(law(TRUE), params, tokens) * (1 + noise * rng.standard_normal(n))
    return params, tokens, loss


@pytest.fixture(scope="module")
def approach3():
    data = synthetic_losses(150)
    return data, fit_approach3(*data)


def test_grid_and_delta_are_the_standard_ones(approach3):
    assert compute.DELTA == 1e-3
    assert compute.GRID_ALPHA == compute.GRID_BETA == (0.0, 0.5, 1.0, 1.5, 2.0)
    assert compute.GRID_E == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert compute.GRID_A == compute.GRID_B == (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    starts = compute.default_starts()
    assert starts.shape == (4500, 5) and len({tuple(s) for s in starts}) == 4500
    assert approach3[1]["n_starts"] == 4500 and approach3[1]["n_points"] == 150


def test_approach3_recovers_constants_inside_bootstrap_interval(approach3):
    data, fit = approach3
    assert fit["alpha"] == pytest.approx(TRUE["alpha"], abs=0.015)
    assert fit["beta"] == pytest.approx(TRUE["beta"], abs=0.015)
    assert fit["E"] == pytest.approx(TRUE["E"], rel=0.02)
    assert fit["a"] + fit["b"] == pytest.approx(1.0)
    # 95% intervals: a 90% interval misses a true value one time in ten by design.
    boot = bootstrap_approach3(*data, n_boot=40, seed=0, percentiles=(2.5, 97.5), fit=fit)
    assert boot["fit"] is fit and len(boot["samples"]["alpha"]) == 40
    for key in ("E", "alpha", "beta"):
        lo, hi = boot["ci"][key]
        assert lo <= TRUE[key] <= hi, (key, boot["ci"][key])


def test_approach3_from_given_starts_finds_the_same_optimum(approach3):
    data, fit = approach3
    refit = fit_approach3(*data, starts=compute.default_starts()[::150])
    assert refit["n_starts"] == 30
    assert refit["objective"] >= fit["objective"] - 1e-12
    assert refit["alpha"] == pytest.approx(fit["alpha"], abs=1e-3)


def test_fit_runs_blas_on_one_thread_and_restores_the_pool():
    from threadpoolctl import threadpool_info

    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    with compute._one_blas_thread():
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == before


def test_optimal_allocation_spends_the_budget():
    flops = np.logspace(18, 26, 9)
    opt = optimal_allocation(law(TRUE), flops)
    np.testing.assert_allclose(6 * opt["N_opt"] * opt["D_opt"], flops, rtol=1e-10)
    np.testing.assert_allclose(tokens_for_params(law(TRUE), opt["N_opt"]), opt["D_opt"], rtol=1e-8)


def test_optimal_allocation_minimizes_loss_on_the_isoflop():
    fit, flops = law(TRUE), 1e21
    n_opt = optimal_allocation(fit, flops)["N_opt"]
    n = n_opt * np.array([0.8, 1.0, 1.25])
    loss = approach3_loss(fit, n, flops / (6 * n))
    assert loss[1] < loss[0] and loss[1] < loss[2]


def test_besiroglu_fit_gives_about_twenty_tokens_per_param():
    ratio = optimal_allocation(law(BESIROGLU), np.array([1e23, 1e24, 1e25]))["tokens_per_param"]
    assert np.all((ratio > 15) & (ratio < 35))
    assert isinstance(optimal_allocation(law(BESIROGLU), 1e24)["tokens_per_param"], float)


def test_approach2_recovers_the_optimum_exponent():
    rng = np.random.default_rng(1)
    truth = law(CHINCHILLA)
    params, tokens = [], []
    for flops in np.logspace(17, 21, 5):
        # Profiles centered off the optimum by up to 2x either way, as real sweeps are.
        center = optimal_allocation(truth, flops)["N_opt"] * 2 ** rng.uniform(-1, 1)
        n = center * np.logspace(-1, 1, 9)
        params += list(n)
        tokens += list(flops / (6 * n))
    params, tokens = np.array(params), np.array(tokens)
    loss = approach3_loss(truth, params, tokens) * (1 + 0.001 * rng.standard_normal(params.size))
    fit = fit_approach2(params, tokens, loss)
    assert fit["n_budgets"] == 5
    assert fit["a"] == pytest.approx(truth["a"], abs=0.03)
    assert fit["a"] + fit["b"] == pytest.approx(1.0)
    nominal = np.repeat(np.logspace(17, 21, 5), 9)
    assert fit_approach2(params, tokens, loss, budget=nominal)["a"] == pytest.approx(fit["a"], abs=1e-9)


def test_approach2_skips_budgets_without_a_minimum():
    params = np.array([1e6, 2e6, 4e6, 1e7, 2e7, 4e7, 1e8, 2e8])
    tokens = 1e20 / (6 * params)
    loss = np.linspace(3.0, 2.0, params.size)  # monotone: no interior minimum anywhere
    with pytest.raises(KcapError):
        fit_approach2(params, tokens, loss)


def test_approach1_envelope_exponents_sum_to_one():
    truth = law(CHINCHILLA)
    sizes = np.logspace(6, 10, 25)
    steps = np.logspace(8, 12, 80)  # tokens seen at each logged step of each run
    params, tokens = np.repeat(sizes, steps.size), np.tile(steps, sizes.size)
    rng = np.random.default_rng(2)
    loss = approach3_loss(truth, params, tokens) * (1 + 0.001 * rng.standard_normal(params.size))
    fit = fit_approach1(params, tokens, loss)
    assert fit["a"] + fit["b"] == pytest.approx(1.0)
    assert fit["a"] == pytest.approx(truth["a"], abs=0.05)
    assert all(sizes[0] < p["N"] < sizes[-1] for p in fit["envelope"])


def test_capacity_fit_recovers_the_ratio_and_flags_data_bound_runs():
    rng = np.random.default_rng(3)
    ratio = 2.0
    params = 10 ** rng.uniform(5, 8, 60)
    room = 10 ** rng.uniform(np.log10(0.2), np.log10(8.0), 60)  # bits_max / params
    bits_max = room * params
    bits = np.minimum(ratio * params, bits_max) * (1 + 0.02 * rng.standard_normal(60))
    bits = np.minimum(bits, bits_max)  # noise cannot lift a run above what its data hold (now refused)
    fit = fit_capacity(params, bits, bits_max, n_boot=500, seed=0)
    assert fit["converged"]
    assert fit["ratio"] == pytest.approx(ratio, rel=0.02)
    assert fit["ci"][0] <= ratio <= fit["ci"][1]
    data_bound = np.array(fit["data_bound"])
    assert np.all(data_bound[room < 0.95 * ratio]) and not np.any(data_bound[room > 1.05 * ratio])
    assert fit["n_capacity_bound"] == int(np.sum(fit["capacity_bound"])) and fit["n_runs"] == 60
    assert fit["peak_ratio"] == pytest.approx(np.max(bits / params))
    assert bits_for_params(fit, 1e6) == pytest.approx(fit["ratio"] * 1e6)


def test_capacity_fit_rejects_bad_input():
    with pytest.raises(KcapError):
        fit_capacity([1e6, -1.0], [1.0, 2.0], [3.0, 4.0])
    with pytest.raises(KcapError):
        fit_approach3([1e6], [1e9, 1e10], [2.0])


def test_laws_import_without_torch():
    code = "import sys, kcap.laws; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_full_fit_of_250_points_takes_under_30_seconds():
    data = synthetic_losses(250, seed=4)
    start = time.perf_counter()
    fit = fit_approach3(*data)
    assert time.perf_counter() - start < 30
    assert fit["n_starts"] == 4500 and fit["alpha"] == pytest.approx(TRUE["alpha"], abs=0.015)


def test_one_frontier_formula_is_the_isoflop_minimum_and_gives_the_refit_ratio():
    from scipy.optimize import minimize_scalar

    from kcap.laws import CHINCHILLA_REFIT, frontier

    refit = dict(CHINCHILLA_REFIT)
    for flops in (1e18, 1e20, 1e22):
        # The closed form against a numeric minimum of L(N, C/6N) over log N.
        res = minimize_scalar(lambda x: approach3_loss(refit, np.exp(x), flops / (6 * np.exp(x))),
                              bounds=(5, 30), method="bounded", options={"xatol": 1e-10})
        opt = optimal_allocation(refit, flops)
        assert opt["N_opt"] == pytest.approx(np.exp(res.x), rel=1e-4)
        # SCIENCE.md §5: the refit means ~20-26 tokens/param (it falls below 20 past ~1e23 FLOPs).
        assert 20 <= opt["tokens_per_param"] <= 26
    # A fit reports the same G, a, b as the allocation uses (compute._summary goes through frontier).
    fitted = law(CHINCHILLA_REFIT)
    assert (fitted["G"], fitted["a"], fitted["b"]) == pytest.approx(frontier(482.0, 2085.0, 0.348, 0.366), rel=1e-12)


def test_allocation_recomputes_the_frontier_from_the_constants():
    stale = {**law(BESIROGLU), "G": 1.0, "a": 0.5, "b": 0.5}  # e.g. a hand-edited fit file
    assert optimal_allocation(stale, 1e21) == optimal_allocation(law(BESIROGLU), 1e21)


def test_n_opt_interval_of_identical_samples_is_the_point_estimate():
    from kcap.laws.optimal import n_opt_interval

    samples = {k: [BESIROGLU[k]] * 5 for k in ("A", "B", "alpha", "beta")}
    lo, hi = n_opt_interval(samples, 1e21)
    assert lo == pytest.approx(hi) and lo == pytest.approx(optimal_allocation(BESIROGLU, 1e21)["N_opt"])


def test_expected_bios_tokens_per_biography_matches_a_large_population():
    from kcap.kinds.bios.data import all_words
    from kcap.kinds.bios.plan import expected_bio_tokens as bios_tokens_per_biography
    from kcap.kinds.bios.render import Atlas, LengthTable, draw_templates
    from kcap.knowledge.people import generate_people
    from kcap.knowledge.pools import load_pools

    pools = load_pools()
    atlas = Atlas.build(pools, {w: i for i, w in enumerate(["<unk>", *sorted(all_words(pools))])})
    people = generate_people(100_000, seed=5)
    templates = draw_templates(np.random.default_rng(5), len(people), atlas.n_templates)
    lengths = LengthTable.build(atlas, people).lengths(np.arange(len(people)), templates)
    se = lengths.std() / np.sqrt(len(lengths))  # ~0.01 tokens
    assert abs(bios_tokens_per_biography() - lengths.mean()) < 5 * se
