import os

import pytest


@pytest.fixture(autouse=True)
def _workspace(tmp_path, monkeypatch):
    """Every test gets its own run store."""
    monkeypatch.setenv("KCAP_WORKSPACE", str(tmp_path / "ws"))


@pytest.fixture(scope="session")
def small_bios(tmp_path_factory):
    from kcap.knowledge.bios import write_bios

    path = tmp_path_factory.mktemp("data") / "bios200"
    write_bios(path, 200, seed=3)
    return path


os.environ.setdefault("OMP_NUM_THREADS", "2")
