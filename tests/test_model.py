import pytest
import torch

from kcap.model.flops import forward_flops_per_token
from kcap.model.gpt import GPT, GPTConfig
from kcap.model.params import PARTS, param_breakdown


def hand_count(V, L, d, r=4):
    attn = L * (3 * d * d + 3 * d + d * d + d)
    mlp = L * (d * r * d + r * d + r * d * d + d)
    norms = (2 * L + 1) * 2 * d
    return {"embedding": V * d, "attention": attn, "mlp": mlp, "norms": norms, "output": 0}


@pytest.mark.parametrize("V,L,H,d", [(100, 1, 1, 8), (2325, 2, 2, 64), (50, 4, 4, 32)])
def test_breakdown_sums_and_matches_hand_count(V, L, H, d):
    model = GPT(GPTConfig(vocab_size=V, n_layer=L, n_head=H, d_model=d))
    b = param_breakdown(model)
    assert sum(b[k] for k in PARTS) == b["total"]
    assert b["total"] == sum(p.numel() for p in model.parameters())  # tied weights counted once
    assert {k: b[k] for k in PARTS} == hand_count(V, L, d)
    used = param_breakdown(model, used_tokens=V - 1)
    assert used["total"] == b["total"] - d and used["embedding"] == (V - 1) * d


def test_forward_shapes_and_causality():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=30, n_layer=2, n_head=2, d_model=16, max_seq=12))
    x = torch.randint(0, 30, (3, 12))
    logits = model(x)
    assert logits.shape == (3, 12, 30)
    x2 = x.clone()
    x2[:, 7:] = (x2[:, 7:] + 1) % 30  # changing the future must not change the past
    assert torch.allclose(model(x2)[:, :7], logits[:, :7], atol=1e-6)
    y = torch.randint(0, 30, (3, 12))
    y[0, :5] = -1
    assert model(x, y).ndim == 0


def test_rotary_is_relative():
    # same tokens at shifted positions: attention scores depend on relative offsets only, so a
    # one-layer model sees the same suffix logits when the prefix is identical padding.
    from kcap.model.gpt import apply_rotary, rotary_tables

    cos, sin = rotary_tables(16, 8, 10000.0)
    q, k = torch.randn(8), torch.randn(8)
    s1 = apply_rotary(q, cos[3], sin[3]) @ apply_rotary(k, cos[1], sin[1])
    s2 = apply_rotary(q, cos[10], sin[10]) @ apply_rotary(k, cos[8], sin[8])
    assert torch.allclose(s1, s2, atol=1e-5)


def test_flops_hand_computed():
    cfg = GPTConfig(vocab_size=10, n_layer=1, n_head=1, d_model=4, mlp_ratio=4)
    # 2*(3*16 + 16 + 2*4*16) = 2*192 = 384; attention 4*seq*d = 4*8*4 = 128; head 2*4*10 = 80
    assert forward_flops_per_token(cfg, seq=8) == 384 + 128 + 80


def test_bad_config():
    with pytest.raises(ValueError):
        GPTConfig(vocab_size=10, n_head=3, d_model=64)
