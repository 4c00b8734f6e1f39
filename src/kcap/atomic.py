"""Atomic file writes: a reader (or a kill mid-write) never sees a half-written file."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


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
