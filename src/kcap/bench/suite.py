"""The GPU benchmark suite in one command, within a time budget: ``kcap bench suite``.

Runs ``kcap bench train`` at each anchor shape of the performance issue (0.8M, 6M and 85M
non-embedding parameters, seq 512, bf16, compiled), the 0.8M shape again with CUDA graphs, and
``kcap bench many`` with 16 models of the 0.8M shape; then prints one table (card, torch, shape,
tokens/s, MFU, ratios, and the lean + compile H100 anchor each shape should beat) and, with
``--json FILE``, writes every result. Items that would start after the budget is spent are skipped
and listed, so the suite always ends on time with what it measured.

``--quick`` runs the same items at tiny shapes and a handful of steps on any device, eager: a dry
run that checks the suite end to end on a CPU.

    kcap bench suite --budget 480 --json gpu-suite.json
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from kcap.bench.many import bench_many
from kcap.bench.train_step import bench_train
from kcap.device import device_name, resolve_device

VOCAB = 3072  # a bioS word-level vocabulary at large N (~2.9K tokens, SCIENCE.md §6), rounded up


@dataclass(frozen=True)
class Item:
    name: str
    layers: int
    heads: int
    d_model: int
    batch: int
    anchor_tok_s: float | None = None  # lean + compile, H100, bf16, seq 512 (the issue's targets)
    models: int = 1
    compile: str = "auto"


GPU_ITEMS = (
    Item("0.8M", 4, 2, 128, 64, 10.4e6),
    Item("0.8M graphs", 4, 2, 128, 64, 10.4e6, compile="graphs"),
    Item("6M", 8, 4, 256, 32, 3.6e6),
    Item("85M", 12, 12, 768, 16, 0.66e6),
    Item("16 x 0.8M", 4, 2, 128, 64, None, models=16),
)
QUICK_ITEMS = (
    Item("tiny", 1, 2, 16, 2),
    Item("tiny graphs", 1, 2, 16, 2, compile="graphs"),
    Item("small", 2, 2, 32, 2),
    Item("4 x tiny", 1, 2, 16, 2, models=4),
)


def run_suite(budget_s: float = 480.0, quick: bool = False, device: str = "auto",
              steps: int | None = None, rounds: int | None = None) -> dict:
    dev = resolve_device(device)
    items = QUICK_ITEMS if quick else GPU_ITEMS
    seq, vocab = (32, 300) if quick else (512, VOCAB)
    steps = steps or (2 if quick else 30)
    rounds = rounds or (2 if quick else 6)
    t0 = time.perf_counter()
    results, skipped = [], []
    for it in items:
        spent = time.perf_counter() - t0
        # a new item needs room for its compile and timing; the previous one shows how much
        last = results[-1]["item_s"] if results else 0.0
        if results and spent + last > budget_s:  # the first item always runs
            skipped.append(it.name)
            continue
        compile = "off" if quick else it.compile
        t = time.perf_counter()
        if it.models > 1:
            r = bench_many(it.models, it.layers, it.heads, it.d_model, vocab, it.batch, seq, steps, rounds,
                           str(dev), compile)
        else:
            r = bench_train(it.layers, it.heads, it.d_model, vocab, it.batch, seq, steps, rounds, str(dev), compile)
        r.update(item=it.name, anchor_tok_s=it.anchor_tok_s, item_s=time.perf_counter() - t,
                 vs_anchor=r["tokens_per_s"] / it.anchor_tok_s if it.anchor_tok_s else None)
        results.append(r)
    return {"device": device_name(dev), "torch": torch.__version__, "cuda": torch.version.cuda,
            "quick": quick, "wall_s": time.perf_counter() - t0, "results": results, "skipped": skipped}


def table(s: dict) -> str:
    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    lines = [f"kcap bench suite on {s['device']}, torch {s['torch']} (CUDA {s['cuda']}), {s['wall_s']:.0f}s"
             + (" [quick dry run]" if s["quick"] else ""),
             "| item | shape | B x T | tok/s | MFU | vs baseline | baseline tok/s | vs H100 anchor | compile s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in s["results"]:
        base = r.get("baseline_tokens_per_s", r.get("single_tokens_per_s"))
        what = "one model" if "single_tokens_per_s" in r else "nanoGPT"
        lines.append(f"| {r['item']} | {r['shape']} | {r['batch']} x {r['seq']} | {r['tokens_per_s']:,.0f} | "
                     f"{f(r['mfu'], '.1%')} | {r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) | "
                     f"{base:,.0f} ({what}) | {f(r['vs_anchor'], '.2f')} | {f(r['compile_s'] if r.get('compiled') else None, '.0f')} |")
    if s["skipped"]:
        lines.append(f"skipped (time budget): {', '.join(s['skipped'])}")
    return "\n".join(lines)


def write_json(s: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(s, indent=2))
