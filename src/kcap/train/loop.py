"""The training loop: read it top to bottom.

    data -> windows -> [forward -> backward] x grad_accum -> clip -> AdamW step -> log

fp32 on CPU; on CUDA, bf16 autocast (or --precision), fused AdamW and torch.compile. The run directory gets its
config before the first step (so a crash is identifiable) and its weights and summary at the end.

Around that core, a few hooks:
- checkpoints every ``checkpoint_every`` steps (``train/checkpoint.py``); ``resume="auto"`` picks
  up from the newest valid one, with the stream fast-forwarded to the step's first token;
- the store follows the run: running, then trained, or failed with its reason (``train/failure.py``);
- under torchrun, DistributedDataParallel over the global batch (``train/ddp.py``);
- optionally, TensorBoard (``train/tensorboard.py``).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_model

from kcap.atomic import file_sha256, make_dir, write_bytes
from kcap.device import device_name, resolve_device
from kcap.errors import KcapError
from kcap.kinds import load_dataset, make_stream
from kcap.model.build import build_model
from kcap.model.flops import peak_flops, train_flops_per_token
from kcap.model.params import param_breakdown
from kcap.model.spec import ModelSpec
from kcap.store import rundir
from kcap.store.db import RunStore
from kcap.store.provenance import provenance
from kcap.train import checkpoint, ddp
from kcap.train.compile import compile_model
from kcap.train.config import TrainConfig
from kcap.train.failure import TrainingDiverged, failure_reason
from kcap.train.precision import autocast, resolve_precision
from kcap.train.producer import Producer
from kcap.train.progress import TrainProgress
from kcap.train.schedule import lr_at
from kcap.train.step import make_optimizer, make_step

Probe = Callable[[torch.nn.Module], dict]
RESUME = ("never", "auto")


def _warn(msg: str) -> None:
    print(f"kcap: warning: {msg}", file=sys.stderr)


def _config_diff(old: dict, new: dict) -> list[str]:
    """The fields (e.g. ``train.lr``) in which two run configs differ, for a one-line refusal."""
    diff = []
    for part in ("data", "model", "train"):
        a, b = old.get(part) or {}, new.get(part) or {}
        diff += [f"{part}.{k}" for k in sorted(set(a) | set(b)) if k != "path" and a.get(k) != b.get(k)]
    return diff


def _finished(out: Path, rid: str) -> dict | None:
    """The summary of an intact finished run ``rid`` in ``out``, else None."""
    if not (out / rundir.SUMMARY).is_file():
        return None
    try:
        config = rundir.check_run(out, verify=True)
    except KcapError as e:
        _warn(f"{e}; training it again")
        return None
    return rundir.read_json(out / rundir.SUMMARY, "training summary") if config["id"] == rid else None


@torch.no_grad()
def heldout_loss(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device,
                 rows: int = 64, precision: str = "auto") -> float:
    """Mean per-token loss on held-out windows (the same loss as training, on unseen people)."""
    model.eval()
    total, count = 0.0, 0
    precision = resolve_precision(precision, device)
    for i in range(0, len(x), rows):
        xb = torch.from_numpy(x[i:i + rows].astype(np.int64)).to(device)
        yb = torch.from_numpy(y[i:i + rows].astype(np.int64)).to(device)
        n = int((y[i:i + rows] >= 0).sum())
        with autocast(device, precision):
            total += float(model(xb, yb)) * n
        count += n
    model.train()
    return total / count


def train(data: Path, spec: ModelSpec, cfg: TrainConfig, out: Path, progress: bool = True,
          record: bool = True, dry_run: bool = False, probe: Probe | None = None, resume: str = "never",
          checkpoint_every: int | None = None, tensorboard: bool = False) -> dict:
    """Train one model on a dataset (bioS, bioD, random strings) for exactly ``cfg.exposures``
    exposures of every person (or sequence); return a summary.

    With ``dry_run``, resolve everything (defaults, steps, tokens, parameters, FLOPs) and return
    the run's config without writing or training anything. At every evaluation point the loop logs
    the held-out loss and, with ``probe``, whatever the probe returns for the current model (e.g.
    bits stored), so knowledge can be followed along training.

    ``resume="auto"``: if ``out`` holds this very run (same id), finished, return its summary
    without training; unfinished, continue from its newest valid checkpoint (bit-identical to an
    uninterrupted run on CPU); a different run there is refused. ``"never"`` starts afresh.
    ``checkpoint_every``: steps between checkpoints (None: about 20 per run; 0: none). Neither
    changes the run's id: they change how it is computed, not what."""
    if resume not in RESUME:
        raise KcapError(f"--resume must be one of {', '.join(RESUME)}, got {resume!r}")
    if checkpoint_every is not None and checkpoint_every < 0:
        raise KcapError(f"--checkpoint-every must be non-negative, got {checkpoint_every}")
    dist = ddp.from_env()
    dataset = load_dataset(data)
    cfg = cfg.resolved(dataset.n_people)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    stream = make_stream(dataset, cfg.exposures, seed=cfg.seed)
    vocab = dataset.vocab()
    model_cfg = spec.config(len(vocab), cfg.seq)
    model = build_model(model_cfg)
    params = param_breakdown(model, used_tokens=stream.used_tokens())

    longest = stream.max_doc_tokens()
    if cfg.seq < longest:  # measurement feeds whole biographies: the model must have seen such windows
        raise KcapError(f"--seq {cfg.seq} is shorter than a biography can be ({longest} tokens); use --seq {longest} or more")
    total_tokens = stream.total_tokens()
    steps = math.ceil(stream.n_windows(cfg.seq) / cfg.batch)
    warmup = cfg.warmup if cfg.warmup is not None else min(1000, steps // 10)
    eval_every = cfg.eval_every if cfg.eval_every is not None else max(1, steps // 20)
    ckpt_every = checkpoint_every if checkpoint_every is not None else max(1, steps // 20)
    flops_per_token = train_flops_per_token(model_cfg, cfg.seq)
    out = Path(out)
    config = {
        "format": 1,
        "data": {"path": str(dataset.path.resolve()), "kind": dataset.meta["kind"],
                 "variant": dataset.variant, "people": dataset.n_people, "seed": dataset.seed,
                 "files": dataset.meta["files"],
                 **({"junk": dataset.junk} if dataset.junk else {}),
                 **({"domain_token": True} if dataset.domain_token else {})},
        "model": model_cfg.to_dict(),
        "train": cfg.to_dict(),
        "derived": {"stream_tokens": total_tokens, "steps": steps, "warmup": warmup, "eval_every": eval_every,
                    "train_flops_per_token": flops_per_token, "precision": resolve_precision(cfg.precision, device)},
        "params": params,
        "provenance": provenance(torch=torch.__version__, cuda=torch.version.cuda, device=device_name(device),
                                 world_size=dist.world),
    }
    rid = rundir.run_id(config)
    config["id"] = rid
    if dry_run:
        return config

    if resume == "auto" and (out / rundir.CONFIG).is_file():
        old = rundir.read_config(out)
        if old.get("id") != rid:
            diff = _config_diff(old, config)
            raise KcapError(f"--resume auto: {out} holds run {old.get('id')}, whose config differs in "
                            f"{', '.join(diff[:5]) or 'its id'}; use another --out, or --resume never to overwrite")
        done = _finished(out, rid)
        if done is not None:
            return {"id": rid, "run_dir": str(out), **done, "already_finished": True}
    if dist.enabled:
        device = ddp.setup(dist, device)
    if dist.main:
        make_dir(out)
        if resume == "never":  # checkpoints of an earlier run in this directory are not ours to resume
            checkpoint.remove_checkpoints(out)
        rundir.write_json(out / rundir.CONFIG, config)

    model.to(device)
    optimizer = make_optimizer(model, cfg, device)
    # the loop's own state; a checkpoint restores it with the model, optimizer and RNGs
    state = {"tokens_seen": 0, "window_loss": 0.0, "window_n": 0, "elapsed_s": 0.0, "records": [],
             "resumed_at": []}
    start = 0
    if resume == "auto":
        found = checkpoint.load_latest(out, rid, model, optimizer, warn=_warn if dist.main else lambda m: None)
        if found is not None:
            start, state = found
            state["resumed_at"].append(start)
    if dist.enabled:
        ddp.agree(start, "the step to resume from")
    # compiled artifacts are cached in the workspace, so runs of one shape compile once
    if dist.enabled:
        step_model = compile_model(ddp.wrap(model, device), cfg.compile, device)
        do_step = ddp.make_ddp_step(model, step_model, optimizer, cfg, device, dist)
    else:
        step_model = compile_model(model, cfg.compile, device)
        do_step = make_step(model, step_model, optimizer, cfg, device)
    scaler = do_step.scaler  # fp16's loss scale is part of the training state
    if start and state.get("grad_scaler"):
        scaler.load_state_dict(state["grad_scaler"])
    peak = peak_flops(device_name(device))
    tb = None
    if tensorboard and dist.main:
        from kcap.train.tensorboard import TensorBoardLog

        tb = TensorBoardLog(out, purge_step=start + 1 if start else None)
    store = RunStore() if record and dist.main else None
    if store is not None:
        store.record_started(rid, out, config)
    batches = None
    try:
        heldout = stream.heldout(cfg.heldout, cfg.seq) if eval_every and dist.main else None
        targets = total_tokens - 1  # every (useful) stream token but the first is a target exactly once
        records: list[dict] = state["records"]
        metrics_f = None
        if dist.main:  # the log holds exactly the records up to the step training continues from
            write_bytes(out / rundir.METRICS, "".join(json.dumps(r) + "\n" for r in records).encode())
            metrics_f = open(out / rundir.METRICS, "a")  # noqa: SIM115 (open for the whole loop, closed below)
        bar = TrainProgress(steps, enabled=progress and dist.main)
        bar.update(start)
        t0 = time.perf_counter() - state["elapsed_s"]
        tokens_seen, window_loss, window_n = state["tokens_seen"], state["window_loss"], state["window_n"]
        # throughput is this process's: from where it started (0, or the checkpoint it resumed)
        tokens_at_start, elapsed_at_start = tokens_seen, state["elapsed_s"]
        last_loss = records[-1]["loss"] if records else float("nan")
        t_log, tok_log = time.perf_counter(), tokens_seen
        # the stream is a pure function of the seeds: resuming at step k starts at its first window
        # rendered in a background thread (the same iterator, so the same tokens); its wait is measured
        batches = Producer(stream.batches(cfg.seq, cfg.batch, start=start))
        step = start - 1
        for step, (x_np, y_np) in enumerate(batches, start=start):
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
                       "flops_6nd": 6 * params["active"] * tokens_seen, "elapsed_s": now - t0,
                       "data_wait_s": batches.wait_s}
                if peak:
                    rec["mfu"] = tok_s * flops_per_token / peak
                if evaluate and dist.main:
                    if heldout is not None:
                        rec["heldout_loss"] = heldout_loss(model, *heldout, device, precision=cfg.precision)
                    if probe is not None:
                        rec.update(probe(model))
                        model.train()
                    now = time.perf_counter()  # evaluation time is not training throughput
                records.append(rec)
                if not math.isfinite(last_loss):
                    raise TrainingDiverged(f"training diverged at step {step + 1}: loss is {last_loss} "
                                           "(try a lower --lr)")
                if metrics_f is not None:
                    metrics_f.write(json.dumps(rec) + "\n")
                    metrics_f.flush()
                if tb is not None:
                    tb.log(rec)
                window_loss, window_n, t_log, tok_log = 0.0, 0, now, tokens_seen
                bar.update(step + 1, loss=last_loss, tok_s=tok_s, mfu=rec.get("mfu"))
            else:
                bar.update(step + 1)
            if ckpt_every and (step + 1) % ckpt_every == 0 and step + 1 < steps and dist.main:
                state.update(tokens_seen=tokens_seen, window_loss=float(window_loss), window_n=window_n,
                             elapsed_s=time.perf_counter() - t0, records=records,
                             grad_scaler=scaler.state_dict() if scaler.is_enabled() else None)
                checkpoint.save_checkpoint(out, rid, step + 1, model, optimizer, state)
                if store is not None:
                    store.heartbeat(rid)
        bar.close()
        if metrics_f is not None:
            metrics_f.close()
        wall = time.perf_counter() - t0
        if step + 1 != steps:  # the stream's length is computed exactly, so this is a bug if it fires
            raise RuntimeError(f"stream gave {step + 1} steps, expected {steps}")

        summary = {"steps": steps, "tokens": tokens_seen, "final_loss": last_loss,
                   "final_heldout_loss": records[-1].get("heldout_loss"), "wall_s": wall,
                   "tokens_per_s": (tokens_seen - tokens_at_start) / max(wall - elapsed_at_start, 1e-9),
                   "flops": tokens_seen * flops_per_token, "flops_6nd": 6 * params["active"] * tokens_seen,
                   "resumed_at_steps": state["resumed_at"], "world_size": dist.world, "data_wait_s": batches.wait_s}
        if peak:
            summary["mfu"] = summary["tokens_per_s"] * flops_per_token / peak
        if dist.main:
            model.to("cpu")
            tmp = out / f".{rundir.WEIGHTS}.tmp"
            save_model(model, str(tmp))
            os.replace(tmp, out / rundir.WEIGHTS)  # atomic: a weights file is complete or absent
            summary["weights_sha256"] = file_sha256(out / rundir.WEIGHTS)
            rundir.write_json(out / rundir.SUMMARY, summary)
            checkpoint.remove_checkpoints(out)  # the final weights supersede them
            if store is not None:
                store.record_trained(rid, out, config, summary, points=records)
    except BaseException as e:
        if store is not None:
            if isinstance(e, KeyboardInterrupt):
                store.record_failed(rid, "interrupted: KeyboardInterrupt", status="interrupted")
            else:
                store.record_failed(rid, failure_reason(e))
        if isinstance(e, torch.OutOfMemoryError):
            raise KcapError(f"run {rid} ran out of memory; try a smaller --batch or more --grad-accum") from None
        raise
    finally:
        if batches is not None:
            batches.close()
        if tb is not None:
            tb.close()
        if store is not None:
            store.close()
        if dist.enabled:
            ddp.teardown()
    return {"id": rid, "run_dir": str(out), **summary}
