"""Files every floor writes: atomic writes (a reader, or a kill mid-write, never sees a half-written
file), output directories, and checksums."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from pathlib import Path


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def plain(obj, strict: bool = False):
    """``obj`` with numpy arrays and scalars (anything with ``tolist``) as plain Python values for
    json; ``strict`` also writes nan and inf as None, so that a file never carries a number that
    is not one (fit files); without it they stay NaN/Infinity, which Python's json reads back."""
    if isinstance(obj, dict):
        return {k: plain(v, strict) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, strict) for v in obj]
    if hasattr(obj, "tolist"):
        return plain(obj.tolist(), strict)
    if strict and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: Path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


@functools.cache
def _umask() -> int:
    """The process's umask, read once (setting it to read it would race other threads' files)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def as_umask_allows(path: Path) -> None:
    """Give a file the mode an ordinary write would (0666 less the umask). safetensors writes its
    files 0600 whatever the umask, which left a run's weights unreadable to the group that can
    read every other file of the run."""
    os.chmod(path, 0o666 & ~_umask())


def make_dir(path: Path) -> Path:
    """Create a directory (and its parents) for output; a path that is a file, or one that cannot
    be created, is a one-line error naming it."""
    from kcap.errors import KcapError

    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise KcapError(f"{path} exists and is not a directory") from None
    except OSError as e:
        raise KcapError(f"cannot create directory {path}: {e.strerror or e}") from None
    return path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (datasets and weights are checked by it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
