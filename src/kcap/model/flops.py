"""Training FLOPs per token of the model family, and model FLOPs utilization (MFU).

Matmuls cost 2 FLOPs per multiply-add. Per token and layer, the forward pass spends 2 x the
weights a token passes through (qkv, proj, the MLP; for a mixture of experts the router and top-k
experts only: *active* parameters), plus attention scores QK^T and the weighted sum AV, each
2 x n_ctx x d_model (SCIENCE.md §5). The output layer adds 2 x d_model x vocab. The backward pass
costs twice the forward. Norms, biases, softmax and the embedding lookup are ignored.
"""

from __future__ import annotations

from kcap.model.config import GPTConfig


def forward_flops_per_token(cfg: GPTConfig, seq: int) -> int:
    if not isinstance(cfg, GPTConfig):  # a Hugging Face model estimates its own (model/hf.py)
        return cfg.forward_flops_per_token(seq)
    d, L = cfg.d_model, cfg.n_layer
    attn = d * (cfg.n_head + 2 * cfg.kv_heads) * cfg.head_dim + d * d
    mlp = (3 if cfg.gated else 2) * cfg.mlp_hidden * d
    if cfg.n_expert:
        mlp = cfg.top_k * mlp + d * cfg.n_expert
    per_layer = 2 * (attn + mlp) + 2 * 2 * seq * d
    return L * per_layer + 2 * d * cfg.vocab_size


def train_flops_per_token(cfg: GPTConfig, seq: int) -> int:
    return 3 * forward_flops_per_token(cfg, seq)


# Dense bf16 peak of common accelerators, for MFU. CPU has no meaningful entry.
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def peak_flops(device_name: str) -> float | None:
    for key, value in PEAK_FLOPS.items():
        if key in device_name:
            return value
    return None
