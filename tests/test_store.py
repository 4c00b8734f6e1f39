"""The run store under concurrent writers, its migrations, failure recording, and run-directory checks."""

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest

from kcap.errors import KcapError
from kcap.store import db, rundir
from kcap.store.db import RunStore

WRITER = r"""
import sys
from kcap.store.db import RunStore
path, proc, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = RunStore(path)  # every process opens (and, the first, creates and migrates) the store at once
for i in range(n):
    rid = f"p{proc}-r{i}"
    config = {"data": {"kind": "bioS", "variant": "multi", "people": 10}, "train": {"exposures": 1},
              "model": {"arch": "gpt2", "n_layer": 1, "n_head": 1, "d_model": 2}, "params": {"total": 100}}
    store.record_started(rid, "/tmp/none", config)
    store.record_trained(rid, "/tmp/none", config, {"steps": i}, points=[{"step": s, "tokens": s} for s in (1, 2, 3)])
    store.record_results(rid, {"bits": float(i), "bits_max": 10.0, "bits_per_param": i / 100})
store.close()
"""


def test_eight_processes_writing_fifty_results_each_lose_nothing(tmp_path):
    path = tmp_path / "store.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(p), "50"], stderr=subprocess.PIPE,
                              text=True) for p in range(8)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with RunStore(path) as store:
        rows = store.runs()
        assert len(rows) == 400 and all(r["status"] == "measured" for r in rows)
        assert {r["id"] for r in rows} == {f"p{p}-r{i}" for p in range(8) for i in range(50)}
        assert store.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 1200
        assert all(r["bits"] == float(r["id"].split("-r")[1]) for r in rows)


def test_migration_from_version_2_keeps_runs(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(db._MIGRATIONS[0] + db._MIGRATIONS[1] + "PRAGMA user_version=2;")
    conn.execute("INSERT INTO runs (id, run_dir, created, updated, status, config) VALUES ('old', '/x', 0, 0, "
                 "'measured', '{}')")
    conn.commit()
    conn.close()
    with RunStore(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION == 4
        st = store.run_status("old")
        assert st.finished and st.attempts == 0 and st.reason is None
        assert store.run_status("never-seen") is None


def test_newer_store_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    sqlite3.connect(path).execute(f"PRAGMA user_version={db.SCHEMA_VERSION + 1}")
    with pytest.raises(KcapError, match="newer than this kcap"):
        RunStore(path)


def test_diverging_run_is_recorded_as_failed_with_reason(small_bios, tmp_path):
    from kcap.model.spec import ModelSpec
    from kcap.train.config import TrainConfig
    from kcap.train.failure import TrainingDiverged
    from kcap.train.loop import train

    cfg = TrainConfig(exposures=1, lr=1e6, wd=0.0, grad_clip=0, batch=8, seq=128, warmup=0, device="cpu",
                      log_every=1, eval_every=0)
    with pytest.raises(TrainingDiverged, match="diverged"):
        train(small_bios, ModelSpec(layers=1, heads=2, d_model=16), cfg, tmp_path / "r", progress=False)
    rid = json.loads((tmp_path / "r" / "config.json").read_text())["id"]
    with RunStore() as store:
        st = store.run_status(rid)
        assert st.status == "failed" and st.reason.startswith("nan: training diverged at step")
        assert not st.finished and not st.resumable and st.attempts == 1
        store.record_failed(rid, "oom: CUDA out of\nmemory")  # the sweep's API: one line, whatever it is given
        assert store.run_status(rid).reason == "oom: CUDA out of memory"
        with pytest.raises(KcapError, match="not in the store"):
            store.record_failed("nope", "crash: x")


def test_failure_reasons():
    import torch

    from kcap.train.failure import TrainingDiverged, failure_reason

    assert failure_reason(TrainingDiverged("loss is nan")) == "nan: loss is nan"
    assert failure_reason(torch.OutOfMemoryError("CUDA out of memory. Tried")).startswith("oom: ")
    assert failure_reason(MemoryError()) == "oom: MemoryError"
    assert failure_reason(ValueError("bad\nthing")) == "crash: ValueError: bad thing"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, small_bios):
    from kcap.model.spec import ModelSpec
    from kcap.train.config import TrainConfig
    from kcap.train.loop import train

    run = tmp_path_factory.mktemp("runs") / "good"
    train(small_bios, ModelSpec(layers=1, heads=2, d_model=8),
          TrainConfig(exposures=1, lr=1e-2, batch=8, seq=128, device="cpu", eval_every=0), run,
          progress=False, record=False)
    return run


def _broken(finished_run, tmp_path, how):
    run = tmp_path / how
    shutil.copytree(finished_run, run)
    w, c = run / rundir.WEIGHTS, run / rundir.CONFIG
    if how == "truncated":
        w.write_bytes(w.read_bytes()[:-100])
    elif how == "flipped":
        b = bytearray(w.read_bytes())
        b[-3] ^= 0x01
        w.write_bytes(bytes(b))
    elif how == "no_weights":
        w.unlink()
    elif how == "bad_json":
        c.write_text(c.read_text()[:50])
    elif how == "altered":
        config = json.loads(c.read_text())
        config["train"]["lr"] = 0.5
        c.write_text(json.dumps(config))
    elif how == "unfinished":
        (run / rundir.SUMMARY).unlink()
    return run


BROKEN = {"truncated": "truncated", "flipped": "checksum", "no_weights": "no trained weights",
          "bad_json": "corrupted", "altered": "was altered", "unfinished": "not a finished run"}


@pytest.mark.parametrize("how", sorted(BROKEN))
def test_broken_run_directory_is_reported_never_used(finished_run, tmp_path, how):
    from kcap.measure.evaluate import measure_run

    assert rundir.run_problem(finished_run, verify=True) is None
    run = _broken(finished_run, tmp_path, how)
    with pytest.raises(KcapError, match=BROKEN[how]) as e:
        measure_run(run, device="cpu", record=False)
    assert "\n" not in str(e.value)


def test_runs_listing_flags_broken_run_directories(finished_run, tmp_path):
    run = _broken(finished_run, tmp_path, "truncated")
    config = json.loads((run / rundir.CONFIG).read_text())
    with RunStore() as store:
        store.record_trained(config["id"], run, config, {"steps": 1})
    p = subprocess.run([sys.executable, "-m", "kcap", "runs", "--json"], capture_output=True, check=False, text=True)
    assert p.returncode == 0, p.stderr
    (row,) = json.loads(p.stdout)
    assert "truncated" in row["problem"]
    assert p.stderr.count("\n") == 1 and "warning: run" in p.stderr and "Traceback" not in p.stderr


def test_retraining_a_run_drops_its_old_curve_and_measurement(tmp_path):
    config = {"data": {"kind": "bioS", "variant": "multi", "people": 10}, "train": {"exposures": 1},
              "model": {"arch": "gpt2", "n_layer": 1, "n_head": 1, "d_model": 2}, "params": {"total": 100}}
    with RunStore(tmp_path / "s.sqlite") as store:
        store.record_started("r", tmp_path, config)
        store.record_trained("r", tmp_path, config, {"steps": 2}, points=[{"step": 1, "tokens": 5}])
        store.record_results("r", {"bits": 1.0, "bits_max": 2.0, "bits_per_param": 0.01})
        assert store.run_status("r").finished and len(store.runs(measured_only=True)) == 1
        store.record_started("r", tmp_path, config)  # trained again (resume never): the old results go
        st = store.run_status("r")
        assert st.status == "running" and st.attempts == 2 and st.alive is True and not st.resumable
        assert store.points("r") == [] and store.runs(measured_only=True) == []
        assert store.runs()[0]["bits"] is None and set(store.statuses()) == {"r"}


def test_migration_from_version_3_adds_quantized_table(tmp_path):
    path = tmp_path / "v3.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("".join(db._MIGRATIONS[:3]) + "PRAGMA user_version=3;")
    conn.execute("INSERT INTO runs (id, run_dir, created, updated, status, config, reason) VALUES "
                 "('r', '/x', 0, 0, 'failed', '{}', 'nan: loss is nan at step 3')")
    conn.commit()
    conn.close()
    with RunStore(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert store.run_status("r").reason == "nan: loss is nan at step 3"
        assert store.quantized("r") == {}


def test_a_v3_store_of_either_development_branch_migrates(tmp_path):
    """Two branches each called their change v3 (run status columns; the quantized table)."""
    quantized_only = tmp_path / "q.sqlite"
    conn = sqlite3.connect(quantized_only)
    conn.executescript(db._MIGRATIONS[0] + db._MIGRATIONS[1] +
                       "CREATE TABLE quantized (run_id TEXT, method TEXT, updated REAL, bits REAL, "
                       "bits_per_param REAL, results TEXT, PRIMARY KEY (run_id, method));"
                       "PRAGMA user_version=3;")
    conn.close()
    with RunStore(quantized_only) as store:
        cols = {r[1] for r in store.conn.execute("PRAGMA table_info(runs)")}
        assert {"reason", "attempts", "pid", "host"} <= cols
        assert store.statuses() == {} and store.quantized("x") == {}
