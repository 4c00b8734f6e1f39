"""Every knowledge dataset kind behind one loader: a directory with ``dataset.json`` (kind, sizes,
``bits_max`` and its terms, checksums of the data files), ``tokenizer.json`` and numpy arrays.

Kinds: ``bioS`` (``kcap.knowledge.bios``), ``bioD`` (``kcap.knowledge.biod``) and ``random``
(``kcap.knowledge.random_strings``). Files are written atomically, ``dataset.json`` last, so a
reader sees a complete dataset or none; a checksum mismatch is reported, never used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kcap.atomic import file_sha256
from kcap.errors import KcapError

KINDS = ("bioS", "bioD", "random")
MAKE = {"bioS": "kcap data bios", "bioD": "kcap data biod", "random": "kcap data random"}


def read_meta(path: Path) -> tuple[Path, dict]:
    """A dataset directory's ``dataset.json``, checked to be readable and of a known kind."""
    path = Path(path)
    meta_path = path / "dataset.json"
    if not path.is_dir():
        raise KcapError(f"dataset directory {path} does not exist")
    if not meta_path.is_file():
        raise KcapError(f"{path} is not a kcap dataset: no dataset.json (make one with `kcap data ...`)")
    try:
        meta = json.loads(meta_path.read_text())
        kind, files = meta["kind"], meta["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not a mapping")
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise KcapError(f"{meta_path} is corrupted ({e.__class__.__name__}: {e})") from None
    if kind not in KINDS:
        raise KcapError(f"{meta_path}: unknown dataset kind {kind!r} (known: {', '.join(KINDS)})")
    return path, meta


def check_dataset_dir(path: Path, kinds: tuple[str, ...], verify: bool = True) -> tuple[Path, dict]:
    """Check a dataset directory is complete and uncorrupted; return its path and metadata."""
    path, meta = read_meta(path)
    if meta["kind"] not in kinds:
        raise KcapError(f"{path} holds a {meta['kind']} dataset; expected {' or '.join(kinds)}")
    for name, digest in meta["files"].items():
        f = path / name
        if not f.is_file():
            raise KcapError(f"dataset {path} is incomplete: {name} is missing")
        if verify and file_sha256(f) != digest:
            raise KcapError(f"dataset file {f} is corrupted (checksum differs from dataset.json)")
    return path, meta


def load_array(path: Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    try:
        a = np.load(path)
    except (ValueError, OSError) as e:
        raise KcapError(f"dataset file {path} is unreadable: {e}") from None
    if shape is not None and a.shape != shape:
        raise KcapError(f"{path} has shape {a.shape}, expected {shape}")
    return a


def load_dataset(path: Path, verify: bool = True):
    """Load any kcap dataset directory (bioS, bioD or random strings)."""
    _, meta = read_meta(path)
    if meta["kind"] == "bioS":
        from kcap.knowledge.bios import load_bios

        return load_bios(path, verify)
    if meta["kind"] == "bioD":
        from kcap.knowledge.biod import load_biod

        return load_biod(path, verify)
    from kcap.knowledge.random_strings import load_random

    return load_random(path, verify)
