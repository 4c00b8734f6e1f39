"""torch.compile with its artifacts kept in the workspace, so runs of one shape compile once.

Inductor's FX-graph cache and AOTAutograd cache (both on by default in torch >= 2.6) key compiled
kernels by graph, shapes and torch version. Pointing their directory at the workspace
(``$KCAP_WORKSPACE/compile-cache``) instead of a per-boot /tmp folder means every later run of the
same shape in a sweep, and every later sweep on the machine, loads the kernels instead of
compiling them: only the first run of a shape pays the full compile (docs/benchmarks.md has the
cold and warm costs). A ``TORCHINDUCTOR_CACHE_DIR`` set by the user wins.
"""

from __future__ import annotations

import os

import torch

from kcap.store.workspace import workspace_dir

MODES = ("auto", "on", "off", "graphs")


def compile_cache_dir() -> str:
    path = os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(workspace_dir() / "compile-cache"))
    os.makedirs(path, exist_ok=True)
    return path


def use_compile(mode: str, device: torch.device) -> bool:
    """auto compiles on CUDA only: on CPU a cold compile (~30 s per shape) outweighs a short run's gain."""
    return mode in ("on", "graphs") or (mode == "auto" and device.type == "cuda")


def compile_model(model: torch.nn.Module, mode: str, device: torch.device) -> torch.nn.Module:
    """``model`` compiled as ``mode`` asks (see ``use_compile``), or ``model`` itself.

    ``graphs`` adds CUDA graphs (inductor's "reduce-overhead" mode): one graph launch replays a
    whole forward or backward, which matters where kernel-launch overhead dominates, i.e. tiny
    models. On CPU it is plain compilation."""
    if not use_compile(mode, device):
        return model
    compile_cache_dir()
    graphs = mode == "graphs" and device.type == "cuda"
    return torch.compile(model, mode="reduce-overhead" if graphs else None)
