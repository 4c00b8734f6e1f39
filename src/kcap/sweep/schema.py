"""The experiment-spec schema: which keys a sweep spec may hold, their types and ranges.

A spec is YAML with four sections (``data``, ``model``, ``train``, ``measure``) plus ``seeds`` and
an optional ``runs`` list. Any scalar leaf marked as an *axis* may be written as a list: the sweep
then takes the Cartesian product over all such lists (grid form). ``runs`` is the list form: each
entry overrides parts of the sections and is expanded on its own.

The ``train`` keys and the keys of a model size are the options of ``TrainConfig`` and ``ModelSpec``,
derived from their fields (kcap/options.py): a field declared there is a spec key with the same
type, bounds and choices, and leaving it out means the field's default.

Validation walks the raw YAML tree once and fails on the first problem with one line naming the
field path (``train.exposures: must be >= 1, got 0``); an unknown key gets the closest valid key
suggested. Values that depend on each other (a model's heads and kv_heads, bioD's parameters)
are checked when runs are planned, by kcap's own validation (``bindings.py``).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from kcap.errors import KcapError
from kcap.kinds import KINDS
from kcap.knowledge.people import NAME_SPACE
from kcap.model.spec import ModelSpec
from kcap.options import bounds_problem, declared
from kcap.train.config import TrainConfig


class SpecError(KcapError):
    """A spec problem at a field path; the message reads ``path: problem``."""

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path, problem
        msg = f"{path}: {problem}" if path else problem
        super().__init__(" ".join(msg.splitlines()))  # one line, whatever the input held


@dataclass(frozen=True)
class Leaf:
    """One scalar field: its type, range or choices, and whether a list of values is a grid axis."""

    type: type  # int, float, str or bool
    lo: float | None = None  # inclusive bounds
    hi: float | None = None
    lo_open: bool = False  # lo is exclusive (> lo)
    hi_open: bool = False
    choices: tuple | None = None  # or a live view such as ARCHS.keys()
    axis: bool = True
    nullable: bool = False  # null means "the default" (e.g. the paper's lr for N)


def _int(lo=None, hi=None, **kw) -> Leaf:
    return Leaf(int, lo, hi, **kw)


def _float(lo=None, hi=None, **kw) -> Leaf:
    return Leaf(float, lo, hi, **kw)


QUANTIZE = ("none", "int8", "int4")

def leaves(cls: type, **override) -> dict[str, Leaf]:
    """The spec keys of a dataclass's options (kcap/options.py): each one's type, bounds, choices and
    whether it is a grid axis, as the field declares them; ``override`` sets a Leaf attribute for all."""
    out = {}
    for d in declared(cls):
        o = d.option
        if o.sweep:
            out[d.name] = replace(Leaf(d.type, o.lo, o.hi, o.lo_open, o.hi_open, o.choices, o.axis, d.nullable),
                                  **override)
    return out


def data_section() -> dict[str, Any]:
    """The ``data`` section: keys every kind shares, then each registered kind's own section."""
    variants = tuple(dict.fromkeys(v for k in KINDS.values() for v in k.variants if len(k.variants) > 1))
    section: dict[str, Any] = {
        "kind": Leaf(str, choices=tuple(KINDS)),
        "people": _int(1, NAME_SPACE),
        "variant": Leaf(str, choices=variants),  # kinds with one variant (random strings) take none
        "seed": _int(0),
    }
    for kind in KINDS.values():
        if kind.spec_section:
            section[kind.spec_section] = leaves(kind.spec_params, nullable=False)
    return section


# One model size; the ladder derives sizes from a base (see ladder.py). Sizes vary by ladder, not
# grid, and a size states a value or leaves the key out (the ladder computes with them: no nulls).
SIZE = {"name": Leaf(str, axis=False),
        **{k: leaf for k, leaf in leaves(ModelSpec, axis=False, nullable=False).items() if k != "arch"},
        "head_dim": _int(2, axis=False)}  # width = heads x head_dim, when d_model is not given

SCHEMA: dict[str, Any] = {
    "name": Leaf(str, axis=False),
    "description": Leaf(str, axis=False),
    "data": data_section(),  # kind sections from the registry: junk (bioS), biod, random
    "model": {
        "arch": leaves(ModelSpec)["arch"],  # per spec (may be a grid axis), not per size
        "base": SIZE,
        "ladder": [SIZE],  # a list of partial sizes, each derived from base
    },
    "train": {
        **leaves(TrainConfig),
        "track_bits": Leaf(bool),  # a run option, not a TrainConfig field (sweep/plan.py RUN_OPTIONS)
    },
    "measure": {
        "enabled": Leaf(bool, axis=False),
        "quantize": Leaf(str, choices=QUANTIZE),  # a list: measure each variant of the same weights
    },
    "seeds": _int(0, 2**63 - 1),  # torch seeds with a signed 64-bit integer
}


# Sections a `runs:` entry may override (the list form).
RUN_ENTRY = {k: SCHEMA[k] for k in ("name", "data", "model", "train", "measure", "seeds")}


def _suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(valid)}"
    return f"unknown key {str(key)!r}; {hint}"


def _show(key) -> str:
    """A key as a message shows it: plain words as they are, anything else quoted, escapes and all,
    so that the message stays one line."""
    return key if isinstance(key, str) and re.fullmatch(r"[\w-]+", key) else repr(key)


def _join(path: str, key) -> str:
    return f"{path}.{_show(key)}" if path else _show(key)


def _check_scalar(value, leaf: Leaf, path: str):
    """Type and range of one value; returns it normalized (ints widened to float where asked)."""
    if value is None:
        if leaf.nullable:
            return None
        raise SpecError(path, "must not be empty (null)")
    if leaf.type is bool:
        if not isinstance(value, bool):
            raise SpecError(path, f"must be true or false, got {value!r}")
        return value
    if leaf.type is str:
        if not isinstance(value, str):
            raise SpecError(path, f"must be a string, got {value!r}")
        if leaf.choices and value not in leaf.choices:
            close = difflib.get_close_matches(value, leaf.choices, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(path, f"unknown value {value!r} (choose from {', '.join(leaf.choices)}){hint}")
        return value
    if isinstance(value, bool):  # YAML true/false are not numbers here
        raise SpecError(path, f"must be a number, got {value!r}")
    if leaf.type is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 1e3 written as 1000.0
        if not isinstance(value, int):
            raise SpecError(path, f"must be an integer, got {value!r}")
    else:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise SpecError(path, f"must be a number, got {value!r}") from None
        if not isinstance(value, (int, float)):
            raise SpecError(path, f"must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise SpecError(path, f"must be finite, got {value!r}")
    problem = bounds_problem(value, leaf)  # the same rule as the dataclasses' own checks
    if problem:
        raise SpecError(path, problem)
    return value


def check(value, schema, path: str = ""):
    """Validate ``value`` against ``schema``; return a normalized copy (numbers typed)."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise SpecError(path, f"must be a mapping of keys to values, got {type(value).__name__}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or k not in schema:
                raise SpecError(_join(path, k), _suggest(k, list(schema)))
            out[k] = check(v, schema[k], _join(path, k))
        return out
    if isinstance(schema, list):  # a list of mappings (the ladder)
        if not isinstance(value, list) or not value:
            raise SpecError(path, "must be a non-empty list")
        return [check(v, schema[0], f"{path}[{i}]") for i, v in enumerate(value)]
    leaf: Leaf = schema
    if isinstance(value, list):
        if not leaf.axis:
            raise SpecError(path, "takes one value, not a list")
        if not value:
            raise SpecError(path, "an empty list gives no runs")
        return [_check_scalar(v, leaf, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        raise SpecError(path, f"must be a value, not a mapping (got keys {', '.join(map(_show, value))})")
    return _check_scalar(value, leaf, path)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (a repeated section too):
    plain YAML lets the last one win silently, and a sweep would run what the reader did not see."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *base`` may be overridden, by design
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in first:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {_show(key)} (first given at line {first[key]})",
                            key_node.start_mark)
                    first[key] = key_node.start_mark.line + 1
                except TypeError:  # an unhashable key: the base loader reports it
                    continue
        return super().construct_mapping(node, deep=deep)


def parse_spec_text(text: str, source: str = "spec") -> dict:
    """Parse and validate a spec's YAML text; returns the validated tree (defaults not filled)."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: as safe as safe_load
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError("", f"{source}: malformed YAML{where}: {problem}") from None
    except ValueError as e:  # e.g. a YAML int too large for a C long in a timestamp
        raise SpecError("", f"{source}: malformed YAML: {e}") from None
    if raw is None:
        raise SpecError("", f"{source}: the spec is empty")
    if not isinstance(raw, dict):
        raise SpecError("", f"{source}: a spec must be a mapping (data:, model:, train:, ...), "
                            f"got {type(raw).__name__}")
    runs = raw.pop("runs", None) if "runs" in raw else None
    SCHEMA["data"] = RUN_ENTRY["data"] = data_section()  # kinds registered since import count too
    tree = check(raw, SCHEMA)
    if runs is not None:
        if not isinstance(runs, list) or not runs:
            raise SpecError("runs", "must be a non-empty list of overrides")
        tree["runs"] = [check(r, RUN_ENTRY, f"runs[{i}]") for i, r in enumerate(runs)]
    if "people" not in tree.get("data", {}) and not any("people" in r.get("data", {}) for r in tree.get("runs", [])):
        raise SpecError("data.people", "is required (the population size N)")
    return tree


def load_spec_file(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise KcapError(f"spec {path} {'is a directory, not a YAML file' if path.is_dir() else 'does not exist'}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise KcapError(f"spec {path} is unreadable: {e}") from None
    tree = parse_spec_text(text, source=str(path))
    tree.setdefault("name", path.stem)
    return tree
