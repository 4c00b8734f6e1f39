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
from kcap.measure.quantize import method_name, quantize_model
from kcap.model.build import build_model, config_from_dict
from kcap.model.params import param_breakdown
from kcap.store import rundir
from kcap.store.db import RunStore

VALUE_ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer")  # + gender


@torch.no_grad()
def token_losses(model: torch.nn.Module, tokens: np.ndarray, offsets: np.ndarray, device: torch.device,
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


def measure_model(model: torch.nn.Module, dataset: BioSDataset, params: dict, device: torch.device | str = "cpu",
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

    def probe(model: torch.nn.Module) -> dict:
        params = param_breakdown(model, used_tokens=used)
        return {"bits": measure_dataset(model, dataset, params, next(model.parameters()).device)["bits"]}

    return probe


def load_run_model(run: Path) -> tuple[dict, torch.nn.Module]:
    """A run's config and its trained model (on CPU)."""
    config = rundir.check_run(run, verify=True)  # a partial or corrupted run is refused, never measured
    weights = Path(run) / rundir.WEIGHTS
    try:
        model_cfg = config_from_dict(config["model"])
    except (TypeError, ValueError, KeyError) as e:
        raise KcapError(f"{run}/{rundir.CONFIG}: unusable model section: {e}") from None
    model = build_model(model_cfg)
    try:
        load_model(model, str(weights))
    except Exception as e:  # safetensors raises several types for truncated/garbled files
        raise KcapError(f"{weights} is corrupted or does not match the run config: {e}") from None
    return config, model


def run_dataset(run: Path, config: dict, data: Path | None = None):
    """The dataset a run was trained on (``data``: where it is now, if it moved; checked by checksum)."""
    dataset = load_dataset(Path(data) if data is not None else Path(config["data"]["path"]))
    if dataset.meta["files"] != config["data"]["files"]:
        raise KcapError(f"dataset {dataset.path} is not the one run {run} was trained on (checksums differ)")
    return dataset


def measure_run(run: Path, device: str = "auto", record: bool = True, data: Path | None = None,
                quantize: str | None = None, group_size: int | None = None) -> dict:
    """Measure a finished run, write RUN/measure.json and record the results in the store.

    ``data`` points at the run's dataset if it has moved since training (checked by checksum).
    With ``quantize`` (int8, int4) the weights are quantized first (measure/quantize.py); the
    result goes to RUN/measure-<method>.json and beside the full-precision one in the store."""
    config, model = load_run_model(run)
    dataset = run_dataset(run, config, data)
    method = None
    if quantize is not None:
        model = quantize_model(model, quantize, group_size)
        method = method_name(quantize, group_size)
    elif group_size is not None:
        raise KcapError("--group-size applies to --quantize only")
    results = {"id": config["id"], **measure_dataset(model, dataset, config["params"], resolve_device(device))}
    if method is None:
        rundir.write_json(Path(run) / rundir.MEASURE, results)
    else:
        results["quantization"] = {"method": quantize, "group_size": group_size, "name": method}
        rundir.write_json(Path(run) / rundir.quantized_measure(method), results)
    if record:
        with RunStore() as store:
            if method is None:
                store.record_results(config["id"], results)
            else:
                store.record_quantized(config["id"], method, results)
    return results


def measure_hf(path: Path, data: Path, device: str = "auto") -> dict:
    """Measure a local Hugging Face causal LM on a dataset, by the same code as our runs.

    The model's tokenizer must give the dataset's token ids (as a ``kcap export`` does)."""
    from kcap.model.hf import load_hf

    dataset = load_dataset(Path(data))
    model = load_hf(path, dataset.vocab())
    params = param_breakdown(model, used_tokens=make_stream(dataset, 1).used_tokens())
    return {"hf": str(path), **measure_dataset(model, dataset, params, resolve_device(device))}


def export_run(run: Path, out: Path, data: Path | None = None) -> dict:
    """Export a run's model and its dataset's tokenizer as a Hugging Face directory (model/hf.py)."""
    from kcap.knowledge.tokenizer import SEPARATOR, UNKNOWN
    from kcap.model.hf import export_hf

    config, model = load_run_model(run)
    dataset = run_dataset(run, config, data)
    return {"id": config["id"], **export_hf(model, dataset.tokenizer_path, out, SEPARATOR, UNKNOWN)}
