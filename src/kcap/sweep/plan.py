"""From a validated spec to the list of runs: grid and list expansion, paper defaults, run ids,
dataset identities, and estimated tokens, parameters and FLOPs.

Planning writes nothing and generates no dataset. Estimates come from a sample population (the
real one when N <= 20,000): vocabulary, mean biography length and the longest possible biography
are exact or close; parameters and FLOPs come from ``kcap.model`` (a model built on the meta
device, so a billion-parameter plan costs no memory).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field
from pathlib import Path

from kcap.errors import KcapError
from kcap.kinds import KINDS, get_kind
from kcap.store.workspace import workspace_dir
from kcap.sweep import bindings
from kcap.sweep.ladder import derive_sizes
from kcap.sweep.schema import SpecError
from kcap.train.config import TrainConfig

DATA_DEFAULTS = {"kind": "bioS", "seed": 0}  # variant: the kind's first
# spec train keys that are not TrainConfig fields: they travel as run options
RUN_OPTIONS = ("track_bits",)
# train settings added after sweep ids were first hashed: left out of the id at their defaults, so
# every planned run keeps its id (and its finished run directory)
SINCE_IDS = ("schedule", "decay_fraction", "eval_spacing", "popularity")


@dataclass
class PlannedRun:
    key: str  # hash of the fully resolved run (data identity, model, training): the run id
    name: str
    data: dict  # dataset generation parameters
    dataset_key: str  # hash of ``data``: one dataset per key, shared by every run using it
    model: dict  # arch, layers, heads, d_model, extras, name
    train: dict  # TrainConfig fields, resolved (paper defaults filled for N)
    options: dict  # track_bits
    measure: dict  # enabled, quantize (list)
    origin: str  # where in the spec it came from ("" or "runs[i]")
    est: dict = field(default_factory=dict)  # tokens, steps, params, flops (estimates)

    @property
    def workspace(self) -> Path:
        return workspace_dir()

    @property
    def run_dir(self) -> Path:
        return workspace_dir() / "runs" / self.key

    @property
    def dataset_dir(self) -> Path:
        d = self.data
        return workspace_dir() / "datasets" / f"{d['kind']}-{d['variant']}-N{d['people']}-{self.dataset_key}"

    def to_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "data": self.data, "dataset_key": self.dataset_key,
                "model": self.model, "train": self.train, "options": self.options, "measure": self.measure,
                "origin": self.origin, "est": self.est}

    @classmethod
    def from_dict(cls, d: dict) -> PlannedRun:
        return cls(**d)


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def _merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``, recursively for mappings; lists and scalars are replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _axes(tree: dict, path: tuple) -> list[tuple[tuple, list]]:
    """(path, values) of every list-valued leaf under ``tree``: the grid's axes, in spec order."""
    out = []
    for k, v in tree.items():
        if isinstance(v, dict):
            out += _axes(v, path + (k,))
        elif isinstance(v, list):
            out.append((path + (k,), v))
    return out


def _set(tree: dict, path: tuple, value) -> None:
    for k in path[:-1]:
        tree = tree[k]
    tree[path[-1]] = value


def _dataset_params(data: dict, where: str) -> dict:
    from kcap.knowledge.pools import POOL_VERSION

    kind = get_kind(data.get("kind", DATA_DEFAULTS["kind"]))
    d = {**DATA_DEFAULTS, "variant": kind.variants[0], **data}
    for other in KINDS.values():  # another kind's section is a mistake, not a silent no-op
        if other.spec_section and other.spec_section in d and other is not kind:
            raise SpecError(f"{where}data.{other.spec_section}", f"applies to data.kind {other.name}, not {kind.name}")
    if "variant" in data and d["variant"] not in kind.variants:
        raise SpecError(f"{where}data.variant", f"{kind.name} has no variant {d['variant']!r}"
                        + (f" (choose from {', '.join(kind.variants)})" if len(kind.variants) > 1 else ""))
    if kind.uses_pools:  # a dataset made from the pools is another dataset when they change
        d["pool_version"] = POOL_VERSION
    bindings.check_data(d, where)
    return d


def expand(tree: dict) -> list[PlannedRun]:
    """Every run of a validated spec, in a stable order, without duplicates."""
    sections = {k: tree.get(k, {}) for k in ("data", "model", "train", "measure")}
    sections["seeds"] = tree.get("seeds", [0])
    entries = tree.get("runs") or [{}]
    runs: dict[str, PlannedRun] = {}
    for i, entry in enumerate(entries):
        where = f"runs[{i}]." if "runs" in tree else ""
        spec = _merge(sections, {k: v for k, v in entry.items() if k != "name"})
        if "people" not in spec["data"]:
            raise SpecError(f"{where}data.people", "is required (the population size N)")
        seeds = spec.pop("seeds")
        ladder_src = spec["model"].pop("ladder", None)
        base = spec["model"].pop("base", None)
        measure = spec.pop("measure")
        grid = {k: spec[k] for k in ("data", "model", "train")}
        axes = _axes(grid, ())
        for combo in itertools.product(*(vals for _, vals in axes), seeds if isinstance(seeds, list) else [seeds]):
            point = copy.deepcopy(grid)
            for (path, _), value in zip(axes, combo[:-1]):
                _set(point, path, value)
            arch = point["model"].get("arch", "gpt2")
            # grid values the standard name does not show (people, exposures, seed, size do)
            tags = [f"{path[-1]}={value}" for (path, _), value in zip(axes, combo[:-1])
                    if path not in (("data", "people"), ("train", "exposures"), ("model", "arch"))
                    and path[:2] not in (("data", "kind"), ("data", "variant"), ("data", "junk"))]
            for size in derive_sizes(arch, base, ladder_src, path=f"{where}model"):
                run = _resolve(point, {**size, "arch": arch}, combo[-1], measure, where, entry.get("name"), tags)
                runs.setdefault(run.key, run)
    return list(runs.values())


def _resolve(point: dict, size: dict, seed: int, measure: dict, where: str, label: str | None,
             tags: list[str]) -> PlannedRun:
    data = _dataset_params(point["data"], where)
    spec_train = dict(point["train"])
    options = {k: spec_train.pop(k) for k in RUN_OPTIONS if k in spec_train}
    options.setdefault("track_bits", False)
    try:
        cfg = TrainConfig(**spec_train, seed=seed).resolved(data["people"])
    except KcapError as e:
        raise SpecError(f"{where}train", str(e)) from None
    _check_device(cfg, where)
    train = cfg.to_dict()
    model = {k: v for k, v in size.items()}
    bindings.check_model(model, where)
    # the id hashes what defines the run: extras left at the plain model's value (mlp_ratio 4, no
    # experts, kv_heads = heads) are the same run as leaving them out
    ident = {k: v for k, v in model.items()
             if k != "name" and not (k in bindings.EXTRAS and bindings.is_neutral(model, k))}
    defaults = TrainConfig()
    train_ident = {k: v for k, v in train.items() if not (k in SINCE_IDS and v == getattr(defaults, k))}
    key = _hash({"data": data, "model": ident, "train": train_ident, "options": options})
    quantize = measure.get("quantize", "none")
    measure = {"enabled": measure.get("enabled", True), "quantize": quantize if isinstance(quantize, list) else [quantize]}
    parts = [label, model["name"]] if label else [model["name"]]
    name = "-".join(parts + get_kind(data["kind"]).name_tags(data) + [f"N{data['people']}", f"E{train['exposures']}", f"s{seed}"] + tags)
    return PlannedRun(key=key, name=name, data=data, dataset_key=_hash(data), model=model, train=train,
                      options=options, measure=measure, origin=where.rstrip("."))


def _check_device(cfg: TrainConfig, where: str) -> None:
    """The device is one torch knows, and fp16 is asked on CUDA only (whether this machine has
    the GPU is checked when the sweep runs here: a plan may be made for a cluster)."""
    import torch

    try:
        dev = torch.device("cuda" if cfg.device == "auto" else cfg.device)
    except RuntimeError:
        raise SpecError(f"{where}train.device", f"{cfg.device!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if cfg.precision == "fp16" and dev.type != "cuda":
        raise SpecError(f"{where}train.precision", f"fp16 needs a CUDA device, not {cfg.device}")


@contextmanager
def _no_init():
    """Skip weight initialization while a model is built for its shapes: on the meta device every
    init op still goes through torch's dispatch, which made planning a large sweep take seconds."""
    from torch.nn import init

    names = [n for n in dir(init) if n.endswith("_") and not n.startswith("_") and callable(getattr(init, n))]
    saved = {n: getattr(init, n) for n in names}
    try:
        for n in names:
            setattr(init, n, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for n, f in saved.items():
            setattr(init, n, f)


def estimate(run: PlannedRun) -> dict:
    """Estimated stream tokens, optimizer steps, parameters and training FLOPs of a run; checks
    that the window holds a whole document (measurement needs it). Parameters are counted on the
    model itself, built on the meta device (MoE: total and active per token)."""
    import torch

    from kcap.model.flops import train_flops_per_token
    from kcap.model.spec import ModelSpec

    d, t = run.data, run.train
    vocab, mean_len, longest, useful = astuple(get_kind(d["kind"]).estimate(d))
    if t["seq"] < longest:
        raise SpecError(f"{run.origin + '.' if run.origin else ''}train.seq",
                        f"{t['seq']} is shorter than a biography can be ({longest} tokens)")
    tokens = d["people"] * t["exposures"] * mean_len / useful  # junk: that share of all tokens is not useful
    steps = math.ceil(tokens / t["seq"] / t["batch"])
    from kcap.model.build import build_model
    from kcap.model.params import param_breakdown

    cfg = ModelSpec(**bindings.model_kwargs(run.model)).config(vocab, t["seq"])
    with torch.device("meta"), _no_init():  # shapes only: no memory, no init
        model = build_model(cfg)
    counts = param_breakdown(model, used_tokens=vocab - 1)
    params, active = counts["total"], counts["active"]
    flops = train_flops_per_token(cfg, t["seq"]) * tokens
    return {"tokens": int(tokens), "steps": steps, "params": params, "active_params": active, "flops": flops}


def plan(tree: dict) -> list[PlannedRun]:
    runs = expand(tree)
    for r in runs:
        r.est = estimate(r)
    return runs
