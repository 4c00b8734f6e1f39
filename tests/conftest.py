import os

import pytest


@pytest.fixture(autouse=True)
def _workspace(tmp_path, monkeypatch):
    """Every test gets its own run store."""
    monkeypatch.setenv("KCAP_WORKSPACE", str(tmp_path / "ws"))


@pytest.fixture(scope="session")
def small_bios(tmp_path_factory):
    from kcap.kinds.bios.data import write_bios

    path = tmp_path_factory.mktemp("data") / "bios200"
    write_bios(path, 200, seed=3)
    return path


os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per test worker: pytest -n runs one per core


@pytest.fixture(scope="session")
def bios50(tmp_path_factory):
    from kcap.kinds.bios.data import write_bios

    path = tmp_path_factory.mktemp("data") / "bios50"
    write_bios(path, 50, seed=1)
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A tiny gpt2 trained until it stores real knowledge (~1/3 of bits_max: 80 exposures, since the
    vocabulary holds every pool name and knowing nothing scores below 0), not in any store."""
    from kcap.kinds.bios.data import write_bios
    from kcap.model.spec import ModelSpec
    from kcap.train.config import TrainConfig
    from kcap.train.loop import train

    root = tmp_path_factory.mktemp("trained")
    write_bios(root / "data", 30, seed=3)
    cfg = TrainConfig(exposures=80, lr=1e-2, wd=0.01, batch=8, seq=128, warmup=10, device="cpu", eval_every=0)
    train(root / "data", ModelSpec(layers=1, heads=2, d_model=32), cfg, root / "run", progress=False, record=False)
    return root / "run"


def record_in_store(run):
    """Put a run trained with record=False into the current test's store."""
    from kcap.store import rundir
    from kcap.store.db import RunStore

    config = rundir.read_config(run)
    with RunStore() as store:
        store.record_trained(config["id"], run, config, rundir.read_json(run / rundir.SUMMARY, "summary"))
    return config
