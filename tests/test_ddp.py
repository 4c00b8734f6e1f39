"""One run over two processes (torchrun, DDP with gloo on CPU) follows the single-process run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed

from kcap.measure.evaluate import load_run_model

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


def _args(data, out, *extra, exposures=2):
    return ["train", "--data", str(data), "--out", str(out), "--layers", "1", "--heads", "2", "--d-model", "16",
            "--exposures", str(exposures), "--lr", "1e-2", "--wd", "0.01", "--batch", "8", "--seq", "128",
            "--warmup", "3", "--device", "cpu", "--eval-every", "0", "--quiet", *extra]


def test_two_process_ddp_follows_single_process_loss_curve(small_bios, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    p = subprocess.run([sys.executable, "-m", "kcap", *_args(small_bios, single, "--checkpoint-every", "0")],
                       env=env, capture_output=True, check=False, text=True)
    assert p.returncode == 0, p.stderr
    # grad_accum 4 over 2 ranks: the short final batch leaves a rank empty micro-batches to pad
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        "-m", "kcap.cli", *_args(small_bios, ddp, "--grad-accum", "4", "--checkpoint-every", "5")],
                       env=env, capture_output=True, check=False, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("run ") == 1  # rank 0 alone reports (and writes)
    a = [json.loads(line) for line in (single / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (ddp / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in a] == [r["step"] for r in b] and [r["tokens"] for r in a] == [r["tokens"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert rb["loss"] == pytest.approx(ra["loss"], rel=1e-4), ra["step"]
    ca, ma = load_run_model(single)
    cb, mb = load_run_model(ddp)
    assert ca["train"]["batch"] == cb["train"]["batch"] == 8  # the same global batch
    assert cb["provenance"]["world_size"] == 2 and not (ddp / "checkpoints").exists()
    for (k, wa), wb in zip(ma.state_dict().items(), mb.state_dict().values(), strict=True):
        assert (wa - wb).abs().max() < 1e-4, k


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="finds torchrun's workers through /proc")
def test_ddp_run_killed_then_resumed_is_bit_identical(small_bios, tmp_path):
    """SIGKILL every process of a 2-rank run after a checkpoint; resumed, it ends on the bytes of
    the uninterrupted run."""
    import signal
    import time

    from kcap.train import checkpoint

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                "-m", "kcap.cli"]
    ref, run = tmp_path / "ref", tmp_path / "run"
    extra = ("--checkpoint-every", "3")
    # the reference in a store of its own: one store holds a run id in one directory
    p = subprocess.run([*torchrun, *_args(small_bios, ref, *extra, exposures=4)],
                       env={**env, "KCAP_WORKSPACE": str(tmp_path / "ref-ws")}, capture_output=True, check=False)
    assert p.returncode == 0
    agent = subprocess.Popen([*torchrun, *_args(small_bios, run, *extra, exposures=4)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not checkpoint.list_checkpoints(run) and time.time() < deadline:
        time.sleep(0.01)
    workers = [int(p) for t in os.listdir(f"/proc/{agent.pid}/task")
               for p in Path(f"/proc/{agent.pid}/task/{t}/children").read_text().split()]
    for pid in [*workers, agent.pid]:
        os.kill(pid, signal.SIGKILL)
    agent.wait()
    if (run / "summary.json").exists():
        pytest.skip("the run finished before it could be killed")
    p = subprocess.run([*torchrun, *_args(small_bios, run, *extra, "--resume", "auto", exposures=4)], env=env,
                       capture_output=True, check=False, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resumed at step" in p.stdout
    assert (run / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()
