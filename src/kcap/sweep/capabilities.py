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
    """A function ``write(out, data)`` that generates a dataset of this kind from the spec's
    ``data`` parameters, or None if kcap cannot generate that kind."""
    if kind == "bioS":
        from kcap.knowledge.bios import write_bios

        def write(out, d):
            junk = {JUNK_PARAMS[k]: v for k, v in d.get("junk", {}).items()}
            return write_bios(out, d["people"], d["seed"], d["variant"], **junk)

        write.accepts = set(inspect.signature(write_bios).parameters)
        return write
    if kind == "bioD" and importlib.util.find_spec("kcap.knowledge.biod"):
        from kcap.knowledge.biod import write_biod

        def write(out, d):
            return write_biod(out, biod_spec(d), d["seed"], d["variant"])

        write.accepts = set()
        return write
    if kind == "random" and importlib.util.find_spec("kcap.knowledge.random_strings"):
        from kcap.knowledge.random_strings import write_random

        def write(out, d):
            return write_random(out, d["people"], d["random"]["length"], d["random"]["alphabet"], d["seed"])

        write.accepts = set()
        return write
    return None


def biod_spec(d: dict):
    """The bioD(N, K, C, D, L, T) of a spec's data, checked by kcap's own BioDSpec."""
    from kcap.knowledge.biod import BioDSpec

    return BioDSpec(people=d["people"], **d["biod"])


def check_data(d: dict, where: str) -> None:
    """The kind-specific data parameters are complete and valid (before anything is generated)."""
    kind = d["kind"]
    need = {"bioD": ("biod", ("attributes", "chunks", "diversity", "chunk_len", "alphabet")),
            "random": ("random", ("length", "alphabet"))}.get(kind)
    if need:
        sub, keys = need
        missing = [k for k in keys if k not in d.get(sub, {})]
        if missing:
            raise SpecError(f"{where}data.{sub}", f"kind {kind} needs {', '.join(missing)}")
    if dataset_writer(kind) is None:
        return  # refused by check_run, but plannable
    try:
        if kind == "bioD":
            biod_spec(d)
        elif kind == "random":
            from kcap.knowledge.random_strings import check_random_args

            check_random_args(d["people"], d["random"]["length"], d["random"]["alphabet"])
    except KcapError as e:
        raise SpecError(f"{where}data.{need[0]}", str(e)) from None


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
            v = size[k]
            kw[k] = int(v) if isinstance(v, float) and v.is_integer() else v  # mlp_ratio 4.0 -> 4
    return kw


def check_run(run) -> None:
    """Fail with the field path if ``run`` (a PlannedRun) needs something this kcap cannot do."""
    kind = run.data["kind"]
    writer = dataset_writer(kind)
    if writer is None:
        raise SpecError("data.kind", f"dataset kind {kind!r} is not available in this kcap yet")
    for k in run.data.get("junk", {}):
        if JUNK_PARAMS[k] not in writer.accepts:
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
