"""Choosing the torch device from a user's --device."""

from __future__ import annotations

import torch

from kcap.errors import KcapError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise KcapError(f"--device {name!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise KcapError(f"--device {name} asked for CUDA, but no CUDA device is available")
    return dev


def device_name(device: torch.device) -> str:
    """The accelerator's name (e.g. "NVIDIA H100 80GB HBM3"), or "cpu"."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"
