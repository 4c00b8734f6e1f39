"""Benchmark: kcap's full training step vs a plain nanoGPT-style step of the same shape.

Both run in this process on the same random tokens, in alternating rounds whose order flips every
round (ABBA), so drifting machine load hits both alike. The ratio is the median over rounds of
the paired per-round ratio, with its spread (min-max over rounds) so noise is visible. kcap's step is the one the
training loop runs (``kcap.train.step.make_step``): forward, backward, clipping, AdamW.

    python bench/train_step.py --layers 2 --heads 2 --d-model 64 --vocab 2325 --batch 8 --seq 256
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from nanogpt_baseline import NanoGPT, make_baseline_step  # noqa: E402

from kcap.model.gpt import GPT, GPTConfig  # noqa: E402
from kcap.train.config import TrainConfig  # noqa: E402
from kcap.train.step import make_optimizer, make_step  # noqa: E402


def bench(layers: int, heads: int, d_model: int, vocab: int, batch: int, seq: int, steps: int,
          rounds: int, device: str) -> dict:
    dev = torch.device(device)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x_np = rng.integers(0, vocab, (batch, seq), dtype=np.int32)
    y_np = rng.integers(0, vocab, (batch, seq), dtype=np.int32)
    cfg = TrainConfig(lr=1e-3, wd=0.01, batch=batch, seq=seq, device=device)
    model = GPT(GPTConfig(vocab_size=vocab, n_layer=layers, n_head=heads, d_model=d_model, max_seq=seq)).to(dev)
    kcap_step = make_step(model, model, make_optimizer(model, cfg, dev), cfg, dev)
    base = NanoGPT(vocab, layers, heads, d_model, seq).to(dev)
    base_step = make_baseline_step(base)
    x, y = torch.from_numpy(x_np.astype(np.int64)).to(dev), torch.from_numpy(y_np.astype(np.int64)).to(dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    runners = {"kcap": lambda: kcap_step(x_np, y_np, 1e-3), "baseline": lambda: base_step(x, y)}
    for run in runners.values():  # warm-up
        for _ in range(3):
            run()
    times = {k: [] for k in runners}
    for r in range(rounds):
        for name in (("kcap", "baseline") if r % 2 == 0 else ("baseline", "kcap")):
            sync()
            t = time.perf_counter()
            for _ in range(steps):
                runners[name]()
            sync()
            times[name].append((time.perf_counter() - t) / steps)
    tok = batch * seq
    k, b = tok / statistics.median(times["kcap"]), tok / statistics.median(times["baseline"])
    paired = [tb / tk for tk, tb in zip(times["kcap"], times["baseline"])]
    return {"shape": f"{layers}x{d_model}x{heads} V={vocab} B={batch} T={seq}", "device": str(dev),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "tokens_per_s": k, "baseline_tokens_per_s": b, "ratio": statistics.median(paired),
            "ratio_min": min(paired), "ratio_max": max(paired), "rounds": rounds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--vocab", type=int, default=2325)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--steps", type=int, default=10, help="steps per timed round")
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    r = bench(a.layers, a.heads, a.d_model, a.vocab, a.batch, a.seq, a.steps, a.rounds, a.device)
    if a.json:
        print(json.dumps(r))
    else:
        print(f"{r['shape']} on {r['device']} ({r['threads']} threads, torch {r['torch']}): "
              f"kcap {r['tokens_per_s']:,.0f} tok/s, baseline {r['baseline_tokens_per_s']:,.0f} tok/s, "
              f"ratio {r['ratio']:.2f} (rounds: {r['ratio_min']:.2f}-{r['ratio_max']:.2f})")


if __name__ == "__main__":
    main()
