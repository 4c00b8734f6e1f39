"""Runs trained before the redesign into dataset kinds, the arch table and declared options (issue
12) still read, measure and retrain exactly as they did. tests/data/pre_redesign holds one tiny
run per kind, trained and measured by kcap at commit a6b82be: its dataset, config.json,
model.safetensors and measure.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from kcap.measure.evaluate import measure_run
from kcap.model.spec import ModelSpec
from kcap.train.config import TrainConfig
from kcap.train.loop import train

FIXTURES = Path(__file__).parent / "data" / "pre_redesign"
KINDS = ("bios", "biod", "random")


@pytest.fixture
def one_thread():
    """CPU training is bit-identical for a given thread count; the fixtures were trained with one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("kind", KINDS)
def test_an_old_run_measures_as_it_did(kind, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / kind / "run", run)
    old = json.loads((run / "measure.json").read_text())
    new = measure_run(run, device="cpu", record=False, data=FIXTURES / kind / "data", context="none")
    assert new["bits"] == pytest.approx(old["bits"], rel=1e-9, abs=1e-6)
    for term, bits in old["bits_terms"].items():
        assert new["bits_terms"][term] == pytest.approx(bits, rel=1e-9, abs=1e-6), term
    assert new["params_breakdown"] == old["params_breakdown"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_old_config_trains_to_the_same_id_and_bytes(kind, tmp_path, one_thread):
    config = json.loads((FIXTURES / kind / "run" / "config.json").read_text())
    m = config["model"]
    spec = ModelSpec(layers=m["n_layer"], heads=m["n_head"], d_model=m["d_model"], arch=m["arch"])
    s = train(FIXTURES / kind / "data", spec, TrainConfig.from_dict(config["train"]), tmp_path / "run",
              progress=False, record=False)
    assert s["id"] == config["id"]
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == \
        (FIXTURES / kind / "run" / "model.safetensors").read_bytes()
