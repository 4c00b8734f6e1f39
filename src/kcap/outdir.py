"""Output directories: what one already holds, and who may write into it.

Every command that writes a directory (``kcap data --out``, ``kcap train --out``, ``kcap export
--hf``) asks ``holding`` first. An absent or empty directory takes anything; one that holds what
the command makes is replaced only when the user says so (``--overwrite``); anything else (a
dataset where a run would go, a run where an export would go, someone's files) is refused, naming
what it holds. A finished result is never lost by accident.

A run directory is locked while a process trains into it (``lock_dir``): ``fcntl.flock`` on
``DIR/.lock``, which the kernel releases when the process ends, however it ends, so a lock never
goes stale. The file names its holder (pid and host) for the refusal a second trainer gets;
``busy`` lets a reader (``kcap measure``) refuse weights that are being replaced.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locking (kcap's runs target Linux and macOS)
    fcntl = None

from kcap.atomic import make_dir
from kcap.errors import KcapError

LOCK = ".lock"
# names only a run directory holds (with config.json): a run whose config is unreadable is still a run
RUN_ONLY = ("model.safetensors", "summary.json", "metrics.jsonl", "checkpoints", "measure.json")
# a sweep's markers, written into a run directory before training gives it a config
SWEEP_MARKERS = ("running.json", "failed.json")


@dataclass(frozen=True)
class Holding:
    """What a path holds: ``kind`` absent | file | empty | dataset | run | hf | files."""

    kind: str
    what: str = ""  # for messages: "a kcap dataset (bioS, 200 people)", "run 0123abcd4567 (measured)", "3 files"
    run_id: str | None = None  # kind run: its id (None if its config.json is unreadable)
    finished: bool = False  # kind run: weights or summary written (training ended)
    state: str = ""  # kind run: measured | trained | unfinished


def _ours(name: str) -> bool:
    """Files kcap leaves in any directory it writes: the lock, and temporaries of atomic writes."""
    return name == LOCK or (name.startswith(".") and name.endswith(".tmp"))


def _read_json(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def holding(path: Path) -> Holding:
    """What ``path`` holds, read without writing anything."""
    path = Path(path)
    if not path.exists():
        return Holding("absent")
    if not path.is_dir():
        return Holding("file", "a file")
    try:  # kcap's own lock and temporaries, and a sweep's markers, are no content of their own
        names = sorted(n for n in os.listdir(path) if not _ours(n) and n not in SWEEP_MARKERS)
    except OSError as e:
        raise KcapError(f"cannot read directory {path}: {e.strerror or e}") from None
    if not names:
        return Holding("empty")
    if "dataset.json" in names:
        meta = _read_json(path / "dataset.json") or {}
        about = f" ({meta['kind']}, {meta.get('people')} people)" if isinstance(meta.get("kind"), str) else ""
        return Holding("dataset", f"a kcap dataset{about}")
    config = _read_json(path / "config.json") if "config.json" in names else None
    finished = "model.safetensors" in names or "summary.json" in names
    if config is not None and isinstance(config.get("id"), str) and "train" in config:
        state = "measured" if "measure.json" in names else "trained" if finished else "unfinished"
        return Holding("run", f"run {config['id']} ({state})", config["id"], finished, state)
    if config is not None and "model_type" in config:
        return Holding("hf", "a Hugging Face model")
    if any(n in names for n in RUN_ONLY):
        return Holding("run", "a kcap run whose config.json is unreadable", None, finished, "broken")
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return Holding("files", f"{len(names)} file{'s' if len(names) > 1 else ''} ({shown})")


def check_out_dir(path: Path, flag: str, makes: str, overwrite: bool = False) -> Holding:
    """Refuse to write ``makes`` (dataset | hf) into ``path`` unless it is absent, empty, or holds
    the same kind of thing and ``overwrite`` is set. Returns what it holds; writes nothing."""
    h = holding(path)
    if h.kind == "file":
        raise KcapError(f"{flag} {path} exists and is not a directory")
    if h.kind in ("absent", "empty") or (h.kind == makes and overwrite):
        return h
    if h.kind == makes:
        raise KcapError(f"{flag} {path} holds {h.what}; pass --overwrite to replace it")
    raise KcapError(f"{flag} {path} holds {h.what}; choose a new or empty directory")


def _holder(lock: Path) -> str:
    d = _read_json(lock) or {}
    return f"pid {d['pid']} on {d.get('host')}" if "pid" in d else "another process"


def _take(fd: int, patience_s: float = 1.0) -> bool:
    """Take the exclusive lock, waiting up to ``patience_s`` for it: a reader's probe (``busy``)
    holds a shared lock for a moment, a trainer holds it for its lifetime."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


@contextmanager
def lock_dir(path: Path, flag: str = "--out") -> Iterator[None]:
    """Hold an exclusive lock on the directory ``path`` (created if absent) until the block ends;
    a KcapError naming the holder if another process has it."""
    make_dir(path)
    lock = Path(path) / LOCK
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise KcapError(f"cannot lock {flag} {path}: {e.strerror or e}") from None
    try:
        if fcntl is not None and not _take(fd):
            raise KcapError(f"{flag} {path} is being trained by {_holder(lock)}; wait for it to end, "
                            "or choose another directory")
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def busy(path: Path) -> str | None:
    """Who holds ``path``'s lock (a process training into it), or None if nobody does."""
    lock = Path(path) / LOCK
    if fcntl is None or not lock.is_file():
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(lock)
    finally:
        os.close(fd)
    return None
