"""The dataset-directory format every kind shares: ``dataset.json`` (kind, sizes, ``bits_max`` and
its terms, checksums of the data files), ``tokenizer.json`` and numpy arrays.

Files are written atomically, ``dataset.json`` last, so a reader sees a complete dataset or none;
a checksum mismatch is reported, never used. Which kinds exist, and which loader reads a
directory, is the registry's business (``kcap.kinds``), not this file's.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from kcap.atomic import file_sha256, write_bytes
from kcap.errors import KcapError

DATASET_FORMAT = 1
VARIANTS = ("multi", "simple")  # fresh rendering every exposure, or one fixed rendering


def read_meta(path: Path) -> tuple[Path, dict]:
    """A dataset directory's ``dataset.json``, checked to be readable and to name its kind and files."""
    path = Path(path)
    meta_path = path / "dataset.json"
    if not path.is_dir():
        raise KcapError(f"dataset directory {path} does not exist")
    if not meta_path.is_file():
        raise KcapError(f"{path} is not a kcap dataset: no dataset.json (make one with `kcap data ...`)")
    try:
        meta = json.loads(meta_path.read_text())
        files = meta["files"]
        if not isinstance(meta["kind"], str) or not isinstance(files, dict):
            raise TypeError("kind is not a string or files is not a mapping")
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise KcapError(f"{meta_path} is corrupted ({e.__class__.__name__}: {e})") from None
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


def save_array(path: Path, array: np.ndarray) -> None:
    """Write one ``.npy`` file atomically."""
    buf = io.BytesIO()
    np.save(buf, array)
    write_bytes(path, buf.getvalue())


def check_out_dir(out: Path) -> Path:
    """``--out`` as a dataset directory: absent or a directory."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise KcapError(f"--out {out} exists and is not a directory")
    return out


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise KcapError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
