"""What a run leaves behind, the same for a single run (``train``) and each model of a batch (``train_many``):

    RUN/config.json        before the first step (``train/claim.py``), so a crash is identifiable
    RUN/metrics.jsonl      one record per logged step (``RunLog.record``), checked for divergence
    RUN/model.safetensors  and RUN/summary.json at the end (``RunLog.finish``)
    the store row          running, then trained, or failed with its reason (``RunLog.failed``)
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

from kcap.atomic import as_umask_allows, file_sha256, write_bytes
from kcap.device import device_name
from kcap.model.flops import peak_flops
from kcap.store import rundir
from kcap.store.db import RunStore
from kcap.train import checkpoint
from kcap.train.failure import TrainingDiverged, failure_reason
from kcap.train.plan import RunPlan
from kcap.train.precision import autocast, resolve_precision
from kcap.train.tensorboard import TensorBoardLog

Probe = Callable[[torch.nn.Module], dict]


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


class RunLog:
    """One run's metric records, throughput and ending.

    ``state``: where a checkpoint left the log (``RunLog.state``), None for a fresh start.
    ``writes``: False in a process that keeps the records but writes nothing (a DDP rank other
    than 0). ``store`` and ``tb`` are the caller's to close."""

    def __init__(self, plan: RunPlan, out: Path, device: torch.device, state: dict | None = None,
                 store: RunStore | None = None, tb: TensorBoardLog | None = None, writes: bool = True):
        state = state or {"tokens_seen": 0, "window_loss": 0.0, "window_n": 0, "elapsed_s": 0.0, "records": [],
                          "resumed_at": []}
        self.plan, self.out, self.device, self.store, self.tb, self.writes = plan, Path(out), device, store, tb, writes
        self.records: list[dict] = state["records"]
        self.resumed_at: list[int] = state["resumed_at"]
        self.tokens, self.window_loss, self.window_n = state["tokens_seen"], state["window_loss"], state["window_n"]
        self.last_loss = self.records[-1]["loss"] if self.records else float("nan")
        # throughput is this process's: from where it started (0, or the checkpoint it resumed)
        self.tokens_at_start, self.elapsed_at_start = self.tokens, state["elapsed_s"]
        self.peak = peak_flops(device_name(device))
        self.heldout = plan.heldout() if writes else None
        self.ended = False  # finished or failed: the store row is final
        self.metrics = None
        if writes:  # the log holds exactly the records up to the step training continues from
            write_bytes(self.out / rundir.METRICS, "".join(json.dumps(r) + "\n" for r in self.records).encode())
            self.metrics = open(self.out / rundir.METRICS, "a")  # noqa: SIM115 (open for the whole run: close())
        if store is not None:
            store.record_started(plan.id, self.out, plan.config)
        self.t0 = time.perf_counter() - self.elapsed_at_start
        self.t_log, self.tok_log = time.perf_counter(), self.tokens

    def add(self, loss: torch.Tensor, n_valid: int) -> None:
        """One step's mean loss (left on the device until it is logged) and its number of targets."""
        self.tokens += n_valid
        self.window_loss += loss
        self.window_n += 1

    def record(self, step: int, lr: float, wait_s: float, evaluate: torch.nn.Module | None = None,
               probe: Probe | None = None) -> dict:
        """The metric record of the steps since the last one, ending with ``step`` (0-based),
        written to metrics.jsonl; ``evaluate``: the model, at an evaluation point. Raises
        TrainingDiverged instead of writing it if the loss is not finite."""
        plan = self.plan
        self.last_loss = float(self.window_loss) / self.window_n
        now = time.perf_counter()
        tok_s = (self.tokens - self.tok_log) / max(now - self.t_log, 1e-9)
        # with junk, useful windows are spread evenly over the steps: count exposures by steps
        done = (step + 1) / plan.steps if plan.dataset.junk else self.tokens / plan.targets
        rec = {"step": step + 1, "tokens": self.tokens, "exposures": plan.cfg.exposures * done,
               "loss": self.last_loss, "lr": lr, "tokens_per_s": tok_s, **self._flops(),
               "elapsed_s": now - self.t0, "data_wait_s": wait_s}
        if self.peak:
            rec["mfu"] = tok_s * plan.flops_per_token / self.peak
        if evaluate is not None:
            rec.update(self._evaluate(evaluate, probe))
            now = time.perf_counter()  # evaluation time is not training throughput
        self.records.append(rec)
        # checked before writing: metrics.jsonl stays strict JSON (no NaN), the error names the step
        if not math.isfinite(self.last_loss):
            raise TrainingDiverged(f"training diverged at step {step + 1}: loss is {self.last_loss} (try a lower --lr)")
        if self.metrics is not None:
            self.metrics.write(json.dumps(rec) + "\n")
            self.metrics.flush()
        if self.tb is not None:
            self.tb.log(rec)
        self.window_loss, self.window_n, self.t_log, self.tok_log = 0.0, 0, now, self.tokens
        return rec

    def _evaluate(self, model: torch.nn.Module, probe: Probe | None) -> dict:
        """Held-out loss and, with ``probe``, what it reports of the model (e.g. bits stored)."""
        rec = {}
        if self.heldout is not None:
            rec["heldout_loss"] = heldout_loss(model, *self.heldout, self.device, precision=self.plan.cfg.precision)
        if probe is not None:
            rec.update(probe(model))
            model.train()  # a probe may leave the model in eval mode
        return rec

    def _flops(self) -> dict:
        return {"flops": self.tokens * self.plan.flops_per_token, "flops_6nd": 6 * self.plan.params["active"] * self.tokens}

    def state(self) -> dict:
        """Where the log stands, for a checkpoint: ``RunLog(state=...)`` continues from it."""
        return {"tokens_seen": self.tokens, "window_loss": float(self.window_loss), "window_n": self.window_n,
                "elapsed_s": time.perf_counter() - self.t0, "records": self.records, "resumed_at": self.resumed_at}

    def summary(self, wait_s: float, world_size: int = 1, wall: float | None = None, **extra) -> dict:
        """The training outcome (summary.json); ``wall``: the time to count (default: this run's)."""
        wall = time.perf_counter() - self.t0 if wall is None else wall
        tok_s = (self.tokens - self.tokens_at_start) / max(wall - self.elapsed_at_start, 1e-9)
        s = {"steps": self.plan.steps, "tokens": self.tokens, "final_loss": self.last_loss,
             "final_heldout_loss": self.records[-1].get("heldout_loss"), "wall_s": wall, "tokens_per_s": tok_s,
             **self._flops(), "resumed_at_steps": self.resumed_at, "world_size": world_size, "data_wait_s": wait_s,
             **extra}
        if self.peak:
            s["mfu"] = tok_s * self.plan.flops_per_token / self.peak
        return s

    def finish(self, model: torch.nn.Module, summary: dict) -> dict:
        """Save the final weights (atomically: complete or absent) with their checksum in the
        summary, the summary and the store row; drop the checkpoints they supersede. Returns
        what ``train`` returns. A process that does not write (DDP rank > 0) only returns it."""
        if not self.writes:
            return {"id": self.plan.id, "run_dir": str(self.out), **summary}
        weights = self.out / rundir.WEIGHTS
        tmp = self.out / f".{rundir.WEIGHTS}.tmp"
        save_model(model.to("cpu"), str(tmp))
        as_umask_allows(tmp)
        os.replace(tmp, weights)
        summary["weights_sha256"] = file_sha256(weights)
        rundir.write_json(self.out / rundir.SUMMARY, summary)
        checkpoint.remove_checkpoints(self.out, keep_until=self.plan.stable_until)
        if self.store is not None:
            self.store.record_trained(self.plan.id, self.out, self.plan.config, summary, points=self.records)
        self.ended = True
        return {"id": self.plan.id, "run_dir": str(self.out), **summary}

    def failed(self, exc: BaseException) -> None:
        """Record in the store why the run stopped (nan, oom, error, crash, or interrupted), once."""
        if self.ended:
            return
        self.ended = True
        if self.store is None:
            return
        if isinstance(exc, KeyboardInterrupt):
            self.store.record_failed(self.plan.id, "interrupted: KeyboardInterrupt", status="interrupted")
        else:
            self.store.record_failed(self.plan.id, failure_reason(exc))

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
