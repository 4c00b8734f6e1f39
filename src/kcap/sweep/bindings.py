"""Where a spec's options meet kcap's code: dataset writers, model keyword arguments, and the
checks that a planned run is one kcap can build (by kcap's own validation, so the sweep never
keeps a second copy of the rules), all before any run starts.
"""

from __future__ import annotations

import re
from dataclasses import MISSING

from kcap.errors import KcapError
from kcap.kinds import get_kind
from kcap.model.archs import ARCHS, DEFAULT_ARCH
from kcap.options import declared
from kcap.sweep.schema import SpecError

# model extras and the value that means "the plain model" (kv_heads: one per head)
NEUTRAL = {"mlp_ratio": 4, "experts": 0, "top_k": 1, "capacity_factor": 1.25, "tied": True}
EXTRAS = ("kv_heads", *NEUTRAL)


def dataset_writer(kind: str):
    """A function ``write(out, data)`` that generates a dataset of this kind from the spec's
    ``data`` parameters."""
    return get_kind(kind).write


def check_data(d: dict, where: str) -> None:
    """The kind-specific data parameters are complete and valid (before anything is generated),
    by the kind's own checks."""
    kind = get_kind(d["kind"])
    sub = kind.spec_section
    if sub and kind.spec_params is not None:
        required = [d.name for d in declared(kind.spec_params) if d.default is MISSING]
        missing = [k for k in required if k not in d.get(sub, {})]
        if missing:
            raise SpecError(f"{where}data.{sub}", f"kind {kind.name} needs {', '.join(missing)}")
    try:
        kind.check(d)
    except KcapError as e:
        raise SpecError(f"{where}data" + (f".{sub}" if sub else ""), str(e)) from None


def is_neutral(size: dict, key: str) -> bool:
    """Whether an extra asks for the plain model, so that stating it is the same run as leaving it
    out (kv_heads never is for an arch grouped by default, such as mistral)."""
    if key == "kv_heads":
        return ARCHS[size.get("arch", DEFAULT_ARCH)].kv_group == 1 and size[key] == size["heads"]
    return size[key] == NEUTRAL[key]


def model_kwargs(size: dict) -> dict:
    """ModelSpec keyword arguments for a derived size (arch and extras included)."""
    kw = {"layers": size["layers"], "heads": size["heads"], "d_model": size["d_model"], "arch": size["arch"]}
    for k in EXTRAS:
        if k in size:
            v = size[k]
            kw[k] = int(v) if isinstance(v, float) and v.is_integer() and k != "capacity_factor" else v
    return kw


def check_model(size: dict, where: str) -> None:
    """The size is a model kcap can build, by ModelSpec's own checks (one line naming the field)."""
    from kcap.model.spec import ModelSpec

    try:
        ModelSpec(**model_kwargs(size))
    except KcapError as e:
        # ModelSpec names CLI options (--kv-heads); a spec names keys (kv_heads)
        msg = re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", "_"), str(e))
        raise SpecError(f"{where}model", msg) from None
