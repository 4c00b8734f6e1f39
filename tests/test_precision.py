"""Training precision: recorded in the run, fp16 only with CUDA (loss scaling), bf16 autocast works."""

import json

import pytest
import torch
from test_cli import assert_one_line_error, kcap

from kcap.errors import KcapError
from kcap.model.spec import ModelSpec
from kcap.train.config import TrainConfig
from kcap.train.loop import train
from kcap.train.precision import grad_scaler, resolve_precision

QUICK = dict(exposures=2, lr=1e-2, wd=0.01, batch=4, seq=128, warmup=2, device="cpu", log_every=2, eval_every=0)


def test_resolution():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) == "fp32" and resolve_precision("auto", cuda) == "bf16"
    assert resolve_precision("fp16", cuda) == "fp16" and resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(KcapError, match="fp16 needs a CUDA"):
        resolve_precision("fp16", cpu)
    with pytest.raises(KcapError, match="precision"):
        TrainConfig(precision="fp8")
    assert not grad_scaler(cpu, "fp32").is_enabled()


def test_bf16_autocast_trains_on_cpu_and_is_recorded(bios50, tmp_path):
    spec = ModelSpec(layers=1, heads=2, d_model=16, arch="llama")
    s = train(bios50, spec, TrainConfig(**QUICK, precision="bf16"), tmp_path / "bf16", progress=False, record=False)
    config = json.loads((tmp_path / "bf16" / "config.json").read_text())
    assert config["train"]["precision"] == "bf16" and config["derived"]["precision"] == "bf16"
    log = [json.loads(line) for line in (tmp_path / "bf16" / "metrics.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < log[0]["loss"]
    fp32 = train(bios50, spec, TrainConfig(**QUICK), tmp_path / "fp32", dry_run=True)
    assert fp32["derived"]["precision"] == "fp32" and fp32["id"] != s["id"]


def test_fp16_without_cuda_is_a_one_line_error(bios50, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert_one_line_error(kcap("train", "--data", bios50, "--out", tmp_path / "r", "--precision", "fp16",
                               "--seq", 128), "--precision fp16")
    assert not (tmp_path / "r").exists()


def test_cli_arch_options(bios50, tmp_path):
    assert_one_line_error(kcap("train", "--data", bios50, "--out", tmp_path / "r", "--arch", "gpt3"), "--arch")
    assert_one_line_error(kcap("train", "--data", bios50, "--out", tmp_path / "r", "--heads", 4, "--kv-heads", 3),
                          "--kv-heads")
    p = kcap("train", "--data", bios50, "--out", tmp_path / "r", "--arch", "mistral", "--heads", 4, "--experts", 4,
             "--top-k", 2, "--mlp-ratio", 1, "--untied", "--seq", 128, "--dry-run")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["params"]["active"] < r["params"]["total"] and r["params"]["output"] > 0
