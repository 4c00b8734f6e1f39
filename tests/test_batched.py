"""K models trained as one batched computation equal K separate trainings."""

import json

import pytest
from safetensors.torch import load_file

from kcap.errors import KcapError
from kcap.model.spec import ModelSpec
from kcap.store.db import RunStore
from kcap.train.batched import RunRequest, batch_key, train_many
from kcap.train.config import TrainConfig
from kcap.train.loop import train

TINY = {"exposures": 1, "lr": 1e-2, "wd": 0.01, "batch": 8, "seq": 128, "warmup": 3, "device": "cpu",
        "log_every": 4, "eval_every": 10}
SPEC = ModelSpec(layers=1, heads=2, d_model=16)


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_batched_equals_separate_training(small_bios, tmp_path):
    # different seeds (init and data order), learning rates, weight decay and lengths of training
    cfgs = [TrainConfig(**TINY), TrainConfig(**{**TINY, "seed": 1, "lr": 3e-3, "wd": 0.1, "exposures": 2})]
    alone = [train(small_bios, SPEC, c, tmp_path / f"alone{k}", progress=False, record=False)
             for k, c in enumerate(cfgs)]
    many = train_many([RunRequest(small_bios, SPEC, c, tmp_path / f"many{k}") for k, c in enumerate(cfgs)],
                      progress=False)
    assert alone[0]["steps"] < alone[1]["steps"]  # the shorter run stops while the other goes on
    for k, (a, m) in enumerate(zip(alone, many)):
        assert m["id"] == a["id"] and m["steps"] == a["steps"] and m["tokens"] == a["tokens"]
        assert m["final_loss"] == pytest.approx(a["final_loss"], rel=1e-5)
        assert m["final_heldout_loss"] == pytest.approx(a["final_heldout_loss"], rel=1e-5)
        wa = load_file(tmp_path / f"alone{k}" / "model.safetensors")
        wm = load_file(tmp_path / f"many{k}" / "model.safetensors")
        assert sorted(wa) == sorted(wm)
        for name in wa:
            assert (wa[name] - wm[name]).abs().max() < 1e-5, name
        la, lm = _metrics(tmp_path / f"alone{k}"), _metrics(tmp_path / f"many{k}")
        assert [r["step"] for r in la] == [r["step"] for r in lm]
        assert [r["loss"] for r in lm] == pytest.approx([r["loss"] for r in la], rel=1e-5)
        ca, cm = (json.loads((tmp_path / f"{w}{k}" / "config.json").read_text()) for w in ("alone", "many"))
        for c in (ca, cm):
            del c["provenance"]["started"]  # when it ran, the one field that may differ
        assert cm == ca
        assert m["batched_with"] == 2
    with RunStore() as store:  # recorded like single runs
        assert {r["id"] for r in store.runs()} == {m["id"] for m in many}


def test_incompatible_runs_are_refused(small_bios, tmp_path):
    cfg = TrainConfig(**TINY)
    wide = ModelSpec(layers=1, heads=2, d_model=32)
    with pytest.raises(KcapError, match="model"):
        train_many([RunRequest(small_bios, SPEC, cfg, tmp_path / "a"), RunRequest(small_bios, wide, cfg, tmp_path / "b")])
    other_batch = TrainConfig(**{**TINY, "batch": 4})
    with pytest.raises(KcapError, match="batch"):
        train_many([RunRequest(small_bios, SPEC, cfg, tmp_path / "a"),
                    RunRequest(small_bios, SPEC, other_batch, tmp_path / "b")])
    with pytest.raises(KcapError, match="grad_accum"):
        accum = TrainConfig(**{**TINY, "grad_accum": 2})
        train_many([RunRequest(small_bios, SPEC, accum, tmp_path / "a")])
    assert not (tmp_path / "a").exists()


def test_batch_key_groups_by_shape_not_by_recipe(small_bios, tmp_path):
    def key(spec, **kw):
        return batch_key(train(small_bios, spec, TrainConfig(**{**TINY, **kw}), tmp_path / "x", dry_run=True))

    assert key(SPEC) == key(SPEC, seed=5, lr=1e-3, wd=0.0, exposures=3, warmup=0)
    assert key(SPEC) != key(ModelSpec(layers=2, heads=2, d_model=16))
    assert key(SPEC) != key(SPEC, seq=256)


def test_a_diverging_model_stops_alone(small_bios, tmp_path):
    cfgs = [TrainConfig(**TINY), TrainConfig(**{**TINY, "lr": 1e6, "seed": 1})]
    ok, bad = train_many([RunRequest(small_bios, SPEC, c, tmp_path / f"r{k}") for k, c in enumerate(cfgs)],
                         progress=False)
    assert "error" not in ok and (tmp_path / "r0" / "model.safetensors").is_file()
    assert "diverged" in bad["error"] and not (tmp_path / "r1" / "model.safetensors").exists()
    with RunStore() as store:
        assert [r["id"] for r in store.runs(measured_only=False) if r["status"] == "trained"] == [ok["id"]]
        assert store.run_status(bad["id"]).status == "failed"  # as a single run's failure is recorded


def test_a_diverged_batched_model_is_failed_in_the_store(small_bios, tmp_path):
    cfgs = [TrainConfig(**TINY), TrainConfig(**{**TINY, "lr": 1e30})]
    out = train_many([RunRequest(small_bios, SPEC, c, tmp_path / f"m{k}") for k, c in enumerate(cfgs)],
                     progress=False)
    assert "error" in out[1] and "error" not in out[0]
    with RunStore() as store:
        assert store.run_status(out[0]["id"]).status == "trained"
        st = store.run_status(out[1]["id"])
        assert st.status == "failed" and st.reason.startswith("nan: training diverged")
