"""The bound is honest for every kind and size (docs/datasets.md, "What a model that knows nothing
scores"): a model that knows nothing (uniform over the vocabulary, or freshly initialised) scores
at most 0 bits in every term, and the Bayes-optimal memorizer of the data scores exactly bits_max,
in the training context and alone. Every registered kind is covered through the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kcap.errors import KcapError
from kcap.kinds import KINDS, get_kind, load_dataset
from kcap.kinds.biod.data import BioDParams, write_biod
from kcap.kinds.bios.data import write_bios
from kcap.kinds.random_strings.data import write_random
from kcap.measure.evaluate import measure_model
from kcap.model.build import build_model
from kcap.model.spec import ModelSpec

from constructed_models import Memorizer, Uniform, measured_docs  # noqa: E402 (tests/)

PARAMS = {"total": 1000}
CONTEXTS = ("previous", "none")


def _terms_at_most_zero(r: dict) -> None:
    assert all(v <= 1e-6 for v in r["bits_terms"].values()), r["bits_terms"]
    assert r["bits"] <= 1e-6


def _fresh_model(vocab: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelSpec(layers=1, heads=2, d_model=16).config(vocab, 512))


@pytest.fixture(scope="module", params=sorted(KINDS))
def example(request, tmp_path_factory):
    """A small dataset of every registered kind."""
    kind = get_kind(request.param)
    out = tmp_path_factory.mktemp(request.param) / "data"
    kind.write(out, kind.example())
    return load_dataset(out)


@pytest.mark.parametrize("context", CONTEXTS)
def test_knowing_nothing_scores_at_most_zero_in_every_term(example, context):
    vocab = len(example.vocab())
    _terms_at_most_zero(measure_model(Uniform(vocab), example, PARAMS, context=context))
    _terms_at_most_zero(measure_model(_fresh_model(vocab), example, PARAMS, context=context))


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_perfect_memorizer_scores_exactly_bits_max(example, context):
    r = measure_model(Memorizer(len(example.vocab()), measured_docs(example)), example, PARAMS, context=context)
    for term, v in r["bits_max_terms"].items():
        assert r["bits_terms"][term] == pytest.approx(v, rel=1e-5, abs=1e-3), term
    assert r["fraction_stored"] == pytest.approx(1.0, rel=1e-6)
    assert r["bits_max"] == pytest.approx(example.meta["bits_max"], rel=1e-9)  # as dataset.json says


GRID = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@GRID
@given(n=st.integers(1, 40), s=st.integers(1, 12), v=st.sampled_from([2, 3, 16, 400, 5000, 65536]))
def test_random_strings_knowing_nothing_on_a_grid(tmp_path_factory, n, s, v):
    """Including alphabets far larger than the N·S symbols that occur (once +46% of bits_max)."""
    out = tmp_path_factory.mktemp("r")
    try:
        write_random(out, n, s, v, 0)
    except KcapError as e:  # e.g. two strings of one bit: nothing to know but their order
        assert "hold no knowledge" in str(e) and n * s * np.log2(v) <= n * np.log2(n) + 1e-9
        return
    ds = load_dataset(out)
    _terms_at_most_zero(measure_model(Uniform(len(ds.vocab())), ds, PARAMS))


@GRID
@given(n=st.integers(1, 40), k=st.integers(1, 3), c=st.integers(1, 2), l=st.integers(1, 2),
       t=st.sampled_from([2, 5, 32, 10_000]), d_share=st.floats(0.01, 1.0))
def test_biod_knowing_nothing_on_a_grid(tmp_path_factory, n, k, c, l, t, d_share):
    """Including alphabets far larger than the symbols used, and diversity sets most of whose
    strings start no value (N·C much below D)."""
    d = max(1, min(int(d_share * t ** l), 4096))
    out = tmp_path_factory.mktemp("d")
    write_biod(out, BioDParams(n, k, c, d, l, t), 0)
    ds = load_dataset(out)
    _terms_at_most_zero(measure_model(Uniform(len(ds.vocab())), ds, PARAMS))


@pytest.mark.parametrize("people", [1, 3, 10, 60])
def test_bios_knowing_nothing_at_tiny_populations(tmp_path, people):
    """A handful of people use a handful of names; the vocabulary holds them all anyway."""
    write_bios(tmp_path / "b", people, 0)
    ds = load_dataset(tmp_path / "b")
    _terms_at_most_zero(measure_model(Uniform(len(ds.vocab())), ds, PARAMS))
    _terms_at_most_zero(measure_model(_fresh_model(len(ds.vocab())), ds, PARAMS))


def test_unobserved_diversity_strings_are_neither_in_bits_max_nor_charged(tmp_path):
    """N·C far below D: most strings start no value; the diversity term covers the ones that do."""
    write_biod(tmp_path / "d", BioDParams(20, 4, 1, 1000, 2, 32), 0)
    ds = load_dataset(tmp_path / "d")
    observed = len({(a, int(v)) for a in range(4) for v in ds.values[:, a, 0]})
    assert observed <= 80 < 4 * 1000
    u = measure_model(Uniform(len(ds.vocab())), ds, PARAMS)
    assert u["strings_never_first"] == 4000 - observed
    m = measure_model(Memorizer(len(ds.vocab()), measured_docs(ds)), ds, PARAMS)
    assert m["bits_terms"]["diversity"] == pytest.approx(observed * (2 * np.log2(32) - np.log2(1000)), rel=1e-5)
