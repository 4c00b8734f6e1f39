"""Measure a model on its bioS population: p1 (the name), p2 (each bit-carrying attribute), and
per-attribute exact-match accuracy (SCIENCE.md §2).

Each person is measured on one fixed rendering of their biography (the training rendering for
bioS simple), fed as ``[separator] biography`` exactly as in the training stream.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from kcap.corpus.gather import Rendered
from kcap.kinds.bios.bits import BIOS_ATTRIBUTE_CHOICES, bios_bits, bios_bits_max
from kcap.kinds.bios.data import BioSDataset
from kcap.kinds.bios.render import A, render
from kcap.kinds.bios.stream import BioStream, fixed_choices
from kcap.measure.losses import default_batch, span_sums, summary, token_losses

VALUE_ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer")  # + gender


def measured_documents(dataset: BioSDataset) -> Callable[[np.ndarray], Rendered]:
    """The one fixed rendering per person that measurement reads (bioS simple: its training
    rendering), with spans, as a function of people indices."""
    stream = BioStream(dataset, exposures=1)
    templates, order = fixed_choices(dataset, stream.atlas)
    return lambda idx: render(stream.atlas, dataset.people[idx], templates[idx], order[idx], spans=True)


def measure_bios(model: torch.nn.Module, dataset: BioSDataset, params: dict, device: torch.device | str = "cpu",
                  batch: int | None = None, chunk: int = 8192, context: str = "previous") -> dict:
    """Bits stored by ``model`` about ``dataset``, with losses and accuracy per attribute."""
    device = torch.device(device)
    batch = batch or default_batch(device)
    model = model.to(device).eval()
    documents = measured_documents(dataset)
    n = dataset.n_people
    name_loss = np.zeros(n)
    attr_loss = {a: np.zeros(n) for a in BIOS_ATTRIBUTE_CHOICES}
    attr_ok = {a: np.zeros(n, bool) for a in BIOS_ATTRIBUTE_CHOICES}
    for lo in range(0, n, chunk):
        sl = slice(lo, min(lo + chunk, n))
        r = documents(np.arange(sl.start, sl.stop))
        loss, wrong = token_losses(model, r.tokens, r.offsets, device, batch, context)
        loss = loss.astype(np.float64)
        name_loss[sl] = span_sums(loss, r.name_span[:, 0], r.name_span[:, 1])
        for a in VALUE_ATTRIBUTES:
            s, ln = r.value_spans[:, A[a], 0], r.value_spans[:, A[a], 1]
            attr_loss[a][sl] = span_sums(loss, s, ln)
            attr_ok[a][sl] = span_sums(wrong, s, ln) == 0
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
