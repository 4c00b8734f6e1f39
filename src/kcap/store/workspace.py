"""Where kcap keeps its run store: ``$KCAP_WORKSPACE``, else ``./.kcap``."""

from __future__ import annotations

import os
from pathlib import Path


def workspace_dir() -> Path:
    return Path(os.environ.get("KCAP_WORKSPACE", ".kcap")).resolve()


def store_path() -> Path:
    return workspace_dir() / "store.sqlite"


def workspace_label() -> str:
    """Where the workspace came from, for messages: ``KCAP_WORKSPACE=...`` or the default."""
    env = os.environ.get("KCAP_WORKSPACE")
    return f"KCAP_WORKSPACE={env}" if env is not None else f"the default workspace {workspace_dir()}"
