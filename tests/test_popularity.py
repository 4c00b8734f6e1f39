"""The popularity option of the knowledge stream (kcap.corpus.popularity) and log-spaced evaluation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kcap.corpus.popularity import Popularity, zipf_probs
from kcap.errors import KcapError
from kcap.kinds import load_dataset, make_stream


@pytest.fixture(scope="module")
def strings(tmp_path_factory):
    from kcap.kinds.random_strings.data import write_random

    path = tmp_path_factory.mktemp("data") / "random"
    write_random(path, 40, 8, 6, seed=2)
    return load_dataset(path)


@pytest.fixture(scope="module")
def biod(tmp_path_factory):
    from kcap.kinds.biod.data import BioDParams, write_biod

    path = tmp_path_factory.mktemp("data") / "biod"
    write_biod(path, BioDParams(people=30, attributes=3, chunks=1, diversity=4, chunk_len=2, alphabet=5), seed=1)
    return load_dataset(path)


def _counts(stream, n: int) -> np.ndarray:
    """How often each sequence occurs in a random-strings stream (each row of S + 1 tokens is one)."""
    rows = np.concatenate(list(stream.chunks())).reshape(-1, stream.dataset.meta["length"] + 1)[:, 1:]
    seqs = stream._sym[stream.dataset.sequences.astype(np.int64)]
    which = [int(np.flatnonzero((seqs == r).all(axis=1))[0]) for r in rows]
    return np.bincount(which, minlength=n)


def test_exposure_counts_follow_the_law(strings):
    n, e, s = strings.n_people, 200, 1.2
    counts = _counts(make_stream(strings, e, seed=0, popularity=s), n)
    assert counts.sum() == e * n  # the stream keeps its length: exposures is the mean per person
    expected = e * n * zipf_probs(n, s)
    assert counts[0] > 10 * counts[-1]
    chi2 = stats.chisquare(counts, expected)
    assert chi2.pvalue > 1e-3, chi2  # seeded: one fixed draw, which the law does not reject
    # and the rank-count slope in log-log is -s
    slope = np.polyfit(np.log(np.arange(1, 11)), np.log(counts[:10]), 1)[0]
    assert slope == pytest.approx(-s, abs=0.15)


def test_uniform_stream_keeps_its_bytes(strings):
    """s = 0 is the paper's stream, byte for byte: every sequence once per round."""
    plain = np.concatenate(list(make_stream(strings, 3, seed=4).chunks()))
    zero = np.concatenate(list(make_stream(strings, 3, seed=4, popularity=0.0).chunks()))
    assert np.array_equal(plain, zero)
    assert (_counts(make_stream(strings, 3, seed=4), strings.n_people) == 3).all()


@pytest.mark.parametrize("kind", ["strings", "biod", "bios"])
def test_same_seed_same_stream_and_exact_length(kind, strings, biod, small_bios, request):
    ds = {"strings": strings, "biod": biod, "bios": load_dataset(small_bios)}[kind]
    a = np.concatenate(list(make_stream(ds, 4, seed=1, popularity=1.5).chunks()))
    b = np.concatenate(list(make_stream(ds, 4, seed=1, popularity=1.5).chunks()))
    c = np.concatenate(list(make_stream(ds, 4, seed=2, popularity=1.5).chunks()))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert make_stream(ds, 4, seed=1, popularity=1.5).total_tokens() == len(a)


def test_bios_simple_popular_length(tmp_path):
    from kcap.kinds.bios.data import write_bios

    write_bios(tmp_path / "d", 60, seed=2, variant="simple")
    ds = load_dataset(tmp_path / "d")
    stream = make_stream(ds, 3, seed=0, popularity=1.0)
    assert stream.total_tokens() == sum(len(c) for c in stream.chunks())
    assert stream.used_tokens() == make_stream(ds, 3, seed=0).used_tokens()


def test_resume_mid_stream_is_exact(small_bios):
    ds = load_dataset(small_bios)
    stream = make_stream(ds, 3, seed=0, popularity=1.3)
    every = list(stream.batches(seq=64, batch=4))
    resumed = list(make_stream(ds, 3, seed=0, popularity=1.3).batches(seq=64, batch=4, start=7))
    assert len(resumed) == len(every) - 7
    for (x, y), (rx, ry) in zip(every[7:], resumed):
        assert np.array_equal(x, rx) and np.array_equal(y, ry)


def test_a_longer_stream_extends_a_shorter_one(strings):
    """Round r does not depend on the horizon, so E exposures are a prefix of more (branching)."""
    short = np.concatenate(list(make_stream(strings, 2, popularity=1.5).chunks()))
    long = np.concatenate(list(make_stream(strings, 5, popularity=1.5).chunks()))
    assert np.array_equal(long[:len(short)], short)


def test_popular_heldout_is_drawn_from_the_law_and_shared_by_every_run(strings, small_bios):
    pop = make_stream(strings, 2, seed=0, popularity=1.5)
    x, _ = pop.heldout(500, 9 * 4)
    assert np.array_equal(x, make_stream(strings, 7, seed=9, popularity=1.5).heldout(500, 9 * 4)[0])
    assert make_stream(strings, 2).heldout(500, 36) is None  # uniform random strings: no held-out set
    # the most popular sequence leads the sample
    first = pop._sym[strings.sequences[0].astype(np.int64)]
    rows = x.reshape(-1, 9)[:, 1:]
    share = (rows == first).all(axis=1).mean()
    assert share == pytest.approx(zipf_probs(strings.n_people, 1.5)[0], abs=0.08)
    bios = load_dataset(small_bios)
    popular, plain = make_stream(bios, 2, popularity=1.5).heldout(64, 128), make_stream(bios, 2).heldout(64, 128)
    assert popular is not None and not np.array_equal(popular[0][:1], plain[0][:1])


def test_junk_with_popularity_is_refused(tmp_path):
    from kcap.kinds.bios.data import write_bios

    write_bios(tmp_path / "j", 40, seed=1, junk_fraction=0.5)
    with pytest.raises(KcapError, match="popularity law and junk data"):
        make_stream(load_dataset(tmp_path / "j"), 2, popularity=1.0)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), s=st.floats(0.0, 4.0), count=st.integers(0, 400), seed=st.integers(0, 2**32))
def test_draws_are_people(n, s, count, seed):
    pop = Popularity(n, s)
    d = pop.draw(np.random.default_rng(seed), count)
    assert d.shape == (count,) and (d >= 0).all() and (d < n).all()
    r = pop.round(np.random.default_rng(seed))
    assert r.shape == (n,) and (r < n).all()
    if s == 0:
        assert sorted(r.tolist()) == list(range(n))


def test_log_eval_steps():
    from kcap.train.plan import log_steps

    steps = log_steps(5000)
    assert min(steps) == 1 and max(steps) == 5000 and {2, 10, 100, 1000} <= steps
    assert 30 <= len(steps) <= 40  # ~10 per decade over 3.7 decades (fewer in the first)
    assert log_steps(1) == frozenset({1})


def test_new_train_fields_enter_ids_only_when_set():
    from kcap.store.rundir import LATER_DEFAULTS
    from kcap.sweep.plan import SINCE_IDS
    from kcap.train.config import TrainConfig

    defaults = TrainConfig()
    for field in ("popularity", "eval_spacing"):
        assert field in SINCE_IDS and LATER_DEFAULTS["train"][field] == getattr(defaults, field)
    with pytest.raises(KcapError, match="popularity"):
        TrainConfig(popularity=-1)
    with pytest.raises(KcapError, match="eval_spacing"):
        TrainConfig(eval_spacing="cubic")
