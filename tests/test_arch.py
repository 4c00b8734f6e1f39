"""The architecture family: every arch trains, parameter breakdowns are exact, GQA and MoE behave."""

import json

import pytest
import torch

from kcap.errors import KcapError
from kcap.model.config import GPTConfig
from kcap.model.flops import forward_flops_per_token
from kcap.model.gpt import GPT
from kcap.model.params import PARTS, param_breakdown
from kcap.model.spec import ModelSpec
from kcap.store import rundir
from kcap.train.config import TrainConfig
from kcap.train.loop import train

QUICK = dict(exposures=4, lr=1e-2, wd=0.01, batch=4, seq=128, warmup=3, device="cpu", log_every=2, eval_every=0)

SPECS = {
    "gpt2": ModelSpec(layers=1, heads=2, d_model=32),
    "llama": ModelSpec(layers=1, heads=2, d_model=32, arch="llama"),
    "llama-untied": ModelSpec(layers=1, heads=2, d_model=32, arch="llama", tied=False),
    "mistral": ModelSpec(layers=1, heads=4, d_model=32, arch="mistral"),
    "gpt2-quarter-mlp": ModelSpec(layers=1, heads=2, d_model=32, mlp_ratio=1),
    "gpt2-no-mlp": ModelSpec(layers=1, heads=2, d_model=32, mlp_ratio=0),
    "gpt2-moe": ModelSpec(layers=1, heads=2, d_model=32, experts=4, top_k=1),
    "llama-moe-top2": ModelSpec(layers=1, heads=2, d_model=32, arch="llama", experts=4, top_k=2),
}


@pytest.mark.parametrize("name", SPECS)
def test_every_arch_trains_and_its_loss_falls(name, bios50, tmp_path):
    s = train(bios50, SPECS[name], TrainConfig(**QUICK), tmp_path / "r", progress=False, record=False)
    log = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == s["steps"] and log[-1]["loss"] < log[0]["loss"] - 1.0, (log[0]["loss"], log[-1]["loss"])
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"]["arch"] == SPECS[name].arch and config["derived"]["precision"] == "fp32"


def _cfg(**kw):
    return GPTConfig(**{"vocab_size": 50, "n_layer": 2, "n_head": 4, "d_model": 32, "max_seq": 16, **kw})


def _hand_count(c: GPTConfig) -> dict:
    """Parameters of each part, counted from the architecture's definition."""
    d, L, hd, h = c.d_model, c.n_layer, c.head_dim, c.mlp_hidden
    b = 1 if c.bias else 0
    qkv = d * (c.n_head + 2 * c.kv_heads) * hd + b * (c.n_head + 2 * c.kv_heads) * hd
    attn = qkv + d * d + b * d
    if c.mlp_ratio == 0:
        mlp, expert = 0, 0
    else:
        expert = (3 * d * h if c.gated else 2 * d * h) + b * ((2 if c.gated else 1) * h + d)
        mlp = c.n_expert * expert + d * c.n_expert if c.n_expert else expert
    norm = (2 if c.arch == "gpt2" and c.bias else 1) * d  # LayerNorm weight+bias, RMSNorm weight
    norms = (2 * L + 1) * norm if c.mlp_ratio else (L + 1) * norm
    parts = {"embedding": c.vocab_size * d, "attention": L * attn, "mlp": L * mlp, "norms": norms,
             "output": 0 if c.tie_embeddings else c.vocab_size * d}
    total = sum(parts.values())
    active = total - (L * (c.n_expert - c.top_k) * expert if c.n_expert else 0)
    return {**parts, "total": total, "active": active}


@pytest.mark.parametrize("kw", [
    dict(arch="gpt2"), dict(arch="gpt2", mlp_ratio=1), dict(arch="gpt2", mlp_ratio=0),
    dict(arch="llama", bias=False), dict(arch="llama", bias=False, tie_embeddings=False),
    dict(arch="mistral", bias=False, n_kv_head=1), dict(arch="mistral", bias=False, n_kv_head=2, mlp_ratio=1),
    dict(arch="gpt2", n_expert=8, top_k=1), dict(arch="llama", bias=False, n_expert=4, top_k=2),
])
def test_breakdown_sums_to_total_for_every_arch(kw):
    cfg = _cfg(**kw)
    model = GPT(cfg)
    b = param_breakdown(model)
    assert sum(b[k] for k in PARTS) == b["total"] == sum(p.numel() for p in model.parameters())
    expected = _hand_count(cfg)
    assert {k: b[k] for k in (*PARTS, "total", "active")} == expected
    if cfg.n_expert:
        assert b["active"] < b["total"]
    used = param_breakdown(model, used_tokens=40)
    rows = 1 if cfg.tie_embeddings else 2
    assert used["total"] == b["total"] - rows * 10 * cfg.d_model and used["active"] == b["active"] - rows * 10 * cfg.d_model


def test_flops_count_active_parameters():
    dense, moe = _cfg(), _cfg(n_expert=8, top_k=1)
    # one expert per token: the dense MLP's FLOPs plus the router's 2 x d x E per layer
    assert forward_flops_per_token(moe, 16) == forward_flops_per_token(dense, 16) + 2 * 2 * 32 * 8
    assert forward_flops_per_token(_cfg(n_expert=8, top_k=2), 16) > forward_flops_per_token(moe, 16)
    gqa = _cfg(arch="mistral", bias=False, n_kv_head=1)
    full = _cfg(arch="llama", bias=False)
    assert forward_flops_per_token(full, 16) - forward_flops_per_token(gqa, 16) == 2 * 2 * (2 * 32 * 24)


@pytest.mark.parametrize("kw", [dict(arch="llama", bias=False), dict(arch="mistral", bias=False, n_kv_head=2),
                                dict(n_expert=4, top_k=2), dict(mlp_ratio=0)])
def test_every_arch_is_causal(kw):
    torch.manual_seed(0)
    model = GPT(_cfg(**kw)).eval()
    x = torch.randint(0, 50, (2, 16))
    x2 = x.clone()
    x2[:, 9:] = (x2[:, 9:] + 1) % 50
    assert torch.allclose(model(x2)[:, :9], model(x)[:, :9], atol=1e-5)


def test_grouped_query_attention_equals_repeated_key_value_heads():
    """A GQA model is a full multi-head model whose key/value heads come in identical groups."""
    torch.manual_seed(0)
    gqa = GPT(_cfg(arch="mistral", bias=False, n_kv_head=2)).eval()
    full = GPT(_cfg(arch="llama", bias=False)).eval()
    sd = gqa.state_dict()
    for i in range(2):
        w = sd[f"blocks.{i}.attn.qkv.weight"]
        q, k, v = w.split([32, 16, 16])
        rep = lambda t: t.view(2, 8, 32).repeat_interleave(2, dim=0).reshape(32, 32)
        sd[f"blocks.{i}.attn.qkv.weight"] = torch.cat([q, rep(k), rep(v)])
    full.load_state_dict(sd)
    x = torch.randint(0, 50, (2, 16))
    assert torch.allclose(gqa(x), full(x), atol=1e-5)


def test_moe_routes_every_token_in_eval_and_drops_overflow_in_training():
    from kcap.model.moe import MoE

    torch.manual_seed(0)
    moe = MoE(_cfg(n_expert=4, top_k=1, capacity_factor=0.25))
    x = torch.randn(1, 64, 32)
    moe.eval()
    assert (moe(x).abs().sum(-1) > 0).all()  # nothing dropped when measuring
    moe.train()
    out = moe(x)
    kept = int((out.abs().sum(-1) > 0).sum())
    assert kept <= 4 * 4  # capacity ceil(0.25 x 64 / 4) = 4 per expert
    assert moe.aux_loss is not None and moe.aux_loss >= 1 - 1e-6  # E x sum f_e P_e >= 1, equality when balanced
    model = GPT(_cfg(n_expert=4)).train()
    x, y = torch.randint(0, 50, (2, 16)), torch.randint(0, 50, (2, 16))
    model(x, y).backward()
    assert model.blocks[0].mlp.router.weight.grad.abs().sum() > 0  # top-1 gates still train the router


def test_gpt2_run_ids_are_unchanged_by_the_new_settings(bios50, tmp_path):
    """Settings added with the architecture family are left out of a gpt2 run's id at their defaults."""
    config = train(bios50, SPECS["gpt2"], TrainConfig(**QUICK), tmp_path / "r", dry_run=True)
    old_model = ("vocab_size", "n_layer", "n_head", "d_model", "mlp_ratio", "max_seq", "bias", "rope_base", "arch")
    before = {**config, "model": {k: config["model"][k] for k in old_model},
              "train": {k: v for k, v in config["train"].items() if k != "precision"}}
    assert rundir.run_id(config) == rundir.run_id(before) == config["id"]
    llama = train(bios50, SPECS["llama"], TrainConfig(**QUICK), tmp_path / "r", dry_run=True)
    assert llama["id"] != config["id"]


@pytest.mark.parametrize("kw,needle", [
    (dict(arch="gpt3"), "--arch"), (dict(heads=4, kv_heads=3), "--kv-heads"), (dict(mlp_ratio=-1), "--mlp-ratio"),
    (dict(experts=1), "--experts"), (dict(experts=4, top_k=5), "--top-k"), (dict(experts=4, mlp_ratio=0), "--experts"),
    (dict(experts=4, capacity_factor=0), "--capacity-factor"),
])
def test_bad_model_specs_name_the_option(kw, needle):
    with pytest.raises(KcapError, match=needle):
        ModelSpec(**kw)


def test_mistral_defaults_to_a_quarter_of_the_heads_for_keys_and_values():
    assert ModelSpec(heads=8, d_model=64, arch="mistral").kv_heads == 2
    assert ModelSpec(heads=2, d_model=64, arch="mistral").kv_heads == 1


def test_every_arch_is_built_from_its_table_row():
    from kcap.model.archs import ARCHS
    from kcap.model.mlp import MLPS

    for name, row in ARCHS.items():
        spec = ModelSpec(layers=1, heads=8, d_model=64, arch=name)
        cfg = spec.config(vocab_size=50, seq=16)
        assert cfg.bias == row.bias and cfg.kv_heads == row.default_kv_heads(8)
        model = GPT(cfg)
        norm = torch.nn.LayerNorm if row.norm == "layernorm" else torch.nn.RMSNorm
        assert isinstance(model.ln_f, norm) and isinstance(model.blocks[0].mlp, MLPS[row.mlp])


def test_a_new_arch_is_one_table_row(monkeypatch):
    """A row is all it takes: spec defaults, building, FLOPs and the --arch help follow it."""
    from kcap.model import archs
    from kcap.model.hf import exportable
    from kcap.model.mlp import SwiGLU

    row = archs.Arch("llama-ln", "LayerNorm, SwiGLU, GQA by 2", norm="layernorm", mlp="swiglu", bias=False,
                     kv_group=2)
    monkeypatch.setitem(archs.ARCHS, row.name, row)
    spec = ModelSpec(layers=1, heads=4, d_model=32, arch="llama-ln")
    assert spec.kv_heads == 2
    cfg = spec.config(vocab_size=50, seq=16)
    model = GPT(cfg)
    assert isinstance(model.ln_f, torch.nn.LayerNorm) and model.ln_f.bias is None
    assert isinstance(model.blocks[0].mlp, SwiGLU) and cfg.gated
    dense = GPTConfig(**{**cfg.to_dict(), "arch": "gpt2"})
    assert forward_flops_per_token(cfg, 16) != forward_flops_per_token(dense, 16)  # gated: 3 matrices
    assert model(torch.randint(0, 50, (1, 16))).shape == (1, 16, 50)
    assert "no Hugging Face class" in exportable(cfg)
    assert "llama-ln (LayerNorm, SwiGLU, GQA by 2)" in archs.arch_help()


def test_the_sweep_and_the_cli_offer_the_tables_archs():
    from kcap.model.archs import ARCHS, arch_help
    from kcap.sweep.schema import SCHEMA

    assert tuple(SCHEMA["model"]["arch"].choices) == tuple(ARCHS)
    assert all(f"{name} (" in arch_help() for name in ARCHS)
