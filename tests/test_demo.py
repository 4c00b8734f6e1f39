import json
import time

import pytest

from kcap.demo import DemoConfig, run_demo
from kcap.train.config import TrainConfig


def test_demo_pipeline_on_a_tiny_config(tmp_path):
    cfg = DemoConfig(people=60, exposures=2, sizes=((1, 8, 2), (1, 16, 2)),
                     train=TrainConfig(lr=1e-2, wd=0.01, batch=4, seq=128, warmup=2, device="cpu"))
    results = run_demo(cfg, tmp_path / "demo")
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert [r["name"] for r in saved] == [r["name"] for r in results] == ["gpt2-1x8x2", "gpt2-1x16x2"]
    for r in saved:
        for key in ("params", "bits", "bits_max", "bits_per_param", "name_loss", "value_loss", "attributes"):
            assert key in r
    assert (tmp_path / "demo" / "capacity.png").stat().st_size > 10_000


@pytest.mark.slow
def test_full_demo_meets_the_bar(tmp_path):
    """The demo as shipped: within 15 minutes on 2 cores, both regimes, largest >= 80% stored."""
    t0 = time.perf_counter()
    results = run_demo(DemoConfig(), tmp_path / "demo")
    wall = time.perf_counter() - t0
    assert wall < 15 * 60
    assert len(results) >= 4
    assert results[0]["bits_max_per_param"] >= 2 and results[-1]["bits_max_per_param"] <= 0.5
    assert results[-1]["fraction_stored"] >= 0.8
    assert all(r["bits"] <= r["bits_max"] for r in results)
