"""Exact resume: checkpoints, the stream fast-forward, SIGKILL then resume, corrupt checkpoints."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kcap.errors import KcapError
from kcap.model.spec import ModelSpec
from kcap.store.db import RunStore
from kcap.train import checkpoint
from kcap.train.config import TrainConfig
from kcap.train.loop import train

TINY = {"exposures": 2, "lr": 1e-2, "wd": 0.01, "batch": 8, "seq": 128, "warmup": 3, "device": "cpu",
        "log_every": 2, "eval_every": 5}
SPEC = ModelSpec(layers=1, heads=2, d_model=16)


def weights(run):
    return (run / "model.safetensors").read_bytes()


def test_stream_fast_forward_matches_rendering_everything(small_bios, monkeypatch):
    from kcap.kinds.bios import stream as st
    from kcap.kinds.bios.data import load_bios

    monkeypatch.setattr(st, "CHUNK_PEOPLE", 37)  # several chunks per round, so chunks are skipped too
    ds = load_bios(small_bios)
    for variant in ("multi", "simple"):
        monkeypatch.setitem(ds.meta, "variant", variant)
        s = st.BioStream(ds, 3, seed=1)
        full = np.concatenate(list(s.chunks()))
        assert len(full) == s.total_tokens()
        for start in (0, 1, 37, len(full) // 3, len(full) // 2 + 5, len(full) - 1):
            np.testing.assert_array_equal(np.concatenate(list(s.chunks(start=start))), full[start:])


def test_batches_resume_at_any_step_for_every_dataset_kind(tmp_path):
    """stream.batches(start=k) is the uninterrupted stream's batches from k on, for every kind."""
    from kcap.kinds import load_dataset, make_stream
    from kcap.kinds.biod.data import BioDParams, write_biod
    from kcap.kinds.bios.data import write_bios
    from kcap.kinds.random_strings.data import write_random

    write_bios(tmp_path / "junk", 30, seed=1, junk_fraction=0.6, junk_people=20)
    write_bios(tmp_path / "fresh", 30, seed=1, junk_fraction=0.5, domain_token=True)
    write_biod(tmp_path / "biod", BioDParams(people=20, attributes=2, chunks=2, diversity=5, chunk_len=2,
                                           alphabet=7), seed=1)
    write_random(tmp_path / "rand", 40, 10, 5, seed=1)
    for name in ("junk", "fresh", "biod", "rand"):
        stream = make_stream(load_dataset(tmp_path / name), 3, seed=2)
        full = list(stream.batches(64, 3))
        assert len(full) >= 4, name
        for k in (1, 2, len(full) // 2, len(full) - 1, len(full)):
            resumed = list(stream.batches(64, 3, start=k))
            assert len(resumed) == len(full) - k, (name, k)
            for (xa, ya), (xb, yb) in zip(full[k:], resumed, strict=True):
                np.testing.assert_array_equal(xa, xb)
                np.testing.assert_array_equal(ya, yb)


class Crash(RuntimeError):
    pass


def _crash_at(monkeypatch, at_step):
    from kcap.train.plan import RunPlan

    real = RunPlan.lr_at

    def lr_at(self, step):
        if step == at_step:
            raise Crash(f"injected crash at step {step}")
        return real(self, step)

    monkeypatch.setattr(RunPlan, "lr_at", lr_at)


def test_crash_then_resume_is_bit_identical_and_recorded(small_bios, tmp_path):
    cfg = TrainConfig(**TINY)
    ref = train(small_bios, SPEC, cfg, tmp_path / "ref", progress=False, record=False)
    run = tmp_path / "run"
    with pytest.MonkeyPatch.context() as mp, pytest.raises(Crash):
        _crash_at(mp, 9)
        train(small_bios, SPEC, cfg, run, progress=False, checkpoint_every=4)
    assert [s for s, _ in checkpoint.list_checkpoints(run)] == [8, 4]  # the newest two kept
    with RunStore() as store:
        st = store.run_status(ref["id"])
    assert st.status == "failed" and st.reason.startswith("crash: Crash at ") and st.reason.endswith("injected crash at step 9")
    assert not st.finished and not st.resumable

    s = train(small_bios, SPEC, cfg, run, progress=False, checkpoint_every=4, resume="auto")
    assert s["resumed_at_steps"] == [8] and s["id"] == ref["id"]
    assert weights(run) == weights(tmp_path / "ref")
    # the log is the uninterrupted run's, timing fields aside
    drop = ("tokens_per_s", "elapsed_s", "mfu", "data_wait_s")
    log = [{k: v for k, v in json.loads(line).items() if k not in drop} for line in (run / "metrics.jsonl").read_text().splitlines()]
    ref_log = [{k: v for k, v in json.loads(line).items() if k not in drop}
               for line in (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()]
    assert log == ref_log
    assert not (run / "checkpoints").exists()  # the final weights supersede them
    with RunStore() as store:
        st = store.run_status(s["id"])
        assert st.status == "trained" and st.reason is None and st.attempts == 2
        assert [p["step"] for p in store.points(s["id"])] == [r["step"] for r in ref_log]

    again = train(small_bios, SPEC, cfg, run, progress=False, resume="auto")
    assert again["already_finished"] and weights(run) == weights(tmp_path / "ref")


def test_corrupt_checkpoints_are_skipped_never_loaded(small_bios, tmp_path, capsys):
    cfg = TrainConfig(**TINY)
    train(small_bios, SPEC, cfg, tmp_path / "ref", progress=False, record=False)
    run = tmp_path / "run"
    with pytest.MonkeyPatch.context() as mp, pytest.raises(Crash):
        _crash_at(mp, 10)
        train(small_bios, SPEC, cfg, run, progress=False, record=False, checkpoint_every=3)
    (s9, newest), (s6, older) = checkpoint.list_checkpoints(run)
    assert (s9, s6) == (9, 6)
    # a half-written file and a flipped byte in the tensor data: both must be refused
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="unreadable"):
        checkpoint.read_checkpoint(newest, "any")
    flipped = bytearray(older.read_bytes())
    flipped[-5] ^= 0xFF
    (run / "checkpoints" / "step-000000003.safetensors").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="checksum"):
        checkpoint.read_checkpoint(run / "checkpoints" / "step-000000003.safetensors", json.loads(
            (run / "config.json").read_text())["id"])
    # step 6 stays intact: resume skips the broken step 9 (with a warning) and uses it
    s = train(small_bios, SPEC, cfg, run, progress=False, record=False, checkpoint_every=3, resume="auto")
    assert "skipping checkpoint" in capsys.readouterr().err
    assert s["resumed_at_steps"] == [6]
    assert weights(run) == weights(tmp_path / "ref")


def test_resume_refuses_a_different_config(small_bios, tmp_path):
    run = tmp_path / "run"
    train(small_bios, SPEC, TrainConfig(**TINY), run, progress=False, record=False)
    with pytest.raises(KcapError, match=r"differs in train\.lr"):
        train(small_bios, SPEC, TrainConfig(**{**TINY, "lr": 2e-2}), run, progress=False, resume="auto")
    with pytest.raises(KcapError, match="--resume must be"):
        train(small_bios, SPEC, TrainConfig(**TINY), run, progress=False, resume="sometimes")


def _kcap_train(data, out, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # same threads in every process: same float sums
    return [sys.executable, "-m", "kcap", "train", "--data", str(data), "--out", str(out), "--layers", "1",
            "--heads", "2", "--d-model", "16", "--exposures", "2", "--lr", "1e-2", "--wd", "0.01", "--batch", "8",
            "--seq", "128", "--warmup", "3", "--device", "cpu", "--eval-every", "5", "--quiet", *extra], env


def test_sigkill_then_resume_gives_bit_identical_weights(small_bios, tmp_path):
    """A training process killed with SIGKILL at a random point after its first checkpoint, then
    resumed with --resume auto, ends with the same bytes as an uninterrupted run."""
    cmd, env = _kcap_train(small_bios, tmp_path / "ref")
    env["KCAP_WORKSPACE"] = str(tmp_path / "ref-ws")  # one store holds a run id in one directory
    assert subprocess.run(cmd, env=env, capture_output=True, check=False).returncode == 0
    run = tmp_path / "run"
    cmd, env = _kcap_train(small_bios, run, "--checkpoint-every", "2")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not checkpoint.list_checkpoints(run) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(random.uniform(0, 0.2))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if (run / "summary.json").exists():
        pytest.skip("the run finished before it could be killed (machine too fast for this test's sizes)")
    assert proc.returncode == -signal.SIGKILL and checkpoint.list_checkpoints(run)
    rid = json.loads((run / "config.json").read_text())["id"]
    with RunStore() as store:  # the row still says running, but the process is gone: interrupted, resumable
        st = store.run_status(rid)
    assert st.status == "interrupted" and st.alive is False and st.resumable
    assert st.reason.startswith("interrupted: its process")

    cmd, env = _kcap_train(small_bios, run, "--checkpoint-every", "2", "--resume", "auto")
    p = subprocess.run(cmd, env=env, capture_output=True, check=False, text=True)
    assert p.returncode == 0, p.stderr
    assert "resumed at step" in p.stdout
    assert weights(run) == weights(tmp_path / "ref")
    p = subprocess.run(cmd, env=env, capture_output=True, check=False, text=True)
    assert p.returncode == 0 and "already finished" in p.stdout


def test_provenance_and_tensorboard(small_bios, tmp_path):
    pytest.importorskip("tensorboard", reason="the tb extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    s = train(small_bios, SPEC, TrainConfig(**{**TINY, "exposures": 1}), run, progress=False, record=False,
              tensorboard=True)
    prov = json.loads((run / "config.json").read_text())["provenance"]
    for key in ("kcap_version", "git_commit", "torch", "device", "python", "host", "world_size"):
        assert key in prov
    import torch

    assert prov["torch"] == torch.__version__ and prov["device"] == "cpu" and prov["world_size"] == 1
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    loss = events.Scalars("train/loss")
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e.step for e in loss] == [r["step"] for r in logged] and loss[-1].step == s["steps"]
    assert loss[-1].value == pytest.approx(logged[-1]["loss"], rel=1e-6)


def test_tensorboard_missing_is_one_clear_error(small_bios, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if kcap[tb] were not installed
    with pytest.raises(KcapError, match=r"pip install 'kcap\[tb\]'"):
        train(small_bios, SPEC, TrainConfig(**{**TINY, "exposures": 1}), tmp_path / "r", progress=False,
              tensorboard=True)


def test_throughput_covers_the_whole_run_not_the_time_since_the_last_checkpoint(small_bios, tmp_path):
    s = train(small_bios, SPEC, TrainConfig(**TINY), tmp_path / "r", progress=False, record=False,
              checkpoint_every=2)
    assert s["tokens_per_s"] == pytest.approx(s["tokens"] / s["wall_s"], rel=1e-6)
