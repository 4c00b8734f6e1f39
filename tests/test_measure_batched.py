"""Measurement gives the same losses and bits whether biographies go through one at a time or batched."""

import numpy as np
import pytest
import torch

from kcap.kinds.bios.data import load_bios
from kcap.kinds.bios.render import render
from kcap.kinds.bios.stream import BioStream, fixed_choices
from kcap.measure.evaluate import measure_model
from kcap.measure.losses import token_losses
from kcap.model.gpt import GPT, GPTConfig
from kcap.model.params import param_breakdown


@pytest.fixture(scope="module")
def model_and_data(small_bios):
    dataset = load_bios(small_bios)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(dataset.vocab()), n_layer=1, n_head=2, d_model=32, max_seq=256)).eval()
    return model, dataset


def test_token_losses_do_not_depend_on_batching(model_and_data):
    model, dataset = model_and_data
    stream = BioStream(dataset, 1)
    templates, order = fixed_choices(dataset, stream.atlas)
    r = render(stream.atlas, dataset.people[:40], templates[:40], order[:40], spans=True)
    ref_loss, ref_wrong = token_losses(model, r.tokens, r.offsets, torch.device("cpu"), batch=1)
    for batch in (7, 64):
        loss, wrong = token_losses(model, r.tokens, r.offsets, torch.device("cpu"), batch=batch)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-4, atol=1e-5)
        assert (wrong != ref_wrong).mean() < 1e-3  # argmax may flip only at float-level near-ties
    for row, n in enumerate(np.diff(r.offsets)):  # positions past a biography's end stay empty
        assert not ref_loss[row, n:].any() and not ref_wrong[row, n:].any()


def test_measure_batched_equals_unbatched(model_and_data):
    model, dataset = model_and_data
    params = param_breakdown(model, used_tokens=BioStream(dataset, 1).used_tokens())
    one = measure_model(model, dataset, params, batch=1)
    many = measure_model(model, dataset, params, batch=64)
    assert many["bits"] == pytest.approx(one["bits"], rel=1e-4, abs=1.0)
    assert many["name_loss"] == pytest.approx(one["name_loss"], rel=1e-5)
    for a, v in one["attributes"].items():
        assert many["attributes"][a]["loss"] == pytest.approx(v["loss"], rel=1e-5)
        assert many["attributes"][a]["accuracy"] == pytest.approx(v["accuracy"], abs=0.01)
