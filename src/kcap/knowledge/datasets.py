"""The dataset-directory format every kind shares: ``dataset.json`` (kind, sizes, ``bits_max`` and
its terms, checksums of the data files), ``tokenizer.json`` and numpy arrays.

Files are written atomically, ``dataset.json`` last, so a reader sees a complete dataset or none;
a checksum mismatch is reported, never used. Which kinds exist, and which loader reads a
directory, is the registry's business (``kcap.kinds``), not this file's.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

from kcap import outdir
from kcap.atomic import file_sha256, write_bytes
from kcap.errors import KcapError
from kcap.knowledge.tokenizer import load_tokenizer

DATASET_FORMAT = 1
VARIANTS = ("multi", "simple")  # fresh rendering every exposure, or one fixed rendering


def read_meta(path: Path) -> tuple[Path, dict]:
    """A dataset directory's ``dataset.json``, checked to be readable and to name its kind and files."""
    path = Path(path)
    meta_path = path / "dataset.json"
    if not path.is_dir():
        raise KcapError(f"dataset directory {path} {'is a file' if path.exists() else 'does not exist'}")
    if not meta_path.is_file():
        raise KcapError(f"{path} is not a kcap dataset: no dataset.json (make one with `kcap data ...`)")
    try:
        meta = json.loads(meta_path.read_bytes())
        files = meta["files"]
        if not isinstance(meta["kind"], str) or not isinstance(files, dict):
            raise TypeError("kind is not a string or files is not a mapping")
    except OSError as e:
        raise KcapError(f"cannot read {meta_path}: {e.strerror or e}") from None
    except (ValueError, KeyError, TypeError) as e:  # ValueError: bad JSON, or bytes that are not text
        raise KcapError(f"{meta_path} is corrupted ({e.__class__.__name__}: {' '.join(str(e).split())[:200]})") from None
    if not files or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise KcapError(f"{meta_path} is corrupted: files must map the data files' names to their checksums")
    problem = _field_problem(meta)
    if problem:
        raise KcapError(f"{meta_path} is corrupted or was edited: {problem}")
    return path, meta


def _is_int(v, lo: int) -> bool:
    return type(v) is int and v >= lo


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _field_problem(meta: dict) -> str | None:
    """What is wrong with the fields every kind's dataset.json shares (those present), or None:
    checked once here so that no kind trains or measures on a value that cannot be (a seed that
    is text, a negative vocabulary, junk beyond the whole stream)."""
    for k, lo in (("people", 1), ("seed", 0), ("vocab_size", 1)):
        if k in meta and not _is_int(meta[k], lo):
            return f"{k} must be an integer >= {lo}, got {meta[k]!r}"
    if "variant" in meta and not isinstance(meta["variant"], str):
        return f"variant must be a string, got {meta['variant']!r}"
    if "bits_max" in meta and not (_is_number(meta["bits_max"]) and meta["bits_max"] > 0):
        return f"bits_max must be a positive number, got {meta['bits_max']!r}"
    if "domain_token" in meta and not isinstance(meta["domain_token"], bool):
        return f"domain_token must be true or false, got {meta['domain_token']!r}"
    junk = meta.get("junk")
    if junk is not None:
        if not isinstance(junk, dict) or not (_is_number(junk.get("fraction")) and 0 < junk["fraction"] < 1):
            return f"junk must be null or hold a fraction in (0, 1), got {junk!r}"
        if junk.get("people") is not None and not _is_int(junk["people"], 1):
            return f"junk.people must be null or an integer >= 1, got {junk['people']!r}"
    return None


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
    """One ``.npy`` file of a dataset, of the ``shape`` its dataset.json gives."""
    try:
        a = np.load(path)
    except (ValueError, OSError, EOFError) as e:
        raise KcapError(f"dataset file {path} is unreadable: {' '.join(str(e).split())[:200]}") from None
    if shape is not None and a.shape != shape:
        raise KcapError(_shape_problem(Path(path), a.shape, shape))
    return a


def _shape_problem(path: Path, got: tuple[int, ...], want: tuple[int, ...]) -> str:
    """Which file is wrong when an array's shape is not the one dataset.json gives: a file that
    still matches the checksum dataset.json recorded for it is intact, so dataset.json was edited."""
    meta_path = path.parent / "dataset.json"
    try:
        recorded = json.loads(meta_path.read_bytes())["files"].get(path.name)
        intact = recorded is not None and recorded == file_sha256(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        intact = False
    if intact:
        return (f"{meta_path} was edited: it gives {path.name} the shape {want}, but that file (intact, "
                f"by the checksum recorded for it) holds {got}")
    return f"{path} has shape {got}, but {meta_path.name} gives {want}"


def save_array(path: Path, array: np.ndarray) -> None:
    """Write one ``.npy`` file atomically."""
    buf = io.BytesIO()
    np.save(buf, array)
    write_bytes(path, buf.getvalue())


def check_out_dir(out: Path, overwrite: bool = False) -> Path:
    """``--out`` as a dataset directory: absent, empty, or (with ``overwrite``) a dataset to replace.

    A dataset that runs were trained on may be replaced only on purpose: those runs keep its
    checksums and refuse the new files (``kcap measure``), they never measure against them."""
    out = Path(out)
    outdir.check_out_dir(out, "--out", "dataset", overwrite)
    return out


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise KcapError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")


class DatasetDir:
    """What kcap reads of every kind's loaded dataset, from its ``dataset.json`` and
    ``tokenizer.json``: kind, variant, seed, people, vocabulary, junk, domain token. A kind's
    dataset class (a frozen dataclass with ``path``, ``meta`` and ``tokenizer_path``) adds its
    arrays and overrides what differs."""

    junk = None  # bioS junk options; no other kind has junk
    domain_token = False

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def variant(self) -> str:
        return self.meta["variant"]

    @property
    def seed(self) -> int:
        return self.meta["seed"]

    @property
    def n_people(self) -> int:
        """People, or what plays their role (random strings: sequences)."""
        return self.meta["people"]

    def vocab(self) -> dict[str, int]:
        return load_tokenizer(self.tokenizer_path).get_vocab()
