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
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from kcap.errors import KcapError
from kcap.store.workspace import workspace_dir
from kcap.sweep import bindings
from kcap.sweep.ladder import derive_sizes
from kcap.sweep.schema import SpecError
from kcap.train.config import TrainConfig

DATA_DEFAULTS = {"kind": "bioS", "variant": "multi", "seed": 0}
SAMPLE_PEOPLE = 20_000
# spec train keys that are not TrainConfig fields: they travel as run options
RUN_OPTIONS = ("track_bits",)


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

    d = {**DATA_DEFAULTS, **data}
    for sub, kind in (("biod", "bioD"), ("random", "random"), ("junk", "bioS")):
        if sub in d and d["kind"] != kind:
            raise SpecError(f"{where}data.{sub}", f"applies to data.kind {kind}, not {d['kind']}")
    if d["kind"] == "random":
        if "variant" in data:
            raise SpecError(f"{where}data.variant", "random strings have no variant")
        d["variant"] = "plain"
    else:
        d["pool_version"] = POOL_VERSION  # names (and bioS attributes) come from the pools
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


def _data_tags(d: dict) -> list[str]:
    """What a run's name says about its data beyond N: kind, variant, junk (bioS multi: nothing)."""
    tags = [] if d["kind"] == "bioS" else [d["kind"]]
    if d["variant"] == "simple":
        tags.append("simple")
    junk = d.get("junk", {})
    if junk.get("fraction"):
        tags.append(f"junk{junk['fraction']:g}" + (f"x{junk['people']}" if "people" in junk else ""))
    if junk.get("domain_token"):
        tags.append("domain")
    return tags


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
    key = _hash({"data": data, "model": ident, "train": train, "options": options})
    quantize = measure.get("quantize", "none")
    measure = {"enabled": measure.get("enabled", True), "quantize": quantize if isinstance(quantize, list) else [quantize]}
    parts = [label, model["name"]] if label else [model["name"]]
    name = "-".join(parts + _data_tags(data) + [f"N{data['people']}", f"E{train['exposures']}", f"s{seed}"] + tags)
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


@lru_cache(maxsize=64)
def _bios_stats(people: int, seed: int, full_vocab: bool) -> tuple[int, float, int]:
    """(vocabulary size, mean biography tokens, longest possible biography) of a bioS population,
    from the population itself up to SAMPLE_PEOPLE people, else from a sample of that size.
    ``full_vocab``: the dataset's vocabulary holds every pool word (fresh junk people)."""
    from kcap.corpus.render import Atlas, bio_lengths, draw_choices
    from kcap.knowledge.bios import all_words, generate_people, used_words
    from kcap.knowledge.pools import load_pools
    from kcap.knowledge.tokenizer import build_tokenizer

    pools = load_pools()
    pop = generate_people(min(people, SAMPLE_PEOPLE), seed, pools)
    words = used_words(pop, pools) | (all_words(pools) if full_vocab else set())
    vocab = build_tokenizer(words).get_vocab()
    atlas = Atlas.build(pools, vocab)
    templates, _ = draw_choices(np.random.default_rng(seed), len(pop), atlas.n_templates)
    return len(vocab), float(bio_lengths(atlas, pop, templates).mean()), atlas.max_bio_tokens()


@lru_cache(maxsize=64)
def _name_stats(people: int, seed: int) -> tuple[int, float, int]:
    """(distinct name words, mean and longest full-name tokens) of a population's names (sampled)."""
    from kcap.knowledge.bios import generate_people
    from kcap.knowledge.pools import load_pools
    from kcap.knowledge.tokenizer import split_words

    pools = load_pools()
    pop = generate_people(min(people, SAMPLE_PEOPLE), seed, pools)
    tables = (pools.first_names, pools.middle_names, pools.last_names)
    lens = [np.array([len(split_words(t)) for t in table]) for table in tables]
    words = {w for j, table in enumerate(tables) for i in np.unique(pop[:, j]).tolist() for w in split_words(table[i])}
    mean = float(sum(lens[j][pop[:, j].astype(np.int64)].mean() for j in range(3)))
    return len(words), mean, int(sum(x.max() for x in lens))


def _stream_stats(d: dict) -> tuple[int, float, int, float]:
    """(vocabulary, mean and longest document tokens, useful share of the stream) of a dataset."""
    if d["kind"] == "random":
        length, alphabet = d["random"]["length"], d["random"]["alphabet"]
        return min(alphabet, d["people"] * length) + 2, length + 1.0, length + 1, 1.0
    if d["kind"] == "bioD":
        b = d["biod"]
        words, mean_name, max_name = _name_stats(d["people"], d["seed"])
        sentences = b["attributes"] * (b["chunks"] * b["chunk_len"] + 3)  # "attr : value ." per attribute
        symbols = min(b["alphabet"], b["attributes"] * b["diversity"] * b["chunk_len"])
        vocab = 2 + 2 + b["attributes"] + symbols + words  # specials, ":" ".", attribute words
        return vocab, 1 + mean_name + sentences, 1 + max_name + sentences, 1.0
    junk = d.get("junk", {})
    fraction = junk.get("fraction", 0.0)
    vocab, mean_len, longest = _bios_stats(d["people"], d["seed"], fraction > 0 and "people" not in junk)
    if "people" in junk:  # a fixed junk population adds its own words (as many as that many more people)
        vocab = _bios_stats(d["people"] + junk["people"], d["seed"], False)[0]
    domain = int(bool(junk.get("domain_token")))
    return vocab + domain, mean_len + domain, longest + domain, 1 - fraction


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
    vocab, mean_len, longest, useful = _stream_stats(d)
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
