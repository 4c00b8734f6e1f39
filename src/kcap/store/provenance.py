"""Where a run came from: kcap version and git commit, Python, platform."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import kcap


def git_commit() -> str | None:
    """The commit of the kcap checkout this code runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(kcap.__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(**extra) -> dict:
    return {"kcap_version": kcap.__version__, "git_commit": git_commit(),
            "python": sys.version.split()[0], "platform": platform.platform(), **extra}
