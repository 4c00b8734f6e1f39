"""The size ladder: every model size of a sweep derived from one base, OLMo-ladder style.

The base holds what all sizes share (arch options, head dimension, MLP ratio, ...); each ladder
entry states only what differs, usually depth and heads. Width follows from heads x head_dim when
the base fixes a head dimension (the paper's GPT2-l-h has l layers, h heads of dimension 64), so a
ladder reads ``[{layers: 1, heads: 1}, {layers: 2, heads: 2}, ...]`` and is never copied per size.
"""

from __future__ import annotations

from kcap.model.spec import ModelSpec
from kcap.sweep.schema import SpecError

BASE_DEFAULT = {k: getattr(ModelSpec, k) for k in ("layers", "heads", "d_model")}  # ModelSpec's defaults


def size_name(arch: str, size: dict) -> str:
    name = f"{arch}-{size['layers']}x{size['d_model']}x{size['heads']}"
    if "kv_heads" in size and size["kv_heads"] != size["heads"]:
        name += f"-kv{size['kv_heads']}"
    if "mlp_ratio" in size:
        name += f"-mlp{size['mlp_ratio']:g}"
    if size.get("experts", 0):
        name += f"-moe{size['experts']}k{size.get('top_k', 1)}"
    if size.get("tied") is False:
        name += "-untied"
    return name


def derive_sizes(arch: str, base: dict | None, ladder: list[dict] | None, path: str = "model") -> list[dict]:
    """Resolve each ladder entry against the base: a list of sizes with layers, heads, d_model,
    any extras (kv_heads, mlp_ratio, experts, top_k, capacity_factor, tied) and a name."""
    base = dict(BASE_DEFAULT if base is None else base)
    if "d_model" not in base and "head_dim" not in base:
        base["d_model"] = BASE_DEFAULT["d_model"]
    for k in ("layers", "heads"):
        base.setdefault(k, BASE_DEFAULT[k])
    sizes = []
    for i, entry in enumerate(ladder or [{}]):
        where = f"{path}.ladder[{i}]" if ladder else f"{path}.base"
        size = {**base, **entry}
        if "d_model" not in entry and "head_dim" in size:
            size["d_model"] = size["heads"] * size["head_dim"]  # width derived, not copied
        head_dim = size.pop("head_dim", None)
        if head_dim is not None and size["d_model"] != size["heads"] * head_dim:
            raise SpecError(where, f"d_model {size['d_model']} is not heads {size['heads']} x head_dim {head_dim}")
        if size["d_model"] % size["heads"] or (size["d_model"] // size["heads"]) % 2:
            raise SpecError(where, f"d_model {size['d_model']} must split into {size['heads']} heads of even size")
        if "kv_heads" in size and size["heads"] % size["kv_heads"]:
            raise SpecError(where, f"heads {size['heads']} must be a multiple of kv_heads {size['kv_heads']}")
        if size.get("experts", 0) and size.get("top_k", 1) > size["experts"]:
            raise SpecError(where, f"top_k {size.get('top_k', 1)} exceeds experts {size['experts']}")
        size["name"] = entry.get("name") or size_name(arch, size)
        sizes.append(size)
    return sizes
