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
    assert r["identified"] is True and r["why"] is None  # a law the points determine is not flagged
    assert set(r["ci"]) >= {"E", "A", "B", "alpha", "beta"} and len(r["ci"]["alpha"]) == 2
    p = kcap("optimal", "--flops", "1e21", "--fit", tmp_path / "fit.json")
    assert p.returncode == 0 and "N_opt" in p.stdout and "interval" in p.stdout, p.stderr
    # with the floor known, the other four constants are fitted around it
    p = kcap("fit", "compute", csv, "--E", E, "--boot", 2)
    assert p.returncode == 0 and "900 starts, E known" in p.stdout and "E = 1.8   [1.8, 1.8]" in p.stdout, p.stderr
    one_line_error(kcap("fit", "compute", csv, "--E", 99), "E = 99", "below the lowest observed loss")


def test_optimal_both_ways_with_default_laws():
    p = kcap("optimal", "--params", "7e9")
    assert p.returncode == 0, p.stderr
    assert "tokens/param" in p.stdout and "bits of knowledge" in p.stdout


def test_fit_capacity_from_csv(tmp_path):
    rng = np.random.default_rng(1)
    params = np.geomspace(1e4, 1e6, 20)
    bits_max = np.full(20, 4e5)
    bits = np.minimum(2.0 * params, bits_max) * (1 + rng.normal(0, 0.02, 20))
    bits = np.minimum(bits, bits_max)  # noise cannot lift a run above what its data hold (now refused)
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


@pytest.mark.parametrize("content,needle", [
    ("params,tokens,loss\n1,2,3\n4,5\n", "row 3: column 'loss' is not a number"),  # short row
    ("params,tokens,loss,flops\n1,2,3,-1\n", "'flops' must hold positive"),
    ("params,tokens,loss,flops\n1,2,3,x\n", "'flops' is not a number"),
])
def test_bad_compute_csv_rows_are_one_line(tmp_path, content, needle):
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    p = kcap("fit", "compute", csv)
    assert p.returncode == 2 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_capacity_csv_allows_nonpositive_bits_and_a_bom(tmp_path):
    from kcap.laws.inputs import capacity_points

    csv = tmp_path / "cap.csv"
    csv.write_bytes("\ufeffparams,bits,bits_max\n100,-3,50\n200,0,50\n".encode())
    t = capacity_points(csv)
    assert list(t["bits"]) == [-3, 0] and list(t["params"]) == [100, 200]


def test_optimal_params_beyond_the_name_space_says_so():
    p = kcap("optimal", "--params", "7e9")
    assert p.returncode == 0 and "N0" in p.stdout, p.stdout


def test_optimal_people_solve_includes_name_bits():
    from kcap.kinds.bios.bits import bios_bits_max
    from kcap.kinds.bios.plan import people_for_bits as _bios_people_for_bits

    n = _bios_people_for_bits(2e6)
    assert bios_bits_max(n)["total"] == pytest.approx(2e6, rel=1e-9)
    assert n < 2e6 / 47.59  # names carry bits too: fewer people than the values alone would give


def test_optimal_refuses_exposures_the_paper_has_no_ratio_for():
    p = kcap("optimal", "--params", "1e6", "--exposures", "300")
    assert p.returncode == 2 and "100 and 1000" in p.stderr and p.stdout == ""


def test_fit_capacity_all_data_bound_says_lower_bound(tmp_path):
    csv = tmp_path / "cap.csv"
    csv.write_text("params,bits,bits_max\n" + "".join(f"{p},{100},{100}\n" for p in (1000, 2000, 4000, 8000)))
    p = kcap("fit", "capacity", csv)
    assert p.returncode == 0, p.stderr
    assert "lower bound" in p.stdout


# Runs `kcap optimal` in-process under an audit hook that records every file opened for writing
# and every directory made: a temporary directory deleted before exit leaves no trace in a listing.
_AUDITED = """
import os, runpy, sys
writes = []
def hook(event, args):
    if event == "open" and args[0] is not None and (
            (isinstance(args[1], str) and any(c in args[1] for c in "wax+"))
            or (args[1] is None and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))):
        writes.append(str(args[0]))
    elif event in ("os.mkdir", "tempfile.mkdtemp", "tempfile.mkstemp"):
        writes.append(f"{event} {args[0]}")
sys.addaudithook(hook)
sys.argv = ["kcap", *sys.argv[1:]]
try:
    runpy.run_module("kcap", run_name="__main__")
finally:
    print("WRITES", writes, file=sys.stderr)
"""


def test_optimal_params_writes_no_files_and_is_fast(tmp_path):
    import os
    import time
    from pathlib import Path

    import kcap

    # cwd is tmp_path, so the child imports this kcap by absolute path (a relative PYTHONPATH would miss).
    src = str(Path(kcap.__file__).resolve().parents[1])
    env = {**os.environ, "KCAP_WORKSPACE": str(tmp_path / "ws"), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    before = sorted(tmp_path.rglob("*"))
    p = subprocess.run([sys.executable, "-c", _AUDITED, "optimal", "--params", "1e6"], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "bioS population of" in p.stdout and "tokens/param) in kcap's bioS format" in p.stdout
    assert "WRITES []" in p.stderr, p.stderr
    assert sorted(tmp_path.rglob("*")) == before

    from kcap.kinds.bios.plan import expected_bio_tokens as bios_tokens_per_biography
    from kcap.laws.optimal import plan_optimal

    bios_tokens_per_biography.cache_clear()
    start = time.perf_counter()
    r = plan_optimal(params=1e6)
    assert time.perf_counter() - start < 0.5  # ~10 ms: pool means, no population, no dataset
    assert r["tokens"] == pytest.approx(1000 * r["people"] * 55.215, rel=1e-4)


def test_optimal_rejects_a_capacity_fit_without_a_positive_ratio(tmp_path):
    fit = tmp_path / "cap.json"
    fit.write_text(json.dumps({"ratio": 0.0}))
    p = kcap("optimal", "--params", "1e6", "--capacity", fit)
    assert p.returncode == 2 and "not positive" in p.stderr and p.stdout == ""


# --- Identification and one-line refusals, as the user meets them ---


def one_line_error(p, *needles):
    """Exit code 2, one line on stderr holding every needle, nothing on stdout (no nan, no inf)."""
    err = p.stderr.strip()
    assert p.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, p.stderr
    assert p.stdout == "", p.stdout
    for n in needles:
        assert n in err, err


def write_csv(path, header, rows):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("rows,needle", [
    ([(1e6, 1e9, 2.5)] * 10, "params holds 1 distinct value"),  # ten identical rows
    ([(1e6, t, 2.5 + 1e8 / t) for t in np.logspace(8, 11, 8)], "params holds 1 distinct value"),  # one size
    ([(1e6, 1e9, 2.5), (1e6, 2e9, 2.4)] * 3, "params holds 1 distinct value"),  # two same-size runs
])
def test_fit_compute_refuses_points_that_cannot_identify_the_law(tmp_path, rows, needle):
    csv = write_csv(tmp_path / "runs.csv", "params,tokens,loss", rows)
    one_line_error(kcap("fit", "compute", csv, "--json"), needle, "Approach 3 needs at least 3")


@pytest.mark.parametrize("boot", ["0", "-3", "1"])
def test_fit_compute_refuses_a_bootstrap_without_resamples(tmp_path, boot):
    csv = write_csv(tmp_path / "runs.csv", "params,tokens,loss", [(1e6, 1e9, 2.5)] * 10)
    one_line_error(kcap("fit", "compute", csv, "--boot", boot), f"--boot {boot}", "at least 2 resamples")


def test_fit_capacity_of_one_row_is_marked_not_identified_and_optimal_refuses_it(tmp_path):
    csv = write_csv(tmp_path / "cap.csv", "params,bits,bits_max", [(1000, 2000, 5000)])
    p = kcap("fit", "capacity", csv, "--json", "--out", tmp_path / "cap.json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["identified"] is False and "1 capacity-bound run" in r["why"]
    p = kcap("fit", "capacity", csv)
    assert p.returncode == 0 and "NOT IDENTIFIED: 1 capacity-bound run" in p.stdout, p.stdout
    one_line_error(kcap("optimal", "--params", "1e6", "--capacity", tmp_path / "cap.json"),
                   f"--capacity {tmp_path / 'cap.json'}", "not identified")


def test_fit_capacity_refuses_bits_above_bits_max_naming_the_row(tmp_path):
    csv = write_csv(tmp_path / "cap.csv", "params,bits,bits_max", [(1000, 10, 5000), (2000, 900000, 5000)])
    one_line_error(kcap("fit", "capacity", csv), "row 3: bits 900000 exceed bits_max 5000", "measurement bug")


def test_fit_capacity_shows_negative_bits_and_fits_them_only_when_asked(tmp_path):
    rows = [(p, 0.5 * p, 1e9) for p in (1e4, 2e4, 4e4, 8e4)] + [(1e4, -3000, 1e9)]
    csv = write_csv(tmp_path / "cap.csv", "params,bits,bits_max", rows)
    p = kcap("fit", "capacity", csv)
    assert p.returncode == 0, p.stderr
    assert "R = 0.500" in p.stdout and "under-trained (negative bits" in p.stdout and "row 6" in p.stdout, p.stdout
    r = json.loads(kcap("fit", "capacity", csv, "--json").stdout)
    assert r["ratio"] == pytest.approx(0.5) and r["under_trained"] == [False] * 4 + [True]
    assert r["identified"] is True
    r = json.loads(kcap("fit", "capacity", csv, "--json", "--include-negative").stdout)
    assert r["include_negative"] and r["capacity_bound"][-1] and r["ratio"] == pytest.approx(0.5)
    csv = write_csv(tmp_path / "neg.csv", "params,bits,bits_max", [(1e4, -3, 1e9), (2e4, -4, 1e9)])
    one_line_error(kcap("fit", "capacity", csv), "negative bits", "--include-negative")


@pytest.mark.parametrize("args,needle", [
    (("--flops", "nan"), "--flops = nan is not a finite number"),
    (("--flops", "inf"), "--flops = inf is not a finite number"),
    (("--flops", "1e400"), "--flops = inf is not a finite number"),  # overflows on parsing
    (("--params", "nan"), "--params = nan is not a finite number"),
    (("--params", "1e300"), "D_opt = inf is beyond what the law can answer"),  # overflows in the law
])
def test_optimal_refuses_budgets_that_are_not_numbers(args, needle):
    one_line_error(kcap("optimal", *args), needle)


def test_optimal_refuses_fit_files_of_nan_or_missing_keys(tmp_path):
    nan = tmp_path / "nan.json"
    nan.write_text('{"E": NaN, "A": NaN, "B": NaN, "alpha": NaN, "beta": NaN}')
    one_line_error(kcap("optimal", "--flops", "1e21", "--fit", nan), f"--fit {nan}", "E = nan is not a finite number")
    short = tmp_path / "short.json"
    short.write_text('{"E": 1.8, "A": 480}')
    one_line_error(kcap("optimal", "--flops", "1e21", "--fit", short), f"--fit {short}", "missing key(s) B, alpha, beta")
    cap = tmp_path / "cap.json"
    cap.write_text('{"ratio": NaN}')
    one_line_error(kcap("optimal", "--params", "1e6", "--capacity", cap), f"--capacity {cap}", "ratio", "not a finite")


def _bad_plot_paths(tmp_path):
    (tmp_path / "figs").mkdir()
    return [(tmp_path / "figs", "is a directory"), (tmp_path / "nope" / "x.png", "does not exist"),
            (tmp_path / "x.foo", "unknown image format .foo"), (tmp_path / "x", "no file extension")]


def test_every_figure_command_refuses_a_bad_path_in_one_line(tmp_path):
    cap = write_csv(tmp_path / "cap.csv", "params,bits,bits_max", [(1000, 10, 5000)])
    runs = write_csv(tmp_path / "runs.csv", "params,tokens,loss", [(1e6, 1e9, 2.5)] * 10)
    commands = [(("plot", "capacity"), "--out"), (("fit", "capacity", cap), "--plot"),
                (("fit", "compute", runs), "--plot"), (("fit", "passes"), "--plot")]
    # each command with two of the bad paths, rotating so that every path meets two commands
    # (figure_path itself is tested on every path below)
    bad = _bad_plot_paths(tmp_path)
    for k, (args, opt) in enumerate(commands):
        for path, needle in (bad[k % len(bad)], bad[(k + 1) % len(bad)]):
            one_line_error(kcap(*args, opt, path), f"{opt} {path}", needle)
    assert not (tmp_path / "figs.png").exists() and not (tmp_path / "x.png").exists()
    one_line_error(kcap("fit", "capacity", cap, "--out", tmp_path / "figs"), "--out", "is a directory")
    one_line_error(kcap("fit", "compute", runs, "--out", tmp_path / "nope" / "f.json"), "--out", "does not exist")


def test_plot_functions_check_their_path_and_mark_an_unidentified_fit(tmp_path):
    from kcap.errors import KcapError
    from kcap.report.curves import passes_plot
    from kcap.report.figure import figure_path

    for path, needle in _bad_plot_paths(tmp_path):
        with pytest.raises(KcapError, match=needle):
            passes_plot([], {"slope": None}, 0.9, path)
    assert figure_path(tmp_path / "a.PDF") == tmp_path / "a.PDF"
    rows = [{"params": 1e5, "needed": 40.0}, {"params": 1e5, "needed": 50.0}, {"params": 2e5, "needed": None}]
    fit = {"slope": None, "identified": False, "why": "1 distinct model size(s) with a positive exposure count"}
    out = passes_plot(rows, fit, 0.9, tmp_path / "passes.svg")
    assert out == tmp_path / "passes.svg" and "not identified" in out.read_text()


def test_fit_json_holds_no_nan_or_inf():
    from kcap.cli_laws import _dump

    text = _dump({"A": float("inf"), "ci": {"A": [np.float64("nan"), 1.0]}, "ok": np.bool_(True)})
    assert json.loads(text) == {"A": None, "ci": {"A": [None, 1.0]}, "ok": True}
