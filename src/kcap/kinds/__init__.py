"""The registry of dataset kinds: the one place that knows which kinds exist.

Built-in kinds (bioS, bioD, random strings) are registered here; a plugin registers its own with
``register`` from a module named in ``$KCAP_PLUGINS`` (comma-separated module names, imported on
first use of the registry) or from a ``kcap.kinds`` entry point of an installed package. Every
dispatch in kcap (loading a dataset, its stream, its measurement, ``kcap data``, sweep specs,
tables) reads ``KINDS``. How to add a kind: docs/extending.md.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from kcap.errors import KcapError
from kcap.kinds.base import DatasetKind, Estimate
from kcap.kinds.biod import KIND as _BIOD
from kcap.kinds.bios import KIND as _BIOS
from kcap.kinds.random_strings import KIND as _RANDOM
from kcap.knowledge.datasets import read_meta

KINDS: dict[str, DatasetKind] = {}

__all__ = ["KINDS", "DatasetKind", "Estimate", "get_kind", "load_dataset", "make_stream", "register"]


def register(kind: DatasetKind) -> DatasetKind:
    """Add a kind (its ``name`` must be new, its ``command`` unused); returns it."""
    if kind.name in KINDS and KINDS[kind.name] is not kind:
        raise KcapError(f"dataset kind {kind.name!r} is registered twice")
    clash = [k.name for k in KINDS.values() if k.command == kind.command and k is not kind]
    if clash:
        raise KcapError(f"dataset kind {kind.name!r}: `kcap data {kind.command}` is taken by {clash[0]}")
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> DatasetKind:
    if name not in KINDS:
        raise KcapError(f"unknown dataset kind {name!r} (known: {', '.join(KINDS)})")
    return KINDS[name]


def load_dataset(path: Path, verify: bool = True) -> Any:
    """Load any kcap dataset directory, by the kind its dataset.json names."""
    path, meta = read_meta(path)
    if meta["kind"] not in KINDS:
        raise KcapError(f"{path / 'dataset.json'}: unknown dataset kind {meta['kind']!r} (known: {', '.join(KINDS)})")
    kind = KINDS[meta["kind"]]
    if "variant" in meta and meta["variant"] not in kind.variants:
        raise KcapError(f"{path / 'dataset.json'} is corrupted or was edited: a {kind.name} dataset's variant is "
                        f"{' or '.join(kind.variants)}, not {meta['variant']!r}")
    return kind.load(path, verify)


def make_stream(dataset: Any, exposures: int, seed: int = 0, popularity: float = 0.0) -> Any:
    """The training stream of a loaded dataset of any kind (``popularity``: a Zipf exponent, see
    ``kcap.corpus.popularity``; passed only when set, so a plugin kind written before it still works)."""
    kind = get_kind(dataset.kind)
    if popularity:
        return kind.stream(dataset, exposures, seed, popularity=popularity)
    return kind.stream(dataset, exposures, seed)


def _load_plugins() -> None:
    """Import plugin modules (each calls ``register``): entry points, then ``$KCAP_PLUGINS``."""
    for ep in entry_points(group="kcap.kinds"):
        obj = ep.load()
        if isinstance(obj, DatasetKind):
            register(obj)
    for name in filter(None, (m.strip() for m in os.environ.get("KCAP_PLUGINS", "").split(","))):
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise KcapError(f"KCAP_PLUGINS: cannot import plugin module {name!r} ({e})") from None


for _kind in (_BIOS, _BIOD, _RANDOM):
    register(_kind)
_load_plugins()
