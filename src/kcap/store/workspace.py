"""Where kcap keeps its run store: ``$KCAP_WORKSPACE``, else ``./.kcap``."""

from __future__ import annotations

import os
from pathlib import Path


def workspace_dir() -> Path:
    return Path(os.environ.get("KCAP_WORKSPACE", ".kcap")).resolve()


def store_path() -> Path:
    return workspace_dir() / "store.sqlite"
