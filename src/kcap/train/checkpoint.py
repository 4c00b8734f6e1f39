"""Step-indexed training checkpoints for exact resume.

    RUN/checkpoints/step-000000120.safetensors

One safetensors file per checkpoint holds every tensor (model, optimizer moments, torch RNG
states) and, in its metadata, the run id, the step, a JSON blob with everything else the loop
needs (Python and numpy RNG states, optimizer hyper-parameters, tokens seen, the metric records
so far) and a SHA-256 over all tensor bytes. The data position needs no storage of its own: the
stream is a pure function of the seeds, so the step index says where it is.

Writes are atomic: the file is written under a temporary name, fsynced, then renamed into place,
so a kill mid-write leaves either the previous checkpoints or a complete new one. Loading checks
the header, the run id and the checksum; a truncated or altered file is reported and skipped,
never loaded. The newest ``keep`` checkpoints are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from kcap.atomic import as_umask_allows

FORMAT = "kcap-checkpoint-1"
DIR = "checkpoints"
_NAME = re.compile(r"^step-(\d{9})\.safetensors$")


def checkpoint_dir(run: Path) -> Path:
    return Path(run) / DIR


def list_checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint file in a run directory, newest first."""
    d = checkpoint_dir(run)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found, reverse=True)


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous().reshape(-1)
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, state, gauss_next = random.getstate()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)],
            "python": [version, list(state), gauss_next]}
    return tensors, meta


def _set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda.")),
                                       key=lambda k: int(k.rsplit(".", 1)[1]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[:torch.cuda.device_count()])
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, state, gauss_next = meta["python"]
    random.setstate((version, tuple(state), gauss_next))


def _model_tensors(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The state dict without shared storage (tied embeddings): safetensors refuses aliases, so
    each alias is stored once and named in ``aliases`` (alias -> stored name)."""
    tensors, aliases, seen = {}, {}, {}
    for k, t in model.state_dict().items():
        key = (t.data_ptr(), t.dtype, tuple(t.shape), t.device) if t.numel() else None
        if key is not None and key in seen:
            aliases[k] = seen[key]
            continue
        if key is not None:
            seen[key] = k
        tensors[f"model.{k}"] = t.detach().cpu().contiguous()
    return tensors, aliases


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim.{idx}.{name}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{name}"] = v
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def save_checkpoint(run: Path, run_id: str, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict, keep: int | None = 2) -> Path:
    """Write checkpoint ``step`` atomically and prune all but the newest ``keep`` (None: keep all)."""
    d = checkpoint_dir(run)
    d.mkdir(parents=True, exist_ok=True)
    model_t, aliases = _model_tensors(model)
    optim_t, optim_meta = _optimizer_tensors(optimizer)
    rng_t, rng_meta = _rng_state()
    tensors = {**model_t, **optim_t, **rng_t}
    blob = {"state": state, "aliases": aliases, "optimizer": optim_meta, "rng": rng_meta}
    metadata = {"format": FORMAT, "run_id": run_id, "step": str(step), "blob": json.dumps(blob),
                "sha256": _digest(tensors)}
    path = d / f"step-{step:09d}.safetensors"
    tmp = d / f".{path.name}.{os.getpid()}.tmp"
    save_file(tensors, str(tmp), metadata=metadata)
    as_umask_allows(tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())  # the bytes are on disk before the name points at them
    os.replace(tmp, path)
    _fsync_dir(d)
    for _, old in list_checkpoints(run)[keep:] if keep is not None else []:
        old.unlink(missing_ok=True)
    return path


def read_checkpoint(path: Path, run_id: str) -> tuple[dict[str, torch.Tensor], dict, int]:
    """Tensors, metadata blob and step of one checkpoint; ``ValueError`` naming the problem if
    it is truncated, altered, or belongs to another run."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except Exception as e:  # noqa: BLE001 (safetensors raises several types for truncated or garbled files)
        raise ValueError(f"unreadable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"not a kcap checkpoint (format {meta.get('format')!r})")
    if meta.get("run_id") != run_id:
        raise ValueError(f"belongs to run {meta.get('run_id')}, not {run_id}")
    if _digest(tensors) != meta.get("sha256"):
        raise ValueError("checksum mismatch (the file was altered or partly written)")
    try:
        blob = json.loads(meta["blob"])
        step = int(meta["step"])
    except (KeyError, ValueError) as e:
        raise ValueError(f"bad metadata ({e})") from None
    return tensors, blob, step


def load_latest(run: Path, run_id: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                warn: Callable[[str], None] = lambda msg: None) -> tuple[int, dict] | None:
    """Restore model, optimizer and RNG states from the newest valid checkpoint of ``run``.

    Returns (step, loop state) or None if there is no valid checkpoint. Each invalid file is
    reported through ``warn`` (one line) and skipped."""
    for step, path in list_checkpoints(run):
        try:
            tensors, blob, saved_step = read_checkpoint(path, run_id)
            if saved_step != step:
                raise ValueError(f"its metadata says step {saved_step}")
        except ValueError as e:
            warn(f"skipping checkpoint {path}: {e}")
            continue
        restore(tensors, blob, model, optimizer)
        return step, blob["state"]
    return None


def restore(tensors: dict[str, torch.Tensor], blob: dict, model: torch.nn.Module,
             optimizer: torch.optim.Optimizer) -> None:
    sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    for alias, name in blob["aliases"].items():
        sd[alias] = sd[name]
    model.load_state_dict(sd, strict=True)

    optim = blob["optimizer"]
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, name = k.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    for k, v in optim["scalars"].items():
        idx, name = k.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    current = optimizer.state_dict()["param_groups"]
    groups = []
    for saved, now in zip(optim["param_groups"], current, strict=True):
        # JSON turned tuples (betas) into lists; give them back their type
        groups.append({k: tuple(v) if isinstance(now.get(k), tuple) else v for k, v in saved.items()})
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    _set_rng_state(tensors, blob["rng"])


def remove_checkpoints(run: Path, keep_until: int = -1) -> None:
    """Drop a run's checkpoints (a fresh start, or a finished run whose final weights are saved),
    all but those up to step ``keep_until`` (a wsd run's stable phase: the branch points of shorter
    horizons)."""
    for step, path in list_checkpoints(run):
        if step > keep_until:
            path.unlink(missing_ok=True)
    d = checkpoint_dir(run)
    if d.is_dir():
        for tmp in d.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        try:
            d.rmdir()  # only when nothing was kept
        except OSError:
            pass
