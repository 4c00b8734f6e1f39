"""``kcap bench train``: kcap's full training step vs a plain nanoGPT-style step of the same shape.

Both run in this process on the same random tokens, in alternating rounds whose order flips every
round (ABBA), so drifting machine load hits both alike. The ratio is the median over rounds of the
paired per-round ratio, with its min-max over rounds so the noise is visible. kcap's step is the
one the training loop runs (``kcap.train.step.make_step``: forward, backward, clipping, fused
AdamW; bf16 autocast on CUDA; compiled as ``--compile`` says, with the loop's rule by default).
The baseline (``kcap.bench.nanogpt``) is eager, as one would write it by hand.

Compilation is timed separately: ``compile_s`` is the first call of kcap's step minus a steady
one, i.e. what one run of this shape pays (with a warm compile cache: loading the kernels).
"""

from __future__ import annotations

import statistics

import numpy as np
import torch

from kcap.bench.abba import abba, timed
from kcap.bench.nanogpt import NanoGPT, make_baseline_step
from kcap.device import device_name, resolve_device
from kcap.errors import KcapError
from kcap.model.flops import peak_flops, train_flops_per_token
from kcap.model.gpt import GPT, GPTConfig
from kcap.train.compile import compile_model, use_compile
from kcap.train.config import TrainConfig
from kcap.train.step import make_optimizer, make_step


def bench_train(layers: int = 2, heads: int = 2, d_model: int = 64, vocab: int = 2325, batch: int = 8,
                seq: int = 256, steps: int = 20, rounds: int = 10, device: str = "auto",
                compile: str = "auto", warmup: int = 3) -> dict:
    """Tokens/s of kcap's step and the baseline's over ``steps`` timed steps each, in ``rounds``."""
    if steps < 1 or rounds < 1 or warmup < 0:
        raise KcapError(f"--steps ({steps}) and --rounds ({rounds}) must be at least 1, --warmup at least 0")
    dev = resolve_device(device)
    cfg = TrainConfig(lr=1e-3, wd=0.01, batch=batch, seq=seq, device=str(dev), compile=compile)
    model_cfg = GPTConfig(vocab_size=vocab, n_layer=layers, n_head=heads, d_model=d_model, max_seq=seq)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x_np = rng.integers(0, vocab, (batch, seq), dtype=np.int32)
    y_np = rng.integers(0, vocab, (batch, seq), dtype=np.int32)
    model = GPT(model_cfg).to(dev)
    kcap_step = make_step(model, compile_model(model, compile, dev), make_optimizer(model, cfg, dev), cfg, dev)
    base = NanoGPT(vocab, layers, heads, d_model, seq).to(dev)
    base_step = make_baseline_step(base)
    x, y = torch.from_numpy(x_np.astype(np.int64)).to(dev), torch.from_numpy(y_np.astype(np.int64)).to(dev)

    run_kcap, run_base = (lambda: kcap_step(x_np, y_np, 1e-3)), (lambda: base_step(x, y))
    first = timed(run_kcap, 1, dev)  # includes compilation (or loading it from the cache)
    one = timed(run_kcap, 1, dev)
    for run in (run_kcap, run_base):
        timed(run, warmup, dev)
    t_kcap, t_base, per_round = abba(run_kcap, run_base, steps, rounds, dev)
    tok = batch * seq
    k_tps, b_tps = tok / statistics.median(t_kcap), tok / statistics.median(t_base)
    paired = [tb / tk for tk, tb in zip(t_kcap, t_base)]
    name = device_name(dev)
    peak = peak_flops(name) if dev.type == "cuda" else None
    flops = train_flops_per_token(model_cfg, seq)
    return {
        "shape": f"{layers}x{d_model}x{heads}", "layers": layers, "heads": heads, "d_model": d_model,
        "vocab": vocab, "batch": batch, "seq": seq,
        "non_embedding_params": sum(p.numel() for n, p in model.named_parameters() if n != "wte.weight"),
        "device": name, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "compiled": use_compile(compile, dev), "compile_mode": compile,
        "compile_s": max(0.0, first - one),
        "tokens_per_s": k_tps, "baseline_tokens_per_s": b_tps,
        "ratio": statistics.median(paired), "ratio_min": min(paired), "ratio_max": max(paired),
        "train_flops_per_token": flops,
        "mfu": k_tps * flops / peak if peak else None,
        "baseline_mfu": b_tps * flops / peak if peak else None,
        "steps": per_round * rounds, "rounds": rounds,
    }


def describe(r: dict) -> str:
    mfu = f", MFU {r['mfu']:.1%} (baseline {r['baseline_mfu']:.1%})" if r["mfu"] is not None else ""
    comp = f", compile {r['compile_s']:.1f}s" if r["compiled"] else ""
    return (f"{r['shape']} V={r['vocab']} B={r['batch']} T={r['seq']} on {r['device']} ({r['threads']} threads, "
            f"torch {r['torch']}): kcap {r['tokens_per_s']:,.0f} tok/s, baseline {r['baseline_tokens_per_s']:,.0f} "
            f"tok/s, ratio {r['ratio']:.2f} (rounds: {r['ratio_min']:.2f}-{r['ratio_max']:.2f}){mfu}{comp}")
