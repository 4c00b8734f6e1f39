"""Nothing overwrites a result without being told to (issue 13, item 4): datasets, runs and HF
exports are replaced only with --overwrite, a run directory is locked while it trains, one run id
lives in one directory, and a replaced run leaves no number behind (files or store row)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys

import pytest
from test_hostile import TINY, _kcap

from kcap.store.db import RunStore
from kcap.store.workspace import store_path


def ok(*args) -> str:
    code, out, err = _kcap(*args)
    assert code == 0, err
    return out


def refused(*args) -> str:
    code, _, err = _kcap(*args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    return lines[0]


def run_id(run) -> str:
    return json.loads((run / "config.json").read_text())["id"]


@pytest.fixture
def data(tmp_path):
    ok("data", "bios", "--people", 20, "--out", tmp_path / "data")
    return tmp_path / "data"


def test_a_dataset_is_replaced_only_with_overwrite_and_its_runs_then_refuse_it(tmp_path, data):
    before = (data / "people.npy").read_bytes()
    assert "--overwrite" in refused("data", "bios", "--people", 20, "--out", data)
    ok("train", "--data", data, "--out", tmp_path / "run", *TINY)
    ok("data", "bios", "--people", 20, "--seed", 5, "--out", data, "--overwrite")
    assert (data / "people.npy").read_bytes() != before
    # the run keeps its dataset's checksums: measured against the new files, it is refused, never wrong
    assert "not the one run" in refused("measure", tmp_path / "run", "--device", "cpu")


def test_training_again_needs_overwrite_which_retires_the_old_measurements(tmp_path, data):
    run = tmp_path / "run"
    ok("train", "--data", data, "--out", run, *TINY)
    ok("measure", run, "--device", "cpu")
    ok("measure", run, "--device", "cpu", "--quantize", "int8")
    rid = run_id(run)
    assert "--resume auto keeps it" in refused("train", "--data", data, "--out", run, *TINY)
    assert "nothing to do" in ok("train", "--data", data, "--out", run, *TINY, "--resume", "auto")
    assert (run / "measure.json").exists()

    ok("train", "--data", data, "--out", run, *TINY, "--overwrite")  # the same run, trained again
    assert not list(run.glob("measure*.json"))
    with RunStore() as store:
        row = store.runs(ids=[rid])[0]
        assert row["status"] == "trained" and row["results"] is None and store.quantized(rid) == {}

    ok("train", "--data", data, "--out", run, *TINY, "--lr", "2e-2", "--overwrite")  # another run there
    new = run_id(run)
    assert new != rid
    with RunStore() as store:
        assert store.run_status(rid) is None  # the replaced run's row is retired with its weights
        assert store.run_status(new).status == "trained"


def test_a_broken_finished_run_is_trained_again_without_its_old_measurement(tmp_path, data):
    run = tmp_path / "run"
    ok("train", "--data", data, "--out", run, *TINY)
    ok("measure", run, "--device", "cpu")
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    code, out, err = _kcap("train", "--data", data, "--out", run, *TINY, "--resume", "auto")
    assert code == 0 and "training it again" in err, err
    assert not (run / "measure.json").exists()  # it measured the weights that were lost
    ok("measure", run, "--device", "cpu")


def test_one_run_id_lives_in_one_directory(tmp_path, data):
    first, second = tmp_path / "first", tmp_path / "second"
    ok("train", "--data", data, "--out", first, *TINY)
    ok("measure", first, "--device", "cpu")
    msg = refused("train", "--data", data, "--out", second, *TINY)
    assert str(first) in msg and "measured" in msg and not second.exists()
    with RunStore() as store:  # the existing row is neither re-pointed nor un-measured
        st = store.run_status(run_id(first))
        assert st.status == "measured" and st.run_dir == str(first.resolve())
    # once the first directory no longer holds the run, the row follows the new one
    (first / "config.json").unlink()
    ok("train", "--data", data, "--out", second, *TINY)
    with RunStore() as store:
        assert store.run_status(run_id(second)).run_dir == str(second.resolve())


def test_a_moved_run_is_measured_where_it_is_now(tmp_path, data):
    ok("train", "--data", data, "--out", tmp_path / "run", *TINY)
    (tmp_path / "run").rename(tmp_path / "moved")
    ok("train", "--data", data, "--out", tmp_path / "moved", *TINY, "--resume", "auto")  # nothing to do
    ok("measure", tmp_path / "moved", "--device", "cpu")
    with RunStore() as store:
        st = store.run_status(run_id(tmp_path / "moved"))
        assert st.status == "measured" and st.run_dir == str((tmp_path / "moved").resolve())


def test_measure_refuses_weights_that_are_not_the_rows(tmp_path, data):
    run = tmp_path / "run"
    ok("train", "--data", data, "--out", run, *TINY)
    with sqlite3.connect(store_path()) as conn:  # as if the row's run had been trained elsewhere, differently
        metrics = json.loads(conn.execute("SELECT metrics FROM runs").fetchone()[0])
        conn.execute("UPDATE runs SET metrics = ?", (json.dumps({**metrics, "weights_sha256": "0" * 64}),))
    assert "these weights are not those of run" in refused("measure", run, "--device", "cpu")
    assert not (run / "measure.json").exists()


def test_an_export_is_replaced_only_with_overwrite(tmp_path, data):
    pytest.importorskip("transformers")
    run, hf = tmp_path / "run", tmp_path / "hf"
    ok("train", "--data", data, "--out", run, *TINY)
    ok("export", run, "--hf", hf)
    assert "--overwrite" in refused("export", run, "--hf", hf)
    ok("export", run, "--hf", hf, "--overwrite")
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in hf.iterdir()}
    assert len(set(modes.values())) == 1, modes  # the weights are not 0600 beside 0644 files


def test_run_files_take_the_umask_mode(tmp_path, data):
    run = tmp_path / "run"
    ok("train", "--data", data, "--out", run, *TINY, "--checkpoint-every", "1")
    ok("measure", run, "--device", "cpu")
    umask = os.umask(0)
    os.umask(umask)
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in run.iterdir() if f.is_file() and f.name != ".lock"}
    assert set(modes.values()) == {0o666 & ~umask}, modes


def test_a_killed_run_reads_as_interrupted(tmp_path, data):
    """A run whose process is gone (SIGKILL: no chance to record it) is interrupted, not running
    forever, in kcap runs and the store's status; its directory's lock is free again."""
    run = tmp_path / "run"
    ok("train", "--data", data, "--out", run, *TINY)
    rid = run_id(run)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    with sqlite3.connect(store_path()) as conn:
        conn.execute("UPDATE runs SET status = 'running', pid = ?, metrics = NULL", (int(dead.stdout),))
    rows = json.loads(ok("runs", "--json"))
    assert rows[0]["status"] == "interrupted" and "is gone" in rows[0]["reason"]
    with RunStore() as store:
        assert store.run_status(rid).status == "interrupted" and store.run_status(rid).resumable


@pytest.mark.slow
def test_two_trainers_into_one_directory_one_is_refused(tmp_path, data):
    """Two real processes started together into one --out: one trains, the other is refused in one
    line naming the holder, and the directory ends with one run's config, weights and row."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "kcap", "train", "--data", str(data), "--out", str(run), *TINY,
           "--exposures", "40"]
    procs = [subprocess.Popen(cmd + ["--lr", lr], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for lr in ("1e-2", "2e-2")]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes == [0, 2], results
    err = next(e for c, e in results if c == 2)
    assert "being trained by pid" in err or "holds run" in err, err
    ok("measure", run, "--device", "cpu")  # config and weights belong together
