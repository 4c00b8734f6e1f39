"""kcap fit / kcap optimal from CSV tables, and their one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest


def kcap(*args):
    return subprocess.run([sys.executable, "-m", "kcap", *map(str, args)], capture_output=True, text=True)


def test_fit_compute_from_csv_recovers_the_law(tmp_path):
    rng = np.random.default_rng(0)
    E, A, B, al, be = 1.8, 480.0, 2000.0, 0.35, 0.37
    n = np.exp(rng.uniform(np.log(1e6), np.log(1e10), 80))
    d = np.exp(rng.uniform(np.log(1e8), np.log(1e12), 80))
    loss = (E + A / n**al + B / d**be) * np.exp(rng.normal(0, 0.003, 80))
    csv = tmp_path / "runs.csv"
    csv.write_text("params,tokens,loss\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(n, d, loss)))
    p = kcap("fit", "compute", csv, "--json", "--boot", 10, "--out", tmp_path / "fit.json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    for key in ("E", "A", "B", "alpha", "beta", "a", "b", "n_points", "ci"):
        assert key in r
    assert r["n_points"] == 80 and r["alpha"] == pytest.approx(al, abs=0.05)
    assert set(r["ci"]) >= {"E", "A", "B", "alpha", "beta"} and len(r["ci"]["alpha"]) == 2
    p = kcap("optimal", "--flops", "1e21", "--fit", tmp_path / "fit.json")
    assert p.returncode == 0 and "N_opt" in p.stdout and "interval" in p.stdout, p.stderr


def test_optimal_both_ways_with_default_laws():
    p = kcap("optimal", "--params", "7e9")
    assert p.returncode == 0, p.stderr
    assert "tokens/param" in p.stdout and "bits of knowledge" in p.stdout


def test_fit_capacity_from_csv(tmp_path):
    rng = np.random.default_rng(1)
    params = np.geomspace(1e4, 1e6, 20)
    bits_max = np.full(20, 4e5)
    bits = np.minimum(2.0 * params, bits_max) * (1 + rng.normal(0, 0.02, 20))
    csv = tmp_path / "cap.csv"
    csv.write_text("params,bits,bits_max\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(params, bits, bits_max)))
    p = kcap("fit", "capacity", csv, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["ratio"] == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("content,needle", [("params,tokens\n1,2\n", "missing column"),
                                            ("params,tokens,loss\n1,2,abc\n", "not a number")])
def test_bad_csv_is_one_line(tmp_path, content, needle):
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    p = kcap("fit", "compute", csv)
    assert p.returncode == 2 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_optimal_needs_one_of_flops_or_params():
    p = kcap("optimal")
    assert p.returncode == 2 and "exactly one" in p.stderr
