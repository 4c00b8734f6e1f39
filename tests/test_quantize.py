"""Quantization after training: the rounding itself, and bits measured on a trained tiny model."""

import json

import pytest
import torch
from conftest import record_in_store

from kcap.errors import KcapError
from kcap.measure.evaluate import measure_run
from kcap.measure.quantize import quantize_model, quantize_tensor
from kcap.model.gpt import GPT, GPTConfig
from kcap.store.db import RunStore


@pytest.mark.parametrize("bits,group", [(8, None), (4, None), (4, 8), (8, 16)])
def test_round_to_nearest_symmetric(bits, group):
    torch.manual_seed(0)
    w = torch.randn(6, 32)
    q = quantize_tensor(w, bits, group)
    qmax = 2 ** (bits - 1) - 1
    g = group or 32
    blocks, qblocks = w.view(6, -1, g), q.view(6, -1, g)
    scale = blocks.abs().amax(-1, keepdim=True) / qmax
    levels = qblocks / scale
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # on the integer grid
    assert levels.abs().max() <= qmax + 1e-4
    assert ((qblocks - blocks).abs() <= scale / 2 + 1e-6).all()  # nearest grid point
    assert torch.allclose(qblocks.abs().amax(-1), blocks.abs().amax(-1))  # symmetric: the max is kept exactly


def test_a_width_the_group_size_does_not_divide_ends_in_a_shorter_group():
    """SwiGLU widths like round(8d/3) = 85: groups of 32, 32 and a last one of 21 columns."""
    torch.manual_seed(0)
    w = torch.randn(4, 85)
    q = quantize_tensor(w, 4, 32)
    assert q.shape == w.shape
    for lo, hi in ((0, 32), (32, 64), (64, 85)):
        assert torch.equal(q[:, lo:hi], quantize_tensor(w[:, lo:hi].contiguous(), 4, None))


def test_quantize_model_touches_matrices_only_and_keeps_ties():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40, n_layer=1, n_head=2, d_model=16))
    q = quantize_model(model, "int4")
    assert q.lm_head.weight is q.wte.weight
    for (name, p), (_, p0) in zip(q.named_parameters(), model.named_parameters()):
        assert torch.equal(p, p0) == (p.dim() < 2), name
    with pytest.raises(KcapError, match="--group-size"):
        quantize_model(model, "int4", group_size=0)
    with pytest.raises(KcapError, match="--quantize"):
        quantize_model(model, "int3")


def test_int8_keeps_the_bits_and_int4_is_reported_beside_full_precision(trained_run):
    config = record_in_store(trained_run)
    full = measure_run(trained_run)
    assert full["fraction_stored"] > 0.2  # the model really stores knowledge
    int8 = measure_run(trained_run, quantize="int8")
    int4 = measure_run(trained_run, quantize="int4")
    int4g = measure_run(trained_run, quantize="int4", group_size=8)
    assert int8["bits"] == pytest.approx(full["bits"], rel=0.02)
    assert int4["bits"] < full["bits"] and int4["params"] == full["params"]
    # stored beside the full-precision measurement, in the run directory and in the store
    assert json.loads((trained_run / "measure-int4-g8.json").read_text())["bits"] == int4g["bits"]
    assert json.loads((trained_run / "measure.json").read_text())["bits"] == full["bits"]
    with RunStore() as store:
        (row,) = store.runs()
        assert row["bits"] == full["bits"]
        assert set(store.quantized(config["id"])) == {"int8", "int4", "int4-g8"}
        assert row["quantized"]["int4"]["bits"] == int4["bits"]


def test_cli_quantized_measurement(trained_run):
    from test_cli import assert_one_line_error, kcap

    record_in_store(trained_run)
    p = kcap("measure", trained_run, "--quantize", "int4", "--group-size", 16, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["quantization"] == {"method": "int4", "group_size": 16, "name": "int4-g16"}
    assert_one_line_error(kcap("measure", trained_run, "--group-size", 16), "--group-size")
    assert_one_line_error(kcap("measure", trained_run, "--quantize", "int2"), "--quantize")


def test_store_migrates_a_version_2_store_to_hold_quantized_results(tmp_path):
    import sqlite3

    from kcap.store import db

    path = tmp_path / "v2.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(db._MIGRATIONS[0] + db._MIGRATIONS[1] + "PRAGMA user_version=2;")
    conn.close()
    with RunStore(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
        assert store.quantized("nothing") == {}
