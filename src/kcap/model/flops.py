"""Training FLOPs per token of the GPT model, and model FLOPs utilization (MFU).

Matmuls cost 2 FLOPs per multiply-add. Per token and layer, the forward pass spends
2 x (weights of qkv, proj, fc, mlp proj) plus attention scores QK^T and the weighted sum AV,
each 2 x n_ctx x d_model (SCIENCE.md §5). The output layer adds 2 x d_model x vocab. The backward
pass costs twice the forward. Norms, biases, softmax and the embedding lookup are ignored.
"""

from __future__ import annotations

from kcap.model.gpt import GPTConfig


def forward_flops_per_token(cfg: GPTConfig, seq: int) -> int:
    d, L = cfg.d_model, cfg.n_layer
    per_layer = 2 * (3 * d * d + d * d + 2 * cfg.mlp_ratio * d * d) + 2 * 2 * seq * d
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
