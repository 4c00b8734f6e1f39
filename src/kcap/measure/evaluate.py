"""Measure a trained run, a model or a Hugging Face directory on its dataset, whatever its kind:
the kind's own measurement (``kcap.kinds``) on the model, then the run directory and the store.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_model

from kcap.device import resolve_device
from kcap.errors import KcapError
from kcap.kinds import get_kind, load_dataset, make_stream
from kcap.measure.losses import CONTEXTS, default_batch
from kcap.measure.quantize import check_quantize, method_name, quantize_model
from kcap.model.build import build_model, config_from_dict
from kcap.model.params import param_breakdown
from kcap.outdir import busy, check_out_dir
from kcap.store import rundir
from kcap.store.db import RunStore


def measure_model(model: torch.nn.Module, dataset, params: dict, device: torch.device | str = "cpu",
                  batch: int | None = None, context: str = "previous") -> dict:
    """Bits stored by ``model`` about a dataset of any kind, with the kind's own terms and accuracy.

    ``context``: each document read after the previous one, as in training (the headline), or
    ``"none"``, alone (see ``kcap.measure.losses.token_losses``)."""
    if context not in CONTEXTS:
        raise KcapError(f"--context must be one of {', '.join(CONTEXTS)}, got {context!r}")
    device = torch.device(device)
    batch = batch or default_batch(device)
    model = model.to(device).eval()
    return {"kind": dataset.kind, "context": context,
            **get_kind(dataset.kind).measure(model, dataset, params, device, batch, context)}


def bits_probe(data: Path):
    """A training probe that measures bits stored by the current model (see ``train(probe=...)``)."""
    dataset = load_dataset(data)
    used = make_stream(dataset, 1).used_tokens()

    def probe(model: torch.nn.Module) -> dict:
        params = param_breakdown(model, used_tokens=used)
        return {"bits": measure_model(model, dataset, params, next(model.parameters()).device)["bits"]}

    return probe


def load_run_model(run: Path) -> tuple[dict, torch.nn.Module]:
    """A run's config and its trained model (on CPU)."""
    holder = busy(run)
    if holder is not None:  # its files are being replaced: config and weights may not belong together
        raise KcapError(f"run {run} is being trained now by {holder}; use it when training ends")
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


def checked_params(run: Path, config: dict, model: torch.nn.Module, dataset) -> dict:
    """The run's parameter breakdown (config.json's ``params``, which bits per parameter divide
    by), checked against the model's own count: the run id hashes data, model and training, not
    this section, so an edit to it would otherwise pass into every number per parameter."""
    stored = config.get("params")
    own = param_breakdown(model, used_tokens=make_stream(dataset, 1, config["train"].get("seed", 0)).used_tokens())
    if not isinstance(stored, dict) or any(stored.get(k) != v for k, v in own.items() if k in stored) \
            or not isinstance(stored.get("total"), int):
        raise KcapError(f"{Path(run) / rundir.CONFIG} was altered: its params do not match the model's own count "
                        f"({own['total']:,} parameters)")
    return stored


def measure_run(run: Path, device: str = "auto", record: bool = True, data: Path | None = None,
                quantize: str | None = None, group_size: int | None = None, context: str = "previous") -> dict:
    """Measure a finished run, write RUN/measure.json and record the results in the store.

    ``data`` points at the run's dataset if it has moved since training (checked by checksum).
    With ``quantize`` (int8, int4) the weights are quantized first (measure/quantize.py); the
    result goes to RUN/measure-<method>.json and beside the full-precision one in the store.
    ``context="none"`` (documents alone, a diagnostic) is returned only, never recorded: the run
    directory and the store hold the measurement in the training context."""
    check_quantize(quantize, group_size)  # the options first: a bad one is refused before any work
    if context not in CONTEXTS:
        raise KcapError(f"--context must be one of {', '.join(CONTEXTS)}, got {context!r}")
    record = record and context == "previous"
    dev = resolve_device(device)
    config, model = load_run_model(run)
    dataset = run_dataset(run, config, data)
    params = checked_params(run, config, model, dataset)
    sha = rundir.read_json(Path(run) / rundir.SUMMARY, "training summary").get("weights_sha256")
    if record:  # a measurement the store would refuse is refused before it is made (or written)
        with RunStore() as store:
            store.check_measurable(config["id"], sha)
    method = None
    if quantize is not None:
        model = quantize_model(model, quantize, group_size)
        method = method_name(quantize, group_size)
    results = {"id": config["id"], **measure_model(model, dataset, params, dev, context=context)}
    if context != "previous":
        return results
    if method is None:
        rundir.write_json(Path(run) / rundir.MEASURE, results)
    else:
        results["quantization"] = {"method": quantize, "group_size": group_size, "name": method}
        rundir.write_json(Path(run) / rundir.quantized_measure(method), results)
    if record:  # checked again in the write's transaction
        with RunStore() as store:
            if method is None:
                store.record_results(config["id"], results, sha, run_dir=Path(run))
            else:
                store.record_quantized(config["id"], method, results, sha)
    return results


def measure_hf(path: Path, data: Path, device: str = "auto", context: str = "previous") -> dict:
    """Measure a local Hugging Face causal LM on a dataset, by the same code as our runs.

    The model's tokenizer must give the dataset's token ids (as a ``kcap export`` does)."""
    from kcap.model.hf import load_hf

    dataset = load_dataset(Path(data))
    model = load_hf(path, dataset.vocab())
    params = param_breakdown(model, used_tokens=make_stream(dataset, 1).used_tokens())
    return {"hf": str(path), **measure_model(model, dataset, params, resolve_device(device), context=context)}


def export_run(run: Path, out: Path, data: Path | None = None, overwrite: bool = False) -> dict:
    """Export a run's model and its dataset's tokenizer as a Hugging Face directory (model/hf.py).

    ``out`` must be absent or empty, or hold an HF model and ``overwrite`` be set: an export never
    lands in a dataset or a run directory, whose files it would replace."""
    from kcap.knowledge.tokenizer import SEPARATOR, UNKNOWN
    from kcap.model.hf import export_hf

    check_out_dir(out, "--hf", "hf", overwrite)  # before any work
    config, model = load_run_model(run)
    dataset = run_dataset(run, config, data)
    return {"id": config["id"], **export_hf(model, dataset.tokenizer_path, out, SEPARATOR, UNKNOWN)}
