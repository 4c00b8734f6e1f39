"""The training loop: read it top to bottom.

    data -> windows -> [forward -> backward] x grad_accum -> clip -> AdamW step -> log

fp32 on CPU; on CUDA, bf16 autocast, fused AdamW and torch.compile. The run directory gets its
config before the first step (so a crash is identifiable) and its weights and summary at the end.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_model

from kcap.corpus.stream import make_stream
from kcap.device import device_name, resolve_device
from kcap.errors import KcapError
from kcap.knowledge.datasets import load_dataset
from kcap.model.flops import peak_flops, train_flops_per_token
from kcap.model.gpt import GPT
from kcap.model.params import param_breakdown
from kcap.model.spec import ModelSpec
from kcap.store import rundir
from kcap.store.db import RunStore
from kcap.store.provenance import provenance
from kcap.train.compile import compile_model
from kcap.train.config import TrainConfig
from kcap.train.producer import Producer
from kcap.train.progress import TrainProgress
from kcap.train.schedule import lr_at
from kcap.train.step import make_optimizer, make_step

Probe = Callable[[torch.nn.Module], dict]


@torch.no_grad()
def heldout_loss(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device,
                 rows: int = 64) -> float:
    """Mean per-token loss on held-out windows (the same loss as training, on unseen people)."""
    model.eval()
    total, count = 0.0, 0
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    for i in range(0, len(x), rows):
        xb = torch.from_numpy(x[i:i + rows].astype(np.int64)).to(device)
        yb = torch.from_numpy(y[i:i + rows].astype(np.int64)).to(device)
        n = int((y[i:i + rows] >= 0).sum())
        with autocast:
            total += float(model(xb, yb)) * n
        count += n
    model.train()
    return total / count


def train(data: Path, spec: ModelSpec, cfg: TrainConfig, out: Path, progress: bool = True,
          record: bool = True, dry_run: bool = False, probe: Probe | None = None) -> dict:
    """Train one model on a dataset (bioS, bioD, random strings) for exactly ``cfg.exposures``
    exposures of every person (or sequence); return a summary.

    With ``dry_run``, resolve everything (defaults, steps, tokens, parameters, FLOPs) and return
    the run's config without writing or training anything. At every evaluation point the loop logs
    the held-out loss and, with ``probe``, whatever the probe returns for the current model (e.g.
    bits stored), so knowledge can be followed along training."""
    dataset = load_dataset(data)
    cfg = cfg.resolved(dataset.n_people)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    stream = make_stream(dataset, cfg.exposures, seed=cfg.seed)
    vocab = dataset.vocab()
    model_cfg = spec.config(len(vocab), cfg.seq)
    model = GPT(model_cfg)
    params = param_breakdown(model, used_tokens=stream.used_tokens())

    longest = stream.max_doc_tokens()
    if cfg.seq < longest:  # measurement feeds whole biographies: the model must have seen such windows
        raise KcapError(f"--seq {cfg.seq} is shorter than a biography can be ({longest} tokens); use --seq {longest} or more")
    total_tokens = stream.total_tokens()
    steps = math.ceil(stream.n_windows(cfg.seq) / cfg.batch)
    warmup = cfg.warmup if cfg.warmup is not None else min(1000, steps // 10)
    eval_every = cfg.eval_every if cfg.eval_every is not None else max(1, steps // 20)
    flops_per_token = train_flops_per_token(model_cfg, cfg.seq)
    out = Path(out)
    config = {
        "format": 1,
        "data": {"path": str(dataset.path.resolve()), "kind": dataset.meta["kind"],
                 "variant": dataset.variant, "people": dataset.n_people, "seed": dataset.seed,
                 "files": dataset.meta["files"],
                 **({"junk": dataset.junk} if dataset.junk else {}),
                 **({"domain_token": True} if dataset.domain_token else {})},
        "model": {"arch": spec.arch, **model_cfg.to_dict()},
        "train": cfg.to_dict(),
        "derived": {"stream_tokens": total_tokens, "steps": steps, "warmup": warmup, "eval_every": eval_every,
                    "train_flops_per_token": flops_per_token},
        "params": params,
        "provenance": provenance(torch=torch.__version__, device=device_name(device)),
    }
    rid = rundir.run_id(config)
    config["id"] = rid
    if dry_run:
        return config
    out.mkdir(parents=True, exist_ok=True)
    rundir.write_json(out / rundir.CONFIG, config)

    model.to(device)
    optimizer = make_optimizer(model, cfg, device)
    step_model = compile_model(model, cfg.compile, device)  # artifacts cached in the workspace
    do_step = make_step(model, step_model, optimizer, cfg, device)
    peak = peak_flops(device_name(device))

    heldout = stream.heldout(cfg.heldout, cfg.seq) if eval_every else None
    targets = total_tokens - 1  # every (useful) stream token but the first is a target exactly once
    records: list[dict] = []
    metrics_f = open(out / rundir.METRICS, "w")
    bar = TrainProgress(steps, enabled=progress)
    t0 = time.perf_counter()
    tokens_seen, window_loss, window_n, last_loss = 0, 0.0, 0, float("nan")
    t_log, tok_log = t0, 0
    # batches are rendered in a background thread; the loop's wait for them is measured
    batches = Producer(stream.batches(cfg.seq, cfg.batch))
    for step, (x_np, y_np) in enumerate(batches):
        lr = lr_at(step, steps, cfg.lr, warmup, cfg.min_lr_ratio)
        loss_sum = do_step(x_np, y_np, lr)
        n_valid = int((y_np >= 0).sum())
        tokens_seen += n_valid
        window_loss += loss_sum
        window_n += 1
        evaluate = eval_every and ((step + 1) % eval_every == 0 or step + 1 == steps)
        if (step + 1) % cfg.log_every == 0 or step + 1 == steps or evaluate:
            last_loss = float(window_loss) / window_n
            now = time.perf_counter()
            tok_s = (tokens_seen - tok_log) / max(now - t_log, 1e-9)
            # with junk, useful windows are spread evenly over the steps: count exposures by steps
            done = (step + 1) / steps if dataset.junk else tokens_seen / targets
            rec = {"step": step + 1, "tokens": tokens_seen, "exposures": cfg.exposures * done,
                   "loss": last_loss, "lr": lr, "tokens_per_s": tok_s, "flops": tokens_seen * flops_per_token,
                   "flops_6nd": 6 * params["total"] * tokens_seen, "elapsed_s": now - t0,
                   "data_wait_s": batches.wait_s}
            if peak:
                rec["mfu"] = tok_s * flops_per_token / peak
            if evaluate:
                if heldout is not None:
                    rec["heldout_loss"] = heldout_loss(model, *heldout, device)
                if probe is not None:
                    rec.update(probe(model))
                    model.train()
                now = time.perf_counter()  # evaluation time is not training throughput
            records.append(rec)
            if not math.isfinite(last_loss):
                metrics_f.close()
                batches.close()
                raise KcapError(f"training diverged at step {step + 1}: loss is {last_loss} (try a lower --lr)")
            metrics_f.write(json.dumps(rec) + "\n")
            metrics_f.flush()
            window_loss, window_n, t_log, tok_log = 0.0, 0, now, tokens_seen
            bar.update(step + 1, loss=last_loss, tok_s=tok_s, mfu=rec.get("mfu"))
        else:
            bar.update(step + 1)
    bar.close()
    metrics_f.close()
    wall = time.perf_counter() - t0
    if step + 1 != steps:  # the stream's length is computed exactly, so this is a bug if it fires
        raise RuntimeError(f"stream gave {step + 1} steps, expected {steps}")

    model.to("cpu")
    tmp = out / f".{rundir.WEIGHTS}.tmp"
    save_model(model, str(tmp))
    os.replace(tmp, out / rundir.WEIGHTS)  # atomic: a weights file is complete or absent
    summary = {"steps": steps, "tokens": tokens_seen, "final_loss": last_loss,
               "final_heldout_loss": records[-1].get("heldout_loss"), "wall_s": wall,
               "tokens_per_s": tokens_seen / wall, "flops": tokens_seen * flops_per_token,
               "flops_6nd": 6 * params["total"] * tokens_seen, "data_wait_s": batches.wait_s}
    if peak:
        summary["mfu"] = summary["tokens_per_s"] * flops_per_token / peak
    rundir.write_json(out / rundir.SUMMARY, summary)
    if record:
        with RunStore() as store:
            store.record_trained(rid, out, config, summary, points=records)
    return {"id": rid, "run_dir": str(out), **summary}

