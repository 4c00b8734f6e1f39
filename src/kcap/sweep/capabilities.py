"""What this kcap can actually run: the one place where spec options meet the code.

The spec schema holds every option the paper's experiments need; some (LLaMA/Mistral, MoE, junk
data, bioD, quantized measurement, precision) arrive in kcap piece by piece. Each is detected here
by looking at the code itself (a ``ModelSpec`` field, a ``write_bios`` parameter, a module), so a
feature that lands is picked up without touching the sweep, and a spec asking for one that has not
landed fails before any run starts, naming the field.
"""

from __future__ import annotations

import importlib.util
import inspect
from dataclasses import fields

from kcap.errors import KcapError
from kcap.sweep.schema import SpecError

# Values of model extras that mean "the plain model", which every arch supports without the option.
NEUTRAL = {"mlp_ratio": 4, "experts": 1, "top_k": 1}
JUNK_PARAMS = {"fraction": "junk_fraction", "people": "junk_people", "domain_token": "domain_token"}


def arch_available(arch: str) -> bool:
    from kcap.model.spec import ModelSpec

    try:
        ModelSpec(arch=arch)
    except KcapError:
        return False
    return True


def model_fields() -> set[str]:
    from kcap.model.spec import ModelSpec

    return {f.name for f in fields(ModelSpec)}


def train_fields() -> set[str]:
    from kcap.train.config import TrainConfig

    return {f.name for f in fields(TrainConfig)}


def dataset_writer(kind: str):
    """The function that generates a dataset of this kind, or None if kcap cannot yet."""
    if kind == "bioS":
        from kcap.knowledge.bios import write_bios

        return write_bios
    return None


def quantize_available(mode: str) -> bool:
    return mode == "none" or importlib.util.find_spec("kcap.measure.quantize") is not None


NEUTRAL_KEYS = ("kv_heads", "mlp_ratio", "experts", "top_k")


def is_neutral(size: dict, key: str) -> bool:
    return size[key] == (size["heads"] if key == "kv_heads" else NEUTRAL[key])


def model_kwargs(size: dict) -> dict:
    """ModelSpec keyword arguments for a derived size (arch included). Extras the code does not
    know are dropped when they ask for the plain model (``check_run`` refuses the others)."""
    have = model_fields()
    kw = {"layers": size["layers"], "heads": size["heads"], "d_model": size["d_model"], "arch": size["arch"]}
    for k in NEUTRAL_KEYS:
        if k in size and (k in have or not is_neutral(size, k)):
            kw[k] = size[k]
    return kw


def check_run(run) -> None:
    """Fail with the field path if ``run`` (a PlannedRun) needs something this kcap cannot do."""
    kind = run.data["kind"]
    if dataset_writer(kind) is None:
        raise SpecError("data.kind", f"dataset kind {kind!r} is not available in this kcap yet (available: bioS)")
    if "junk" in run.data:
        params = inspect.signature(dataset_writer(kind)).parameters
        for k in run.data["junk"]:
            if JUNK_PARAMS[k] not in params:
                raise SpecError(f"data.junk.{k}", "junk data is not available in this kcap yet")
    have = model_fields()
    for k in NEUTRAL_KEYS:
        if k in run.model and k not in have and not is_neutral(run.model, k):
            raise SpecError(f"model.{k}", f"{run.model[k]!r} needs {k} support, which this kcap does not have yet")
    if not arch_available(run.model["arch"]):
        raise SpecError("model.arch", f"arch {run.model['arch']!r} is not available in this kcap yet (available: gpt2)")
    if "precision" in run.options and "precision" not in train_fields():
        raise SpecError("train.precision", "choosing the precision is not available in this kcap yet")
    for q in run.measure["quantize"]:
        if not quantize_available(q):
            raise SpecError("measure.quantize", f"{q!r} quantization is not available in this kcap yet")
