"""Where a run came from: kcap version and git commit, Python, numpy, platform, host, command.

The training loop adds torch's version, CUDA's, the device and the world size (this module never
imports torch). Provenance is recorded in config.json but is not part of the run's id: the same
run computed on another machine or commit is the same run.
"""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import kcap


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(kcap.__file__).parent, capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _in_checkout() -> bool:
    """Is kcap running from its own source checkout (not, say, a venv inside another repository)?"""
    top = _git("rev-parse", "--show-toplevel")
    return bool(top) and (Path(top) / "src" / "kcap").resolve() == Path(kcap.__file__).parent.resolve()


def git_commit() -> str | None:
    """The commit of the kcap checkout this code runs from, or None outside a kcap checkout."""
    return (_git("rev-parse", "HEAD") or None) if _in_checkout() else None


def git_dirty() -> bool | None:
    """Whether that checkout has uncommitted changes to tracked files (None outside a checkout)."""
    out = _git("status", "--porcelain", "--untracked-files=no")
    return None if out is None else bool(out)


def provenance(**extra) -> dict:
    commit = git_commit()
    return {"kcap_version": kcap.__version__, "git_commit": commit,
            "git_dirty": git_dirty() if commit else None, "python": sys.version.split()[0],
            "numpy": np.__version__, "platform": platform.platform(), "host": socket.gethostname(),
            "argv": sys.argv, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
