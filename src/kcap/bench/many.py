"""``kcap bench many``: K models of one shape trained at once vs one model trained alone.

The batched step (``kcap.train.batched.BatchedStep``: K stacked models, one vmapped forward and
backward, per-model clipping and AdamW) against kcap's single-model step (the one the training
loop runs, compiled as ``--compile`` says), same shape and batch per model, same process, ABBA
rounds as in ``kcap bench train``. ``ratio`` is aggregate tokens/s of the K models over tokens/s
of the one: how much more a card trains when it holds K tiny models instead of one.
"""

from __future__ import annotations

import statistics

import numpy as np
import torch

from kcap.bench.abba import abba, timed
from kcap.device import device_name, resolve_device
from kcap.errors import KcapError
from kcap.model.flops import peak_flops, train_flops_per_token
from kcap.model.gpt import GPT, GPTConfig
from kcap.train.batched import BatchedStep
from kcap.train.compile import compile_model
from kcap.train.config import TrainConfig
from kcap.train.step import make_optimizer, make_step


def bench_many(models: int = 4, layers: int = 2, heads: int = 2, d_model: int = 64, vocab: int = 2325,
               batch: int = 8, seq: int = 256, steps: int = 20, rounds: int = 10, device: str = "auto",
               compile: str = "auto", warmup: int = 2) -> dict:
    if models < 1 or steps < 1 or rounds < 1:
        raise KcapError(f"--models ({models}), --steps ({steps}) and --rounds ({rounds}) must be at least 1")
    dev = resolve_device(device)
    cfg = TrainConfig(lr=1e-3, wd=0.01, batch=batch, seq=seq, device=str(dev), compile=compile)
    model_cfg = GPTConfig(vocab_size=vocab, n_layer=layers, n_head=heads, d_model=d_model, max_seq=seq)
    rng = np.random.default_rng(0)
    x_np = rng.integers(0, vocab, (batch, seq), dtype=np.int32)
    y_np = rng.integers(0, vocab, (batch, seq), dtype=np.int32)
    torch.manual_seed(0)
    one = GPT(model_cfg).to(dev)
    single = make_step(one, compile_model(one, compile, dev), make_optimizer(one, cfg, dev), cfg, dev)
    stack = []
    for k in range(models):
        torch.manual_seed(k)
        stack.append(GPT(model_cfg).to(dev))
    many = BatchedStep(stack, cfg, [cfg.wd] * models, dev)
    xs = torch.from_numpy(np.stack([x_np] * models).astype(np.int64)).to(dev)
    ys = torch.from_numpy(np.stack([y_np] * models).astype(np.int64)).to(dev)
    lr = torch.full((models,), 1e-3, device=dev)
    active = torch.ones(models, device=dev)

    run_many, run_single = (lambda: many(xs, ys, lr, active)), (lambda: single(x_np, y_np, 1e-3))
    for run in (run_many, run_single):
        timed(run, warmup + 1, dev)
    t_many, t_single, per_round = abba(run_many, run_single, steps, rounds, dev)
    tok = batch * seq
    agg = models * tok / statistics.median(t_many)
    one_tps = tok / statistics.median(t_single)
    paired = [models * ts / tm for tm, ts in zip(t_many, t_single)]
    name = device_name(dev)
    peak = peak_flops(name) if dev.type == "cuda" else None
    flops = train_flops_per_token(model_cfg, seq)
    return {
        "shape": f"{layers}x{d_model}x{heads}", "models": models, "vocab": vocab, "batch": batch, "seq": seq,
        "device": name, "threads": torch.get_num_threads(), "torch": torch.__version__, "compile_mode": compile,
        "tokens_per_s": agg, "single_tokens_per_s": one_tps,
        "ratio": statistics.median(paired), "ratio_min": min(paired), "ratio_max": max(paired),
        "mfu": agg * flops / peak if peak else None, "single_mfu": one_tps * flops / peak if peak else None,
        "steps": per_round * rounds, "rounds": rounds,
    }


def describe(r: dict) -> str:
    mfu = f", MFU {r['mfu']:.1%} (one: {r['single_mfu']:.1%})" if r["mfu"] is not None else ""
    return (f"{r['models']} x {r['shape']} V={r['vocab']} B={r['batch']} T={r['seq']} on {r['device']} "
            f"({r['threads']} threads, torch {r['torch']}): {r['tokens_per_s']:,.0f} tok/s together, one alone "
            f"{r['single_tokens_per_s']:,.0f} tok/s, ratio {r['ratio']:.2f} "
            f"(rounds: {r['ratio_min']:.2f}-{r['ratio_max']:.2f}){mfu}")
