"""kcap reproduce: the verdict rule, the claims on constructed runs, every scale's plan, a micro
scale end to end (report.html, report.md, claims.json), bad input, and the report in a browser."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kcap.reproduce import claims as C
from kcap.reproduce.evidence import Result
from kcap.reproduce.scales import SCALES, SPEC_ROOT, load_scale
from kcap.reproduce.verdict import VERDICTS, Measured, Paper, combine, mean_ci, ratio_ci, verdict
from kcap.sweep.plan import PlannedRun

# ---------------------------------------------------------------- the verdict rule


@pytest.mark.parametrize("rule,paper,value,ci,expected", [
    ("level", 1.0, 1.14, None, "reproduced"),  # within 15%
    ("level", 1.0, 1.16, None, "same direction"),  # within a factor of 2
    ("level", 1.0, 0.7, (0.5, 1.05), "reproduced"),  # the paper's value inside the interval
    ("level", 1.0, 2.5, None, "not reproduced"),
    ("level", 3.6, 1.6, (1.5, 1.7), "not reproduced"),  # under half
    ("level", 3.6, 1.9, (1.8, 2.0), "same direction"),
    ("at_least", 2.0, 1.7, None, "reproduced"),  # 0.85 x 2
    ("at_least", 2.0, 1.6, (1.4, 2.05), "reproduced"),  # interval reaches 2
    ("at_least", 2.0, 1.6, (1.5, 1.7), "same direction"),
    ("at_least", 2.0, 2.9, None, "reproduced"),  # above is the claim
    ("at_least", 2.0, 0.9, None, "not reproduced"),
    ("at_most", 2.3, 2.6, None, "reproduced"),  # 2.3 x 1.15 = 2.645
    ("at_most", 2.3, 2.7, None, "not reproduced"),
    ("at_most", 2.3, 2.7, (2.2, 3.0), "reproduced"),
    ("factor", 20.0, 1.8, (1.3, 2.4), "same direction"),
    ("factor", 20.0, 1.8, (0.8, 2.4), "not reproduced"),  # the interval does not exclude "no effect"
    ("factor", 20.0, 18.0, None, "reproduced"),
    ("factor", 20.0, 0.6, None, "not reproduced"),  # better, not worse
    ("factor", 2.0, math.inf, None, "same direction"),  # the junk run stored nothing
    ("at_least", 2.0, math.inf, None, "reproduced"),
])
def test_verdict_rule_on_constructed_numbers(rule, paper, value, ci, expected):
    assert verdict(Paper(paper, "", rule), Measured(value, ci, 3)) == expected


def test_not_run_and_combining_parts():
    assert verdict(Paper(2.0, "", "at_least"), None) == "not run"
    assert combine(["reproduced", "not run", "same direction"]) == "same direction"
    assert combine(["reproduced", "not reproduced"]) == "not reproduced"
    assert combine(["not run", "not run"]) == "not run"
    assert combine(["reproduced", "not run"]) == "reproduced"
    with pytest.raises(ValueError):
        Paper(1.0, "", "roughly")


def test_intervals_are_seeded_and_honest():
    m = mean_ci([1.0, 1.2, 1.4])
    assert m == mean_ci([1.0, 1.2, 1.4]) and m.n_runs == 3
    assert m.ci[0] < m.value < m.ci[1] and 1.0 <= m.ci[0] and m.ci[1] <= 1.4
    assert mean_ci([1.5]).ci is None  # one run: no interval
    assert ratio_ci([2.0], [1.0]) == Measured(2.0, None, 2)
    assert ratio_ci([2.0, 2.2], [0.0, -1.0]).value == math.inf
    assert Measured(math.inf, None, 2).to_dict() == {"value": None, "ci": None, "n_runs": 2, "infinite": True}


# ---------------------------------------------------------------- claims on constructed runs


def _result(params, bits, bits_max=60000.0, *, kind="random", exposures=1000, seed=0, model=None, data=None,
            quantized=None, key=None) -> Result:
    model = {"arch": "gpt2", "layers": 2, "heads": 2, "d_model": 32, "name": "gpt2-2x32x2", **(model or {})}
    data = {"kind": kind, "people": 256, "seed": 0, "variant": "plain", **(data or {})}
    train = {"exposures": exposures, "seed": seed, "lr": 5e-3}
    dkey = json.dumps(data, sort_keys=True)
    run = PlannedRun(key=key or f"{params}-{bits}-{seed}-{exposures}-{dkey}-{model}", name=model["name"], data=data,
                     dataset_key=dkey, model=model, train=train, options={}, measure={}, origin="")
    row = {"status": "measured", "problem": None, "dataset": kind, "metrics": {"wall_s": 1.0},
           "results": {"params": params, "bits": bits, "bits_max": bits_max}, "quantized": quantized or {}}
    return Result(run, "spec", row)


def test_c1_takes_the_best_capacity_bound_size_with_its_seed_interval():
    runs = [_result(13000, 13000 * b, seed=s, model={"d_model": 24, "name": "a"}) for s, b in enumerate((1.0, 1.1))]
    runs += [_result(26000, 26000 * b, seed=s) for s, b in enumerate((1.5, 1.6, 1.7))]
    runs += [_result(50000, 55000)]  # bits_max/params 1.2: data-bound, left out
    peak, ceiling = C.c1(runs)
    assert peak.measured.value == pytest.approx(1.6) and peak.measured.n_runs == 3
    assert peak.measured.ci[0] < 1.6 < peak.measured.ci[1]
    assert peak.verdict == "same direction"  # 1.6 < 0.85 x 2, interval below 2
    assert ceiling.measured.value == pytest.approx(1.7) and ceiling.verdict == "reproduced"
    assert C.c1([_result(50000, 55000)])[0].measured is None  # no capacity-bound run: not run


def test_c6_quantization_ratios_and_int4_that_stores_nothing():
    runs = [_result(20000, 30000 + s, seed=s, quantized={"int8": {"bits": 29700 + s}, "int4": {"bits": -10.0}})
            for s in range(3)]
    int8, int4 = C.c6(runs)
    assert int8.measured.value == pytest.approx(0.99, abs=1e-3) and int8.verdict == "reproduced"
    assert int4.measured.value == math.inf and int4.verdict == "reproduced" and "≤ 0" in int4.note


def test_c7_pairs_junk_with_clean_runs_at_the_same_exposures():
    clean = _result(60000, 3000, kind="bioS", exposures=100)
    junk = _result(60000, 1500, kind="bioS", exposures=100, data={"junk": {"fraction": 0.875}})
    rep = _result(60000, 2900, kind="bioS", exposures=100, data={"junk": {"fraction": 0.875, "people": 1000}})
    parts = {p.label: p for p in C.c7([clean, junk, rep])}
    assert parts["junk, 100 exposures"].measured.value == pytest.approx(2.0)
    assert parts["junk, 100 exposures"].verdict == "same direction"  # paper 20x
    assert parts["repetitive, 100 exposures"].verdict == "reproduced"
    assert parts["junk, 300 exposures"].measured is None  # no runs: not run
    assert C.claim_verdict(list(parts.values())) == "same direction"


def test_c8_compares_each_variant_with_gpt2_at_the_same_exposures():
    base = _result(26000, 39000, exposures=100)
    llama = _result(25000, 25000, exposures=100, model={"arch": "llama", "name": "llama"})
    nomlp = _result(9000, 12000, exposures=100, model={"mlp_ratio": 0, "name": "nomlp"})
    parts = {p.label: p for p in C.c8([base, llama, nomlp])}
    assert parts["LLaMA, 100 exposures"].measured.value == pytest.approx(1.5)
    assert parts["no MLP, 100 exposures"].measured.value == pytest.approx(1.5 / (12000 / 9000))
    assert parts["MoE, 1000 exposures"].verdict == "not run"


def test_c3_and_c4_parts():
    simple = _result(30000, 9000, kind="bioS", exposures=100, data={"variant": "simple"})
    multi = _result(30000, 10000, kind="bioS", exposures=100, data={"variant": "multi"})
    (part,) = C.c3([simple, multi])
    assert part.measured.value == pytest.approx(0.9) and part.verdict == "reproduced"
    b1 = {"attributes": 4, "chunks": 1, "diversity": 16, "chunk_len": 2, "alphabet": 4}
    d1 = _result(30000, 60000, kind="bioD", data={"biod": b1})
    d2 = _result(30000, 30000, kind="bioD", data={"biod": {**b1, "attributes": 8}})
    parts = C.c4([d1, d2])
    assert [p.measured.value for p in parts] == [1.0, 2.0]  # headline: the lowest


# ---------------------------------------------------------------- scales and plans


def test_every_shipped_scale_loads_and_names_real_specs():
    for name in SCALES:
        s = load_scale(name)
        assert s.name == name and s.claims and all(p.is_file() for p in s.specs.values())
    assert {f"C{i}" for i in range(1, 10)} <= set(load_scale("cpu").claims)  # every capacity claim, and C9
    assert load_scale("paper").plan_only
    # the checkout's experiments/reproduce is the shipped folder (installed or not)
    link = Path(__file__).resolve().parents[1] / "experiments" / "reproduce"
    shipped = sorted(p.relative_to(SPEC_ROOT) for p in SPEC_ROOT.rglob("*.yaml"))
    assert shipped == sorted(p.relative_to(link) for p in link.rglob("*.yaml"))
    assert all((link / p).read_bytes() == (SPEC_ROOT / p).read_bytes() for p in shipped)


def _kcap(cwd: Path, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONHASHSEED": "0", **(env or {})}
    return subprocess.run([sys.executable, "-m", "kcap", *map(str, args)], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("scale", SCALES)
def test_plan_on_every_scale_trains_nothing(scale, tmp_path):
    r = _kcap(tmp_path, "reproduce", "--scale", scale, "--plan", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["scale"] == scale and plan["runs"] and plan["total"]["flops"] > 0
    assert all(run["state"] == "pending" for run in plan["runs"])
    assert not (tmp_path / "ws").exists() and not any(tmp_path.glob("reproduce-*"))  # nothing written
    if scale == "gpu":  # C1, C2 and C6 fit one H100-class GPU in an hour (by the stated throughput)
        c = plan["claims"]
        shared = {r["key"] for r in plan["runs"] if r["spec"] == "bios-1000"}
        assert shared and c["C1"]["seconds"] + c["C2"]["seconds"] <= 3600  # C6 reuses C1's runs


MICRO_DATA = {"kind": "random", "people": 64, "random": {"length": 16, "alphabet": 4}}
MICRO_TRAIN = {"wd": 0.0, "lr": 1.0e-2, "batch": 64, "seq": 32, "device": "cpu", "eval_every": 0}
MICRO_MODEL = {"base": {"layers": 1, "heads": 1, "d_model": 4}}


def micro_scale(root: Path) -> Path:
    """A scale of seconds: 64 random strings of 16 symbols over 4 (1.7K bits), a 1x4 model that
    cannot hold them (bits_max/params above 2.3)."""
    root.mkdir()
    specs = {
        "r1000": {"train": {**MICRO_TRAIN, "exposures": 1000}, "seeds": [0, 1],
                  "measure": {"quantize": ["none", "int8", "int4"]}},
        "r100": {"train": {**MICRO_TRAIN, "exposures": 100},
                 "runs": [{"model": {"arch": "gpt2"}}, {"model": {"arch": "llama"}}]},
        # the compute side: a popular stream, bits and held-out loss at log-spaced steps, three sizes
        "pop": {"train": {**MICRO_TRAIN, "exposures": 10, "popularity": 1.5, "schedule": "constant",
                          "eval_every": 1, "eval_spacing": "log", "heldout": 64, "track_bits": True},
                "runs": [{"model": {"base": {"layers": 1, "heads": 1, "d_model": d}}} for d in (4, 8, 16)]},
    }
    for name, spec in specs.items():
        spec = {"name": f"micro-{name}", "data": MICRO_DATA, "model": MICRO_MODEL, **spec}
        (root / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    (root / "claims.yaml").write_text(yaml.safe_dump({
        "scale": "micro", "description": "seconds",
        "throughput": {"flops_per_s": 1e9, "tokens_per_s": 1e5},
        "claims": {"C1": {"specs": ["r1000"], "search": "r100"}, "C2": {"specs": ["r100"]},
                   "C6": {"specs": ["r1000"]}, "C8": {"specs": ["r100"], "note": "MoE needs more data"},
                   "C10": {"specs": ["pop"]}}}))
    return root


def test_micro_scale_end_to_end_then_report_only(tmp_path):
    specs = micro_scale(tmp_path / "micro")
    r = _kcap(tmp_path, "reproduce", "--specs", specs, "--out", "rep", "--jobs", "2")
    assert r.returncode == 0, r.stderr + r.stdout
    out = tmp_path / "rep"
    data = json.loads((out / "claims.json").read_text())
    assert data["scale"] == "micro" and [c["id"] for c in data["claims"]] == list(C.CLAIMS)
    by = {c["id"]: c for c in data["claims"]}
    for c in data["claims"]:  # the schema of claims.json
        assert set(c) >= {"id", "title", "paper", "measured", "verdict", "figure", "runs", "parts", "scale"}
        assert c["verdict"] in VERDICTS and set(c["paper"]) == {"value", "text"}
        if c["measured"] is not None:
            assert set(c["measured"]) >= {"value", "ci", "n_runs"}
    assert by["C3"]["verdict"] == "not run" and by["C3"]["measured"] is None and by["C3"]["runs"] == []
    assert by["C1"]["measured"]["n_runs"] == 2 and len(by["C1"]["runs"]) == 2 and by["C1"]["figure"]
    assert by["C6"]["parts"][0]["measured"] is not None and by["C8"]["note"] == "MoE needs more data"
    assert all((out / c["figure"]).is_file() for c in data["claims"] if c["figure"])
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "| claim | paper | kcap | verdict |" in md and "figures/C1.png" in md
    assert html.count("data:image/png;base64,") == md.count("![") and "http" not in html.split("<body>")[1]
    # every run the report names is in the store
    from kcap.store.db import RunStore

    os.environ["KCAP_WORKSPACE"] = str(tmp_path / "ws")
    with RunStore() as store:
        ids = {row["id"] for row in store.runs(measured_only=True)}
    assert {rid for c in data["claims"] for rid in c["runs"]} <= ids and len(ids) == 7
    # the compute side ran end to end: popular streams with bits tracked at log-spaced steps, C10's
    # exposures per run (C11's fit is tested on constructed runs: its 4,500 starts take 15 s)
    c10 = by["C10"]["parts"][0]
    assert len(c10["passes"]) == 3 and by["C10"]["figure"] and "Exposures needed, run by run" in md
    # what each popular run knows, string by string (the research script of docs/scaling.md §5)
    script = Path(__file__).parents[1] / "experiments" / "popularity_by_rank.py"
    by_rank = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert by_rank.returncode == 0, by_rank.stderr
    assert len([row for row in by_rank.stdout.splitlines() if row[:3].strip("| ").isdigit()]) == 3  # one per run
    # one claim's figure alone, from the store
    fig = _kcap(tmp_path, "plot", "claim", "C1", "--specs", specs, "--out", "c1.png")
    assert fig.returncode == 0 and (tmp_path / "c1.png").stat().st_size > 1000, fig.stderr
    # a second invocation trains nothing; --report-only rebuilds the same verdicts
    again = _kcap(tmp_path, "reproduce", "--specs", specs, "--out", "rep")
    assert again.returncode == 0 and "0 to run" in again.stdout and "start" not in again.stdout
    # the capacity claims' report came first while C10's runs trained; with nothing to train, one report
    assert "C1, C2, C6, C8 measured: report written" in r.stdout and "report written in" not in again.stdout
    only = _kcap(tmp_path, "reproduce", "--specs", specs, "--out", "rep", "--report-only")
    assert only.returncode == 0, only.stderr
    assert [c["verdict"] for c in json.loads((out / "claims.json").read_text())["claims"]] == \
        [c["verdict"] for c in data["claims"]]


@pytest.mark.parametrize("args,needle", [
    (["--claims", "C1,C99"], "unknown claim id C99"),
    (["--scale", "tpu"], "--scale must be one of cpu, gpu, paper"),
    (["--report-only"], "--report-only: the run store"),
    (["--out", "afile"], "--out afile is a file"),
    (["--out", "busy"], "holds other files"),
    (["--scale", "paper"], "--backend ray"),
    (["--specs", "nowhere"], "has no claims.yaml"),
    (["--backend", "slurm", "--plan"], "--backend must be local or ray"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path, monkeypatch, capsys):
    from kcap.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as e:
        main(["reproduce", *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and needle in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def _browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="needs Debian's chromium package")
def test_report_renders_in_a_headless_browser_with_every_figure_drawn(tmp_path):
    specs = micro_scale(tmp_path / "micro")
    assert _kcap(tmp_path, "reproduce", "--specs", specs, "--out", "rep").returncode == 0
    html = (tmp_path / "rep" / "report.html").read_text()
    n = html.count("<img ")
    assert n >= 3
    probe = tmp_path / "rep" / "probe.html"  # the report plus a script that reports each image's decoded size
    probe.write_text(html.replace("</body>", "<script>window.onload=()=>{document.body.setAttribute('data-drawn',"
                                  "[...document.images].filter(i=>i.complete&&i.naturalWidth>100).length)}"
                                  "</script></body>"))
    r = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                        "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    assert f'data-drawn="{n}"' in r.stdout, r.stderr[-2000:]


def _numbers(path: Path) -> list:
    return [(c["id"], c["verdict"], c["measured"], [p["measured"] for p in c["parts"]])
            for c in json.loads(path.read_text())["claims"]]


@pytest.mark.slow
@pytest.mark.parametrize("after_s", [6.0, 14.0])
def test_sigkilled_reproduce_reruns_to_the_same_numbers(tmp_path, after_s):
    import signal
    import time

    specs = micro_scale(tmp_path / "micro")
    ref = _kcap(tmp_path, "reproduce", "--specs", specs, "--out", "ref", env={"KCAP_WORKSPACE": str(tmp_path / "a")})
    assert ref.returncode == 0, ref.stderr
    env = {**os.environ, "KCAP_WORKSPACE": str(tmp_path / "b")}
    p = subprocess.Popen([sys.executable, "-m", "kcap", "reproduce", "--specs", str(specs), "--out", "rep"],
                         cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)  # its own process group: the kill takes its workers too
    time.sleep(after_s)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    again = _kcap(tmp_path, "reproduce", "--specs", specs, "--out", "rep", env={"KCAP_WORKSPACE": str(tmp_path / "b")})
    assert again.returncode == 0, again.stderr
    assert _numbers(tmp_path / "rep" / "claims.json") == _numbers(tmp_path / "ref" / "claims.json")


def test_a_ratio_over_a_reference_that_stored_nothing_is_not_judged():
    base = _result(26000, 600, exposures=100)  # 1% of bits_max
    llama = _result(25000, 100, exposures=100, model={"arch": "llama", "name": "llama"})
    part = next(p for p in C.c8([base, llama]) if p.label == "LLaMA, 100 exposures")
    assert part.measured.value > 1 and part.untestable and part.verdict == "not run" and "1.0%" in part.note


def _curved(params, losses, flops_per_step):
    r = _result(params, params)
    r.points = [{"flops": flops_per_step * (i + 1), "loss": loss} for i, loss in enumerate(losses)]
    return r


def test_c9_finds_where_a_larger_model_overtakes_for_good():
    small = _curved(1000, [3.0 - 0.1 * i for i in range(10)] + [2.0] * 90, 1.0)  # fast, then flat
    large = _curved(4000, [3.5 - 0.1 * i for i in range(25)], 4.0)  # 4x the FLOPs a step, keeps going
    f = C.crossing(small, large)
    assert f is not None and 50 < f < 90  # large below 2.0 from its 16th step (64 FLOPs), smoothed
    assert C.crossing(large, small) is None  # the other way round it never overtakes
    (part,) = C.c9([small, large])
    assert part.measured.value == 1.0 and part.data["crossings"][0]["flops"] == pytest.approx(f)


def test_plot_claim_without_runs_is_one_line(tmp_path, monkeypatch, capsys):
    from kcap.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["plot", "claim", "C9", "--out", "c9.png"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "C9: no measured run of the cpu scale" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(["plot", "claim", "C42"])
    assert e.value.code == 2 and "unknown claim id C42" in capsys.readouterr().err


def test_claim_groups_and_stages():
    from kcap.reproduce.run import GROUPS, parse_claims, stage_claims

    assert parse_claims(None) == parse_claims("all") == list(C.CLAIMS)
    assert parse_claims("capacity") == GROUPS["capacity"] == [f"C{i}" for i in range(1, 9)]
    assert parse_claims("compute,C1") == ["C9", "C10", "C11", "C1"]
    # the capacity claims run (and are reported) first, whatever order they were asked in
    assert stage_claims(["C10", "C2", "C9", "C1"]) == [["C2", "C1"], ["C10", "C9"]]
    assert stage_claims(["C9"]) == [["C9"]] and stage_claims(["C3"]) == [["C3"]]
