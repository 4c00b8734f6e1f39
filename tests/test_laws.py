"""Scaling-law fits recover the constants of synthetic data generated from known laws."""

import json
import math
import os
import re
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


@pytest.fixture(scope="session")
def approach3(tmp_path_factory):
    """The 4,500-start fit of 150 synthetic points, made once per test session: xdist workers
    share it through a file under a lock (the first to ask fits, the others read)."""
    import fcntl

    data = synthetic_losses(150)
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # one process: nothing to share
        return data, fit_approach3(*data)
    path = tmp_path_factory.getbasetemp().parent / "approach3-fit.json"  # this session's, all workers'
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():  # written whole or not at all: a worker killed mid-write leaves no half file
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(fit_approach3(*data)))
            os.replace(tmp, path)
        return data, json.loads(path.read_text())


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


# --- Identification: refuse what the points cannot determine, mark what the fit cannot trust ---


@pytest.mark.parametrize("params,tokens,needle", [
    ([1e6] * 10, [1e9] * 10, "params holds 1 distinct value"),  # ten copies of one row
    ([1e6] * 8, np.logspace(8, 11, 8), "params holds 1 distinct value"),  # one model size
    ([1e6, 2e6] * 4, np.logspace(8, 11, 8), "params holds 2 distinct value"),  # two sizes: A, alpha, E trade off
    (np.logspace(6, 9, 8), [1e9] * 8, "tokens holds 1 distinct value"),  # one horizon
    ([1e6, 2e6, 4e6, 1e6, 2e6, 4e6], [1e9, 2e9, 4e9, 1e9, 2e9, 4e9], "3 distinct (params, tokens) points"),
])
def test_approach3_refuses_points_that_cannot_identify_it(params, tokens, needle):
    loss = np.full(len(params), 2.5)
    with pytest.raises(KcapError, match=re.escape(needle)):
        fit_approach3(params, tokens, loss)
    with pytest.raises(KcapError, match=re.escape(needle)):
        compute.fit_compute_law(params, tokens, loss, n_boot=5)


@pytest.mark.parametrize("n_boot", [0, 1, -3])
def test_compute_law_refuses_a_bootstrap_without_resamples(n_boot):
    with pytest.raises(KcapError, match="at least 2 resamples"):
        compute.fit_compute_law(*synthetic_losses(20), n_boot=n_boot)


def test_compute_inputs_name_the_bad_column():
    with pytest.raises(KcapError, match=r"loss\[2\] = nan"):
        fit_approach3([1e6, 2e6, 4e6], [1e9, 2e9, 4e9], [2.0, 2.1, float("nan")])


def _ci(fit: dict, rel: float = 0.05) -> dict:
    return {k: [fit[k] * (1 - rel), fit[k] * (1 + rel)] for k in compute.CI_KEYS}


def test_a_good_approach3_fit_is_identified_and_degenerate_ones_say_why(approach3):
    data, fit = approach3
    min_loss = float(np.min(data[2]))
    assert compute._approach3_why(fit, _ci(fit), min_loss) == []
    runaway = law({**TRUE, "alpha": 24.7, "A": 1e113})  # the CPU sweep of docs/scaling.md
    assert any("alpha = 24.7 is outside" in w for w in compute._approach3_why(runaway, _ci(runaway), min_loss))
    flat = law({**TRUE, "beta": 0.001})
    assert any("beta = 0.001 is outside" in w for w in compute._approach3_why(flat, _ci(flat), min_loss))
    pinned = law({**TRUE, "E": min_loss})
    assert any("pinned at the lowest observed loss" in w for w in compute._approach3_why(pinned, _ci(pinned), min_loss))
    assert any("zero width for E, alpha, beta" in w for w in compute._approach3_why(fit, _ci(fit, 0.0), min_loss))
    overflow = {**fit, "A": math.inf}
    assert any("A = inf is not a finite positive number" in w
               for w in compute._approach3_why(overflow, _ci(fit), min_loss))


def test_approach1_with_one_interior_size_is_not_identified():
    truth = law(CHINCHILLA)
    sizes, steps = np.array([1e6, 1e7, 1e8]), np.logspace(8, 12, 80)
    params, tokens = np.repeat(sizes, steps.size), np.tile(steps, sizes.size)
    with pytest.raises(KcapError, match="one model size"):
        fit_approach1(params, tokens, approach3_loss(truth, params, tokens))
    out = compute._exponents(fit_approach1, ("a", "b"), params, tokens, approach3_loss(truth, params, tokens), None)
    assert out["identified"] is False and "one model size" in out["why"] and "a" not in out


def test_approach2_with_minima_beyond_the_sizes_trained_is_not_identified():
    truth = law(CHINCHILLA)
    params, tokens = [], []
    for flops in np.logspace(17, 21, 5):
        n = optimal_allocation(truth, flops)["N_opt"] / 30 * np.logspace(-0.5, 0.5, 5)  # all far below N_opt
        params += list(n)
        tokens += list(flops / (6 * n))
    params, tokens = np.array(params), np.array(tokens)
    fit = fit_approach2(params, tokens, approach3_loss(truth, params, tokens))
    assert fit["identified"] is False and "outside the sizes trained" in fit["why"]


def _capacity_data(seed: int = 3, n: int = 40):
    rng = np.random.default_rng(seed)
    params = 10 ** rng.uniform(5, 8, n)
    bits_max = 10 ** rng.uniform(np.log10(0.2), np.log10(8.0), n) * params
    bits = np.minimum(np.minimum(2.0 * params, bits_max) * (1 + 0.02 * rng.standard_normal(n)), bits_max)
    return params, bits, bits_max


def test_capacity_fit_on_a_known_ratio_is_identified():
    fit = fit_capacity(*_capacity_data(), n_boot=200)
    assert fit["identified"] is True and fit["why"] is None
    assert fit["ratio"] == pytest.approx(2.0, rel=0.03) and not any(fit["under_trained"])


def test_capacity_fit_of_one_run_or_copies_of_one_run_is_not_identified():
    one = fit_capacity([1000.0], [2000.0], [5000.0], n_boot=50)
    assert one["ratio"] == 2.0 and one["identified"] is False and "1 capacity-bound run" in one["why"]
    copies = fit_capacity([1000.0] * 3, [2000.0] * 3, [5000.0] * 3, n_boot=50)
    assert copies["identified"] is False
    assert "one model size" in copies["why"]


def test_capacity_fit_refuses_bits_above_bits_max_naming_the_run():
    names = ["run a", "run b", "run c"]
    with pytest.raises(KcapError, match="run b: bits 900000 exceed bits_max 5000"):
        fit_capacity([1e3, 1e3, 2e3], [10.0, 9e5, 20.0], [5e3] * 3, names=names)
    # float rounding of a perfect memorizer is not a bug
    assert fit_capacity([1e3, 2e3], [5e3 * (1 + 1e-7), 1e3], [5e3, 5e3], n_boot=10)["n_runs"] == 2
    with pytest.raises(KcapError, match=r"run c: bits = nan must be finite"):
        fit_capacity([1e3, 1e3, 2e3], [10.0, 9.0, float("nan")], [5e3] * 3, names=names)


def test_capacity_fit_leaves_negative_bits_out_unless_asked():
    params, bits, bits_max = _capacity_data()
    params, bits, bits_max = np.append(params, 1e7), np.append(bits, -5e5), np.append(bits_max, 1e9)
    fit = fit_capacity(params, bits, bits_max, n_boot=100)
    assert fit["under_trained"][-1] and not fit["capacity_bound"][-1] and not fit["data_bound"][-1]
    assert fit["ratio"] == pytest.approx(fit_capacity(*_capacity_data(), n_boot=100)["ratio"])
    with_negative = fit_capacity(params, bits, bits_max, n_boot=100, include_negative=True)
    assert with_negative["include_negative"] and with_negative["capacity_bound"][-1]
    with pytest.raises(KcapError, match="all 2 runs store negative bits.*--include-negative"):
        fit_capacity([1e3, 2e3], [-1.0, -2.0], [5e3, 5e3])
    with pytest.raises(KcapError, match="at least 2 resamples"):
        fit_capacity(params, bits, bits_max, n_boot=0)


def test_passes_fit_needs_two_sizes_and_positive_counts():
    from kcap.laws.passes import fit_passes

    one = fit_passes([1e5, 1e5, 1e5], [30.0, 40.0, 50.0])
    assert one["slope"] is None and one["identified"] is False and "1 distinct model size" in one["why"]
    p = np.array([1e4, 1e5, 1e6, 1e6])
    fit = fit_passes(p, np.append(1000 * p[:3] ** -0.5, 0.0))  # a count of 0 cannot enter a log-log fit
    assert fit["identified"] and fit["n_used"] == 3 and fit["slope"] == pytest.approx(-0.5)


def test_optimal_refuses_inputs_and_answers_that_are_not_numbers(tmp_path):
    from kcap.laws.optimal import plan_optimal

    for kw, needle in [({"flops": math.nan}, "--flops = nan is not a finite number"),
                       ({"params": math.inf}, "--params = inf is not a finite number"),
                       ({"flops": -1.0}, "--flops = -1 is not positive"),
                       ({"params": 1e300}, "D_opt = inf is beyond what the law can answer"),
                       ({"flops": 1e-300}, "N_opt = 7.91e-156 is less than one"),
                       ({"params": 1e6, "exposures": 0}, "--exposures 0 must be at least 1")]:
        with pytest.raises(KcapError, match=re.escape(needle)):
            plan_optimal(**kw)


@pytest.mark.parametrize("content,needle", [
    ('{"E": NaN, "A": NaN, "B": NaN, "alpha": NaN, "beta": NaN}', "E = nan is not a finite number"),
    ('{"E": 1.8, "A": 480}', "missing key(s) B, alpha, beta"),
    ('{"E": 1.8, "A": 480, "B": 2000, "alpha": null, "beta": 0.37}', "alpha = None is not a number"),
    ('[1, 2]', "must hold a JSON object"),
    ('{"E": 1.8, "A": 480, "B": 2000, "alpha": 0.35, "beta": 0.37, "identified": false, "why": "alpha off"}',
     "the fit is not identified (alpha off)"),
    ('{"E": 1.8, "A": 480, "B": 2000, "alpha": 0.35, "beta": 0.37, "samples": {"A": [1, 2]}}',
     "'samples' must map A, B, alpha, beta"),
])
def test_optimal_refuses_a_bad_compute_fit_file(tmp_path, content, needle):
    from kcap.laws.optimal import plan_optimal

    path = tmp_path / "fit.json"
    path.write_text(content)
    with pytest.raises(KcapError, match=re.escape(f"--fit {path}")) as e:
        plan_optimal(flops=1e21, fit=path)
    assert needle in str(e.value)


def test_optimal_interval_is_withheld_when_a_bootstrap_sample_has_no_frontier(tmp_path):
    from kcap.laws.optimal import plan_optimal

    samples = {k: [TRUE[k]] * 4 for k in ("A", "B", "alpha", "beta")}
    samples["alpha"][0] = None  # written as null for a refit whose alpha was not finite
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({**TRUE, "samples": samples}))
    r = plan_optimal(flops=1e21, fit=path)
    assert r["N_opt_interval"] is None and "no compute-optimal frontier" in r["N_opt_interval_why"]


@pytest.mark.parametrize("content,needle", [
    ('{"ratio": NaN}', "ratio (bits/param) = nan is not a finite number"),
    ('{"R": 2.0}', "missing key(s) ratio"),
    ('{"ratio": 2.0, "identified": false, "why": "1 capacity-bound run"}', "not identified (1 capacity-bound run)"),
])
def test_optimal_refuses_a_bad_capacity_fit_file(tmp_path, content, needle):
    from kcap.laws.optimal import plan_optimal

    path = tmp_path / "cap.json"
    path.write_text(content)
    with pytest.raises(KcapError, match=re.escape(f"--capacity {path}")) as e:
        plan_optimal(params=1e6, capacity=path)
    assert needle in str(e.value)


def test_approach3_with_a_known_floor_fits_the_other_four():
    data = synthetic_losses(60, seed=2)
    fit = fit_approach3(*data, E=TRUE["E"])
    assert fit["E"] == pytest.approx(TRUE["E"]) and fit["E_known"] is True and fit["n_starts"] == 900
    assert fit["alpha"] == pytest.approx(TRUE["alpha"], abs=0.02) and fit["beta"] == pytest.approx(TRUE["beta"], abs=0.02)
    boot = bootstrap_approach3(*data, n_boot=8, fit=fit, E=TRUE["E"])
    assert set(boot["samples"]["E"]) == {fit["E"]}  # held in every refit
    # E's zero-width interval is by construction, not a degenerate bootstrap; the rest is checked
    assert boot["ci"]["E"][0] == boot["ci"]["E"][1]
    assert compute._approach3_why(fit, boot["ci"], float(np.min(data[2]))) == []
    assert any("zero width for alpha, beta" in w for w in compute._approach3_why(fit, _ci(fit, 0.0), 1.0))
    for bad in (float(np.min(data[2])), 0.0, math.nan):
        with pytest.raises(KcapError, match="below the lowest observed loss"):
            fit_approach3(*data, E=bad)
