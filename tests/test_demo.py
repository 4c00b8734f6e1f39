import json
import time

import pytest

from kcap.demo import BIOS, LAW, DemoConfig, DemoPart, run_demo
from kcap.train.config import TrainConfig


def test_demo_pipeline_on_a_tiny_config(tmp_path):
    tiny = TrainConfig(exposures=2, wd=0.01, batch=4, seq=128, warmup=2, device="cpu")
    cfg = DemoConfig(parts=(
        DemoPart("random", {**LAW.data, "people": 20, "random": {"length": 8, "alphabet": 4}}, ((1, 8, 2, 1e-2),), tiny),
        DemoPart("bioS", {**BIOS.data, "people": 60}, ((1, 8, 2, 1e-2), (1, 16, 2, 1e-2)), tiny)))
    results = run_demo(cfg, tmp_path / "demo")
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert [(r["part"], r["name"]) for r in saved] == [(r["part"], r["name"]) for r in results] == \
        [("random", "gpt2-1x8x2"), ("bioS", "gpt2-1x8x2"), ("bioS", "gpt2-1x16x2")]
    for r in saved:
        for key in ("params", "bits", "bits_max", "bits_per_param", "kind", "lr"):
            assert key in r
    assert all(key in saved[-1] for key in ("name_loss", "value_loss", "attributes"))
    assert (tmp_path / "demo" / "capacity.png").stat().st_size > 10_000


@pytest.mark.slow
def test_full_demo_meets_the_bar(tmp_path):
    """The demo as shipped: within 15 minutes on 2 cores; a capacity-bound model stores at least
    1.5 bits/param; the bioS view spans both regimes, its largest model storing >= 80%."""
    t0 = time.perf_counter()
    results = run_demo(DemoConfig(), tmp_path / "demo")
    wall = time.perf_counter() - t0
    assert wall < 15 * 60
    law = [r for r in results if r["part"] == LAW.title]
    bios = [r for r in results if r["part"] == BIOS.title]
    assert max(r["bits_per_param"] for r in law if r["bits_max_per_param"] > 2) >= 1.5
    assert bios[0]["bits_max_per_param"] >= 2 and bios[-1]["bits_max_per_param"] <= 0.5
    assert bios[-1]["fraction_stored"] >= 0.8
    assert all(r["bits"] <= r["bits_max"] for r in results)
