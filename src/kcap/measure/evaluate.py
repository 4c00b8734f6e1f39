"""Measure a trained model on its dataset: losses, bits stored, per-attribute accuracy (bioS here;
bioD and random strings in their own modules, dispatched by ``measure_dataset``).

Each person is measured on one fixed rendering of their biography (the training rendering for
bioS simple), fed as ``[separator] biography`` exactly as in the training stream. Per token we
take the natural-log loss in float32 and whether the greedy (argmax) prediction is right; span
sums then come from cumulative sums, with no per-token Python.

Greedy generation of a value after its prompt reproduces the value exactly if and only if the
argmax under teacher forcing is right at every position of the value (each generated token then
feeds the same context as the true one), so exact-match accuracy needs no sampling loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_model

from kcap.corpus.render import A, render
from kcap.corpus.stream import BioStream, fixed_choices, make_stream
from kcap.device import resolve_device
from kcap.errors import KcapError
from kcap.knowledge.bios import BioSDataset
from kcap.knowledge.datasets import load_dataset
from kcap.knowledge.info import BIOS_ATTRIBUTE_CHOICES, bios_bits_max
from kcap.measure.bits import bios_bits
from kcap.model.gpt import GPT, GPTConfig
from kcap.model.params import param_breakdown
from kcap.store import rundir
from kcap.store.db import RunStore

VALUE_ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer")  # + gender


@torch.no_grad()
def token_losses(model: GPT, tokens: np.ndarray, offsets: np.ndarray, device: torch.device,
                 batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Per-biography (loss, wrong) arrays of shape (B, Lmax): position j holds the loss of token j
    given tokens < j (0 at j = 0), and whether the argmax prediction of token j is wrong.

    ``batch`` biographies go through the model in one forward, right-padded to the longest of
    them; the padding is gathered with one numpy index and masked out, with no per-token Python.
    Results do not depend on ``batch`` (up to float reassociation in the matmuls)."""
    lens = np.diff(offsets)
    B, L = len(lens), int(lens.max())
    loss = np.zeros((B, L), np.float32)
    wrong = np.zeros((B, L), np.int32)
    pad_cols = np.arange(L)
    for lo in range(0, B, batch):
        hi = min(lo + batch, B)
        n_tok = lens[lo:hi]
        width = int(n_tok.max())
        # right-pad with token 0: causal attention never lets padding influence real positions
        idx = offsets[lo:hi, None] + pad_cols[None, :width]
        mask = pad_cols[None, :width] < n_tok[:, None]
        x_np = np.where(mask, tokens[np.minimum(idx, len(tokens) - 1)], 0).astype(np.int64)
        x = torch.from_numpy(x_np).to(device, non_blocking=True)
        # fp32 on every device: bits are a sum of tiny per-token losses, which bf16 would round
        logits = model(x[:, :-1])
        target = x[:, 1:]
        # fused log-softmax + gather: no (rows, T, V) log-probability tensor next to the logits
        flat = logits.float().reshape(-1, logits.size(-1))
        nll = F.cross_entropy(flat, target.reshape(-1), reduction="none").view(target.shape)
        miss = logits.argmax(-1) != target
        m = torch.from_numpy(mask[:, 1:]).to(device)
        loss[lo:hi, 1:width] = (nll * m).cpu().numpy()
        wrong[lo:hi, 1:width] = (miss & m).cpu().numpy()
    return loss, wrong


def default_batch(device: torch.device) -> int:
    """Biographies per forward: a GPU wants thousands of rows in flight; on a CPU, 32 rows keep the
    logits (rows x ~130 x vocab floats) in cache and were 1.4-3x faster than 128 (docs/benchmarks.md)."""
    return 1024 if device.type == "cuda" else 32


def _span_sums(values: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Sum of values[b, start_b : start_b + length_b] for every row b."""
    cs = np.concatenate([np.zeros((len(values), 1), values.dtype), np.cumsum(values, axis=1)], axis=1)
    rows = np.arange(len(values))
    return cs[rows, start + length] - cs[rows, start]


def measure_model(model: GPT, dataset: BioSDataset, params: dict, device: torch.device | str = "cpu",
                  batch: int | None = None, chunk: int = 8192) -> dict:
    """Bits stored by ``model`` about ``dataset``, with losses and accuracy per attribute."""
    device = torch.device(device)
    batch = batch or default_batch(device)
    model = model.to(device).eval()
    stream = BioStream(dataset, exposures=1)
    templates, order = fixed_choices(dataset, stream.atlas)
    n = dataset.n_people
    name_loss = np.zeros(n)
    attr_loss = {a: np.zeros(n) for a in BIOS_ATTRIBUTE_CHOICES}
    attr_ok = {a: np.zeros(n, bool) for a in BIOS_ATTRIBUTE_CHOICES}
    for lo in range(0, n, chunk):
        sl = slice(lo, min(lo + chunk, n))
        r = render(stream.atlas, dataset.people[sl], templates[sl], order[sl], spans=True)
        loss, wrong = token_losses(model, r.tokens, r.offsets, device, batch)
        loss = loss.astype(np.float64)
        name_loss[sl] = _span_sums(loss, r.name_span[:, 0], r.name_span[:, 1])
        for a in VALUE_ATTRIBUTES:
            s, ln = r.value_spans[:, A[a], 0], r.value_spans[:, A[a], 1]
            attr_loss[a][sl] = _span_sums(loss, s, ln)
            attr_ok[a][sl] = _span_sums(wrong, s, ln) == 0
        g = r.gender_pos
        attr_loss["gender"][sl] = loss[np.arange(len(g)), g]
        attr_ok["gender"][sl] = wrong[np.arange(len(g)), g] == 0
    p1 = float(name_loss.mean())
    losses = {a: float(v.mean()) for a, v in attr_loss.items()}
    bits = bios_bits(n, p1, losses)
    bmax = bios_bits_max(n)
    out = summary(n, params, bits, bmax["total"], {"name": bmax["name"], "values": bmax["values"]})
    out.update({
        "name_loss": p1,
        "value_loss": sum(losses.values()),
        "attributes": {a: {"loss": losses[a], "accuracy": float(attr_ok[a].mean()),
                           "bits": bits["attributes"][a]} for a in BIOS_ATTRIBUTE_CHOICES},
    })
    return out


def summary(people: int, params: dict, bits: dict, bits_max: float, bits_max_terms: dict) -> dict:
    """The fields every measurement reports, whatever the dataset kind."""
    total = params["total"]
    return {
        "people": people,
        "params": total,
        "params_breakdown": params,
        "bits": bits["total"],
        "bits_max": bits_max,
        "bits_per_param": bits["total"] / total,
        "bits_max_per_param": bits_max / total,
        "fraction_stored": bits["total"] / bits_max,
        "bits_terms": {k: v for k, v in bits.items() if k not in ("total", "attributes")},
        "bits_max_terms": bits_max_terms,
    }


def measure_dataset(model: torch.nn.Module, dataset, params: dict, device: torch.device | str = "cpu",
                    batch: int | None = None) -> dict:
    """Bits stored by ``model`` about any kind of dataset (bioS, bioD, random strings)."""
    device = torch.device(device)
    batch = batch or default_batch(device)
    model = model.to(device).eval()
    if dataset.kind == "bioD":
        from kcap.measure.biod import measure_biod

        return {"kind": "bioD", **measure_biod(model, dataset, params, device, batch)}
    if dataset.kind == "random":
        from kcap.measure.random_strings import measure_random

        return {"kind": "random", **measure_random(model, dataset, params, device, batch)}
    return {"kind": "bioS", **measure_model(model, dataset, params, device, batch)}


def bits_probe(data: Path):
    """A training probe that measures bits stored by the current model (see ``train(probe=...)``)."""
    dataset = load_dataset(data)
    used = make_stream(dataset, 1).used_tokens()

    def probe(model: GPT) -> dict:
        params = param_breakdown(model, used_tokens=used)
        return {"bits": measure_dataset(model, dataset, params, next(model.parameters()).device)["bits"]}

    return probe


def load_run_model(run: Path) -> tuple[dict, GPT]:
    """A run's config and its trained model (on CPU)."""
    config = rundir.read_config(run)
    weights = Path(run) / rundir.WEIGHTS
    if not weights.is_file():
        raise KcapError(f"{run} has no trained weights ({rundir.WEIGHTS}); did training finish?")
    model_cfg = {k: v for k, v in config["model"].items() if k != "arch"}
    model = GPT(GPTConfig(**model_cfg))
    try:
        load_model(model, str(weights))
    except Exception as e:  # safetensors raises several types for truncated/garbled files
        raise KcapError(f"{weights} is corrupted or does not match the run config: {e}") from None
    return config, model


def measure_run(run: Path, device: str = "auto", record: bool = True, data: Path | None = None) -> dict:
    """Measure a finished run, write RUN/measure.json and record the results in the store.

    ``data`` points at the run's dataset if it has moved since training (checked by checksum)."""
    config, model = load_run_model(run)
    dataset = load_dataset(Path(data) if data is not None else Path(config["data"]["path"]))
    if dataset.meta["files"] != config["data"]["files"]:
        raise KcapError(f"dataset {dataset.path} is not the one run {run} was trained on (checksums differ)")
    results = {"id": config["id"], **measure_dataset(model, dataset, config["params"], resolve_device(device))}
    rundir.write_json(Path(run) / rundir.MEASURE, results)
    if record:
        with RunStore() as store:
            store.record_results(config["id"], results)
    return results
