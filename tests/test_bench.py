"""``kcap bench``: the benchmarks run end to end at tiny shapes and report what the issue asks."""

import json
import subprocess
import sys

from kcap.bench.suite import run_suite, table

TINY = ["--layers", "1", "--heads", "2", "--d-model", "16", "--vocab", "300", "--batch", "2", "--seq", "32",
        "--steps", "2", "--rounds", "2", "--device", "cpu"]


def kcap(*args):
    return subprocess.run([sys.executable, "-m", "kcap", *args], capture_output=True, text=True, check=False)


def test_bench_train_json():
    p = kcap("bench", "train", *TINY, "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    for key in ("tokens_per_s", "baseline_tokens_per_s", "ratio", "mfu", "device", "compile_s"):
        assert key in r
    assert r["device"] == "cpu" and r["mfu"] is None and r["tokens_per_s"] > 0 and r["ratio"] > 0
    assert r["steps"] == 2 and r["rounds"] == 2 and r["compiled"] is False


def test_bench_many_json():
    p = kcap("bench", "many", "--models", "3", *TINY, "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["models"] == 3 and r["tokens_per_s"] > 0 and r["single_tokens_per_s"] > 0 and r["ratio"] > 0


def test_bench_bad_value_is_one_line():
    p = kcap("bench", "train", *TINY, "--compile", "sometimes")
    assert p.returncode == 2 and "compile" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_suite_quick_dry_run_and_budget():
    s = run_suite(quick=True, device="cpu", steps=1, rounds=1)
    assert [r["item"] for r in s["results"]] == ["tiny", "tiny graphs", "small", "4 x tiny"] and not s["skipped"]
    out = table(s)
    assert "tiny graphs" in out and "quick dry run" in out
    s = run_suite(budget_s=0.0, quick=True, device="cpu", steps=1, rounds=1)
    assert len(s["results"]) == 1 and len(s["skipped"]) == 3  # the first item always runs
    assert "skipped (time budget)" in table(s)
