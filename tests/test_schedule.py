import numpy as np
import pytest
import torch

from kcap.laws.passes import exposures_to_reach, fit_passes
from kcap.train.config import TrainConfig, paper_defaults
from kcap.train.schedule import lr_at


def test_warmup_then_cosine_to_a_tenth():
    total, warm, peak = 1000, 100, 1e-3
    lrs = [lr_at(s, total, peak, warm) for s in range(total)]
    assert lrs[0] == pytest.approx(peak / warm) and lrs[warm - 1] == pytest.approx(peak)
    assert lrs[warm] == pytest.approx(peak) and lrs[-1] == pytest.approx(0.1 * peak)
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1:]))  # monotone decay


@pytest.mark.parametrize("n,e,expected", [(10_000, 1000, (1e-3, 0.02, 24)), (100_000, 1000, (1e-3, 0.02, 192)),
                                          (1_000_000, 1000, (5e-4, 0.01, 192)), (10_000_000, 1000, (3e-4, 0.001, 1536)),
                                          (100_000, 100, (1e-3, 0.01, 192)), (1_000_000, 100, (5e-4, 0.01, 192))])
def test_paper_defaults(n, e, expected):
    d = paper_defaults(n, e)
    assert (d["lr"], d["wd"], d["batch"]) == expected
    cfg = TrainConfig(exposures=e).resolved(n)
    assert (cfg.lr, cfg.wd, cfg.batch) == expected


def test_user_values_win_over_paper_defaults():
    cfg = TrainConfig(exposures=100, lr=3e-3, batch=8).resolved(1000)
    assert cfg.lr == 3e-3 and cfg.batch == 8 and cfg.wd == 0.01


def test_exposures_to_reach_interpolates():
    e = np.array([0, 10, 20, 30, 40.0])
    bits = np.array([0, 10, 50, 90, 100.0])
    assert exposures_to_reach(e, bits, 0.9) == pytest.approx(30.0)
    assert exposures_to_reach(e, bits, 0.7) == pytest.approx(25.0)
    assert exposures_to_reach(e, -bits, 0.9) is None


def test_passes_power_law():
    p = np.array([1e4, 1e5, 1e6])
    fit = fit_passes(p, 1000 * p**-0.5)
    assert fit["slope"] == pytest.approx(-0.5) and fit["coefficient"] == pytest.approx(1000)


def test_wsd_holds_the_peak_then_decays_linearly_over_the_last_fraction():
    from kcap.train.schedule import decay_start

    total, warm, peak = 1000, 100, 1e-3
    lrs = [lr_at(s, total, peak, warm, 0.1, "wsd", 0.2) for s in range(total)]
    assert decay_start(total, 0.2) == 800
    assert lrs[warm - 1] == pytest.approx(peak) and lrs[799] == pytest.approx(peak)  # stable to the decay
    assert lrs[800] < peak and lrs[899] == pytest.approx(peak * (1 - 0.9 * 100 / 200))
    assert lrs[-1] == pytest.approx(0.1 * peak)
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1:]))
    # the stable phase does not depend on the horizon: a longer run agrees up to the shorter one's decay
    longer = [lr_at(s, 5000, peak, warm, 0.1, "wsd", 0.2) for s in range(800)]
    assert longer == lrs[:800]


def test_constant_is_the_peak_after_warmup_and_cosine_is_unchanged():
    assert [lr_at(s, 100, 1.0, 10, 0.1, "constant") for s in (9, 10, 50, 99)] == [1.0] * 4
    assert lr_at(55, 100, 1.0, 10) == lr_at(55, 100, 1.0, 10, 0.1, "cosine", 0.5)
    with pytest.raises(ValueError):
        lr_at(50, 100, 1.0, 10, 0.1, "linear")


def test_schedule_enters_the_run_id_only_when_not_the_default(small_bios):
    from kcap.model.spec import ModelSpec
    from kcap.train.plan import plan_run

    def run_id(**kw):
        cfg = TrainConfig(exposures=2, lr=1e-3, batch=4, seq=256, device="cpu", **kw)
        return plan_run(small_bios, ModelSpec(layers=1, heads=1, d_model=16), cfg).id

    base = run_id()
    assert run_id(schedule="cosine", decay_fraction=0.2) == base
    assert len({base, run_id(schedule="wsd"), run_id(schedule="wsd", decay_fraction=0.1), run_id(schedule="constant")}) == 4


def test_a_wsd_horizon_branched_from_a_longer_runs_stable_phase_equals_the_run_planned_to_it(tmp_path, bios50):
    """One long wsd run; a shorter horizon started from its stable-phase checkpoint ends with the
    weights of that horizon trained from scratch (CPU), and takes the same id."""
    from safetensors.torch import load_file

    from kcap.model.spec import ModelSpec
    from kcap.train import checkpoint
    from kcap.train.loop import train

    spec = ModelSpec(layers=1, heads=2, d_model=16)

    def cfg(exposures):
        return TrainConfig(exposures=exposures, lr=1e-2, wd=0.01, batch=4, seq=128, warmup=5, device="cpu",
                           eval_every=0, schedule="wsd", decay_fraction=0.25)

    long = train(bios50, spec, cfg(8), tmp_path / "long", progress=False, record=False, checkpoint_every=2)
    ref = train(bios50, spec, cfg(4), tmp_path / "ref", progress=False, record=False)
    short_steps = ref["steps"]
    k = max(s for s, _ in checkpoint.list_checkpoints(tmp_path / "long") if s <= short_steps - round(0.25 * short_steps))
    assert 0 < k < short_steps < long["steps"]
    ck = dict((s, p) for s, p in checkpoint.list_checkpoints(tmp_path / "long"))[k]
    br = train(bios50, spec, cfg(4), tmp_path / "branch", progress=False, record=False, branch_from=ck)
    assert br["id"] == ref["id"]
    a, b = load_file(tmp_path / "ref" / "model.safetensors"), load_file(tmp_path / "branch" / "model.safetensors")
    assert all(torch.allclose(a[n], b[n], atol=1e-6, rtol=0) for n in a)
    kept = [s for s, _ in checkpoint.list_checkpoints(tmp_path / "long")]
    assert kept and max(kept) <= long["steps"] - round(0.25 * long["steps"])  # the stable phase only


def test_branching_is_refused_when_the_learning_rates_differ(tmp_path, bios50):
    from kcap.errors import KcapError
    from kcap.model.spec import ModelSpec
    from kcap.train import checkpoint
    from kcap.train.loop import train

    spec = ModelSpec(layers=1, heads=2, d_model=16)
    base = dict(lr=1e-2, wd=0.01, batch=4, seq=128, warmup=5, device="cpu", eval_every=0)
    train(bios50, spec, TrainConfig(exposures=6, **base), tmp_path / "cos", progress=False, record=False,
          checkpoint_every=2)
    assert not checkpoint.list_checkpoints(tmp_path / "cos")  # cosine keeps none when done
    train(bios50, spec, TrainConfig(exposures=6, schedule="wsd", **base), tmp_path / "long", progress=False,
          record=False, checkpoint_every=2)
    late = dict(checkpoint.list_checkpoints(tmp_path / "long"))[10]  # after a 2-exposure run's decay starts (9)
    with pytest.raises(KcapError, match="at step 9 that run's learning rate was"):
        train(bios50, spec, TrainConfig(exposures=2, schedule="wsd", **base), tmp_path / "b", progress=False,
              record=False, branch_from=late)
    with pytest.raises(KcapError, match="differs from this one in train.lr"):
        train(bios50, spec, TrainConfig(exposures=2, schedule="wsd", **{**base, "lr": 2e-2}), tmp_path / "c",
              progress=False, record=False, branch_from=late)
