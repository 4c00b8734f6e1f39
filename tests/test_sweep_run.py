"""Running sweeps: idempotence, recorded failures, interrupted runs, the CLI and the Ray backend."""

import json
import os
import subprocess
import sys
import time

import pytest

from kcap.store.db import RunStore
from kcap.store.workspace import store_path
from kcap.sweep import ledger, run_sweep, sweep_status
from kcap.sweep.backends import _outcome
from kcap.sweep.plan import plan
from kcap.sweep.schema import parse_spec_text

# two tiny runs that differ in lr only: one trains, the other diverges (loss NaN at step 2)
TWO_RUNS = """
name: two
data: {people: 40, seed: 2}
model: {base: {layers: 1, heads: 2, d_model: 16}}
train: {exposures: 2, batch: 4, seq: 128, lr: [3.0e-3, 1.0e+30], device: cpu, eval_every: 0, log_every: 1}
"""


def kcap(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kcap", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          check=False)


def mtimes(runs):
    return {r.key: (r.run_dir / "model.safetensors").stat().st_mtime_ns
            for r in runs if (r.run_dir / "model.safetensors").exists()}


def test_failure_is_recorded_the_sweep_goes_on_and_a_rerun_trains_nothing():
    tree = parse_spec_text(TWO_RUNS)
    lines, store_before_runs = [], []

    def echo(line):
        lines.append(line)
        if " start " in line:  # runs finishing at once must not race to create the store
            store_before_runs.append(store_path().exists())

    counts = run_sweep(tree, jobs=2, echo=echo)
    assert counts["done"] == 1 and counts["failed"] == 1, "\n".join(lines)
    assert store_before_runs == [True, True]
    runs = plan(tree)
    states = {r.train["lr"]: (st, detail) for r, st, detail in sweep_status(runs)}
    assert states[3e-3] == ("done", None)
    assert states[1e30][0] == "failed" and "diverged" in states[1e30][1]
    with RunStore() as store:
        (row,) = store.runs(measured_only=True)
    assert row["bits"] is not None and row["run_dir"] == str(next(r for r in runs if r.train["lr"] == 3e-3).run_dir)
    assert any("FAILED (nan: training diverged" in ln for ln in lines)

    before = mtimes(runs)
    lines = []
    counts = run_sweep(tree, jobs=2, echo=lines.append)
    assert lines == ["[two] 2 runs: 1 done, 1 failed (not retried; --retry-failed), 0 running elsewhere, 0 to run"]
    assert mtimes(runs) == before  # nothing was trained again

    lines = []
    counts = run_sweep(tree, jobs=2, retry_failed=True, echo=lines.append)
    assert counts["done"] == 1 and counts["failed"] == 1
    assert sum(ln.startswith("[two] start") for ln in lines) == 1  # only the failed run ran again
    assert mtimes(runs) == before

    # stopped between training and measuring: the next sweep measures, and does not train again
    done = next(r for r in runs if r.train["lr"] == 3e-3)
    (done.run_dir / "measure.json").unlink()
    assert ledger.run_state(done)[0] == "interrupted" and ledger.trained(done)
    assert run_sweep(tree, echo=lines.append)["done"] == 1
    assert (done.run_dir / "measure.json").is_file() and mtimes(runs) == before


def test_a_crashed_or_interrupted_run_is_found_out():
    (run, _) = plan(parse_spec_text(TWO_RUNS))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run.run_dir.mkdir(parents=True)
    (run.run_dir / ledger.RUNNING).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    assert ledger.run_state(run)[0] == "interrupted"  # its process is gone: the next sweep runs it again
    ledger.mark_running(run)
    assert ledger.run_state(run)[0] == "running"  # held by a live process (this one)
    result = _outcome(run, -9, time.perf_counter())  # what the local backend sees after a SIGKILL
    assert result["state"] == "failed" and result["reason"] == "crash: killed by SIGKILL (out of memory?)"
    assert ledger.run_state(run) == ("failed", result["reason"])


def test_cli_refuses_a_bad_spec_before_any_run_starts(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(TWO_RUNS.replace("lr: [3.0e-3, 1.0e+30]", "lr: 3.0e-3") +
                    "runs: [{}, {model: {arch: mistral, base: {kv_heads: 3}}}]\n")
    p = kcap("sweep", "run", spec)
    assert p.returncode == 2 and p.stderr.strip() == (
        "kcap: error: runs[1].model.base: heads 2 must be a multiple of kv_heads 3")
    assert not (tmp_path / "ws").exists()  # no dataset generated, no run started
    spec.write_text("data: {people: 40}\ntrain: {exposures: 2, warmpu: 10}\n")
    p = kcap("sweep", "plan", spec)
    assert p.returncode == 2 and p.stderr.strip() == (
        "kcap: error: train.warmpu: unknown key 'warmpu'; did you mean 'warmup'?")
    p = kcap("sweep", "status", tmp_path / "missing.yaml")
    assert p.returncode == 2 and "does not exist" in p.stderr


def test_cli_plan_run_status(tmp_path):
    spec = tmp_path / "one.yaml"
    spec.write_text(TWO_RUNS.replace("lr: [3.0e-3, 1.0e+30]", "lr: 3.0e-3"))
    p = kcap("sweep", "plan", spec, "--json")
    assert p.returncode == 0, p.stderr
    (planned,) = json.loads(p.stdout)
    assert planned["state"] == "pending" and planned["est"]["params"] > 0
    assert not (tmp_path / "ws").exists()  # planning writes nothing, not even an empty store
    p = kcap("sweep", "run", spec, "--jobs", 1)
    assert p.returncode == 0, p.stderr
    assert "1/1 done, 0 running, 0 failed, 0 to do" in p.stdout
    p = kcap("sweep", "status", spec, "--json")
    s = json.loads(p.stdout)
    assert s["counts"] == {"done": 1} and s["runs"][0]["id"] == planned["key"] and s["eta_s"] == 0
    p = kcap("sweep", "status", spec)
    assert p.returncode == 0 and "1/1 done" in p.stdout and planned["key"] in p.stdout


@pytest.mark.slow  # ~15 s, most of it starting Ray: an optional extra (kcap[ray]); the local backend is the fast tier's
def test_ray_backend_completes_a_two_run_sweep():
    pytest.importorskip("ray")
    tree = parse_spec_text(TWO_RUNS.replace("lr: [3.0e-3, 1.0e+30]", "lr: [3.0e-3, 4.0e-3, 5.0e-3]")
                           .replace("seed: 2}", "seed: 2}\nruns: [{}, {train: {grad_accum: 2}}]"))
    lines = []
    # three runs go as one Ray task (a group trained at once); those with grad_accum one task each
    counts = run_sweep(tree, jobs=2, backend="ray", echo=lines.append, group_models=3)
    assert counts["done"] == 6, "\n".join(lines)
    assert any("6 runs as 4 jobs" in ln for ln in lines), "\n".join(lines)
    assert all(st == "done" for _, st, _ in sweep_status(plan(tree)))
    with RunStore() as store:
        rows = store.runs(measured_only=True)
    assert sorted(r["metrics"].get("batched_with", 1) for r in rows) == [1, 1, 1, 3, 3, 3]


@pytest.mark.slow  # ~20 s on an idle 2-core machine: a 40-exposure run is trained to the end
def test_sigterm_stops_the_sweep_and_its_runs_and_the_next_sweep_finishes_them(tmp_path):
    spec = tmp_path / "long.yaml"
    spec.write_text(TWO_RUNS.replace("lr: [3.0e-3, 1.0e+30]", "lr: 3.0e-3").replace("exposures: 2", "exposures: 40"))
    (run,) = plan(parse_spec_text(spec.read_text()))
    p = subprocess.Popen([sys.executable, "-m", "kcap", "sweep", "run", str(spec)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run.run_dir / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    marker = json.loads((run.run_dir / ledger.RUNNING).read_text())
    p.terminate()
    assert p.wait(timeout=30) != 0
    with pytest.raises(ProcessLookupError):  # the run's process went with the sweep
        for _ in range(50):
            os.kill(marker["pid"], 0)
            time.sleep(0.1)
    assert ledger.run_state(run)[0] == "interrupted"
    p = kcap("sweep", "run", spec)
    assert p.returncode == 0 and "1/1 done" in p.stdout, p.stderr
    assert ledger.run_state(run)[0] == "done"


def test_every_dataset_kind_runs_through_a_sweep():
    tree = parse_spec_text("""
name: kinds
model: {base: {layers: 1, heads: 2, d_model: 16}}
train: {exposures: 2, batch: 4, seq: 128, lr: 3.0e-3, device: cpu, eval_every: 0}
data: {people: 40}
runs:
  - data: {kind: bioD, biod: {attributes: 2, chunks: 1, diversity: 10, chunk_len: 2, alphabet: 20}}
  - data: {kind: random, random: {length: 12, alphabet: 16}}
  - data: {junk: {fraction: 0.5, domain_token: true}}
""")
    lines = []
    assert run_sweep(tree, jobs=2, echo=lines.append)["done"] == 3, "\n".join(lines)
    with RunStore() as store:
        rows = store.runs(measured_only=True)
    assert sorted(r["config"]["data"]["kind"] for r in rows) == ["bioD", "bioS", "random"]
    assert [r.name for r in plan(tree)] == ["gpt2-1x16x2-bioD-N40-E2-s0", "gpt2-1x16x2-random-N40-E2-s0",
                                            "gpt2-1x16x2-junk0.5-domain-N40-E2-s0"]


def test_archs_and_quantized_measurement_run_through_a_sweep():
    tree = parse_spec_text("""
name: archs
data: {people: 40}
model: {base: {layers: 1, heads: 2, d_model: 16}}
train: {exposures: 2, batch: 4, seq: 128, lr: 3.0e-3, device: cpu, eval_every: 0}
measure: {quantize: [none, int8]}
runs:
  - model: {arch: llama}
  - model: {arch: mistral, base: {layers: 1, heads: 2, d_model: 16, kv_heads: 1}}
  - model: {arch: gpt2, base: {layers: 1, heads: 2, d_model: 16, experts: 2, mlp_ratio: 1}}
""")
    lines = []
    assert run_sweep(tree, jobs=2, echo=lines.append)["done"] == 3, "\n".join(lines)
    with RunStore() as store:
        rows = store.runs(measured_only=True)
    assert sorted(r["arch"] for r in rows) == ["gpt2", "llama", "mistral"]
    for r in rows:
        assert set(r["quantized"]) == {"int8"} and r["quantized"]["int8"]["bits"] is not None
        m = r["config"]["model"]
        assert r["config"]["params"]["active"] < r["params"] if m.get("n_expert") else True
    assert run_sweep(tree, echo=lines.append)["done"] == 3  # done: nothing trains or measures again


def test_compatible_runs_train_together_and_end_as_they_would_alone(tmp_path, monkeypatch):
    """--group-models: runs of one shape (here three learning rates and an MoE that cannot be
    batched) run as one train_many job plus a single one; the weights equal a sweep run one by one."""
    from safetensors.torch import load_file

    from kcap.sweep.grouping import group_runs

    text = """
name: grouped
data: {people: 40, seed: 2}
model: {base: {layers: 1, heads: 2, d_model: 16}}
train: {exposures: 2, batch: 4, seq: 128, lr: [3.0e-3, 1.0e-2, 1.0e+30], device: cpu, eval_every: 0}
"""
    tree = parse_spec_text(text)
    runs = plan(tree)
    lines = []
    counts = run_sweep(tree, jobs=1, echo=lines.append, group_models=8)
    assert counts["done"] == 2 and counts["failed"] == 1, "\n".join(lines)
    assert any("3 runs of gpt2-1x16x2 at once" in ln for ln in lines)
    diverged = next(r for r in runs if r.train["lr"] == 1e30)
    assert ledger.run_state(diverged)[1].startswith("nan: training diverged")
    with RunStore() as store:
        rows = {r["config"]["train"]["lr"]: r for r in store.runs(measured_only=True)}
    assert sorted(rows) == [3e-3, 1e-2] and all(r["metrics"]["batched_with"] == 3 for r in rows.values())
    grouped = {r.key: load_file(r.run_dir / "model.safetensors") for r in runs if r.train["lr"] < 1}

    monkeypatch.setenv("KCAP_WORKSPACE", str(tmp_path / "alone"))
    assert run_sweep(tree, jobs=1, echo=lines.append, group_models=1)["done"] == 2
    with RunStore() as store:
        alone_rows = {r["config"]["train"]["lr"]: r for r in store.runs(measured_only=True)}
    for r in runs:
        if r.train["lr"] > 1:
            continue
        alone = load_file(r.run_dir / "model.safetensors")  # the same key, in the other workspace
        for name, w in alone.items():
            assert (w - grouped[r.key][name]).abs().max() < 1e-5, name
        lr = r.train["lr"]
        assert alone_rows[lr]["bits"] == pytest.approx(rows[lr]["bits"], rel=1e-3, abs=1.0)
    # what cannot be batched runs alone: a mixture of experts, gradient accumulation
    moe = plan(parse_spec_text(text.replace("d_model: 16}", "d_model: 16, experts: 2, mlp_ratio: 1}")))
    assert [len(g) for g in group_runs(moe, 8)] == [1, 1, 1]
    accum = plan(parse_spec_text(text.replace("batch: 4,", "batch: 4, grad_accum: 2,")))
    assert [len(g) for g in group_runs(accum, 8)] == [1, 1, 1]


def test_failure_reasons_are_one_line():
    import torch

    from kcap.errors import KcapError
    from kcap.train.failure import TrainingDiverged, failure_reason

    assert failure_reason(TrainingDiverged("training diverged at step 3: loss is nan")) == \
        "nan: training diverged at step 3: loss is nan"
    assert failure_reason(KcapError("dataset d is corrupted")) == "error: dataset d is corrupted"
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")
    assert failure_reason(oom) == "oom: CUDA out of memory. Tried to allocate 2.00 GiB"
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError as e:
        reason = failure_reason(e)
    assert reason.startswith("crash: RuntimeError at test_sweep_run.py:") and reason.endswith(": boom second line")


def test_a_run_two_specs_share_is_measured_as_both_ask(tmp_path, monkeypatch):
    """random-1000 asks for int8/int4, the lr search shares its seed-0 run and asks for nothing:
    the run is planned once with both quantizations, and is not done until both are measured."""
    from types import SimpleNamespace

    from kcap.sweep import ledger
    from kcap.sweep.plan import PlannedRun
    from kcap.sweep.runner import merge_shared

    def run(measure):
        return PlannedRun(key="k", name="n", data={}, dataset_key="d", model={}, train={}, options={},
                          measure=measure, origin="")

    (merged,) = merge_shared([run({"enabled": True, "quantize": ["none", "int8", "int4"]}),
                              run({"enabled": True, "quantize": ["none"]})]).values()
    assert merged.measure == {"enabled": True, "quantize": ["none", "int8", "int4"]}
    (merged,) = merge_shared([run({"enabled": False, "quantize": ["none"]}),
                              run({"enabled": True, "quantize": ["int8"]})]).values()
    assert merged.measure == {"enabled": True, "quantize": ["none", "int8"]}

    monkeypatch.setattr(ledger, "trained", lambda r, s=None: True)
    monkeypatch.setattr(ledger, "_in_store", lambda r, s, measured: True)
    r = SimpleNamespace(run_dir=tmp_path, measure={"enabled": True, "quantize": ["none", "int8"]})
    assert not ledger._finished(r, None)  # measured in full precision, int8 still to do
    (tmp_path / "measure-int8.json").write_text("{}")
    assert ledger._finished(r, None)
