import filecmp

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kcap.errors import KcapError
from kcap.kinds.bios.data import load_bios, write_bios
from kcap.kinds.bios.render import A, Atlas, render
from kcap.kinds.bios.stream import BioStream, fixed_choices
from kcap.knowledge.people import COL, FIELDS, NAME_SPACE, field_sizes, generate_people
from kcap.knowledge.pools import MONTHS, load_pools
from kcap.knowledge.tokenizer import load_tokenizer


def test_same_arguments_same_bytes(tmp_path):
    write_bios(tmp_path / "a", 300, seed=7)
    write_bios(tmp_path / "b", 300, seed=7)
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert sorted(cmp.common_files) == ["dataset.json", "people.npy", "tokenizer.json"]
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", cmp.common_files, shallow=False)
    assert not mismatch and not errors
    write_bios(tmp_path / "c", 300, seed=8)
    assert (tmp_path / "a" / "people.npy").read_bytes() != (tmp_path / "c" / "people.npy").read_bytes()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2000), seed=st.integers(0, 2**32 - 1))
def test_any_population_is_valid(n, seed):
    people = generate_people(n, seed)
    assert people.shape == (n, len(FIELDS))
    sizes = field_sizes(load_pools())
    for f in FIELDS:
        assert people[:, COL[f]].max() < sizes[f]
    names = people[:, :3].astype(np.int64) @ np.array([400 * 1000, 1000, 1])
    assert len(np.unique(names)) == n  # distinct full names


@pytest.mark.parametrize("n", [0, -3, NAME_SPACE + 1])
def test_bad_population_size(n):
    with pytest.raises(KcapError):
        generate_people(n, 0)


def test_attributes_are_uniform():
    people = generate_people(20_000, 1)
    counts = np.bincount(people[:, COL["gender"]])
    assert abs(counts[0] / 20_000 - 0.5) < 0.02
    months = np.bincount(people[:, COL["month"]], minlength=12)
    assert months.min() > 20_000 / 12 * 0.85


def _decode(tok, ids):
    return tok.decode([int(i) for i in ids])


def test_rendered_spans_hold_the_right_values(small_bios):
    ds = load_bios(small_bios)
    pools = load_pools()
    tok = load_tokenizer(ds.tokenizer_path)
    atlas = Atlas.build(pools, ds.vocab())
    templates, order = fixed_choices(ds, atlas)
    r = render(atlas, ds.people, templates, order, spans=True)
    for b, p in enumerate(ds.people):
        ids = r.tokens[r.offsets[b]:r.offsets[b + 1]]
        text = tok.decode(ids.tolist(), skip_special_tokens=False)
        assert tok.encode(text).ids == ids.tolist()  # our ids are exactly the tokenizer's
        s, n = r.name_span[b]
        assert _decode(tok, ids[s:s + n]) == " ".join(
            [pools.first_names[p[0]], pools.middle_names[p[1]], pools.last_names[p[2]]])
        assert s == 1  # the full name opens the biography, right after the separator

        def value(attr):
            s, n = r.value_spans[b, A[attr]]
            return _decode(tok, ids[s:s + n])

        assert value("birth_date") == f"{MONTHS[p[COL['month']]]} {p[COL['day']] + 1} , {1900 + p[COL['year']]}"
        assert value("birth_city") == pools.cities[p[COL["birth_city"]]]
        assert value("university") == pools.universities[p[COL["university"]]]
        assert value("major") == pools.majors[p[COL["major"]]]
        assert value("employer") == pools.companies[p[COL["employer"]]]
        # working city rule: the employer's headquarters
        assert value("working_city") == pools.cities[pools.company_city[p[COL["employer"]]]]
        # measurement renderings put the employer before the working city
        assert r.value_spans[b, A["employer"], 0] < r.value_spans[b, A["working_city"], 0]
        g = _decode(tok, [ids[r.gender_pos[b]]])
        assert g == ("He", "She")[p[COL["gender"]]] or g == ("his", "her")[p[COL["gender"]]]
        assert r.gender_pos[b] > s + n


def test_stream_has_exactly_e_exposures_and_exact_length(small_bios):
    ds = load_bios(small_bios)
    stream = BioStream(ds, exposures=3, seed=1)
    tokens = np.concatenate(list(stream.chunks()))
    assert len(tokens) == stream.total_tokens()
    sep = ds.vocab()["<|endoftext|>"]
    starts = np.nonzero(tokens == sep)[0]
    assert len(starts) == 3 * ds.n_people
    first_names = tokens[starts + 1]  # every biography opens with its person's full name
    triples = np.stack([tokens[starts + 1], tokens[starts + 2], tokens[starts + 3]], axis=1)
    _, counts = np.unique(triples, axis=0, return_counts=True)
    assert len(counts) == ds.n_people and (counts == 3).all()
    assert len(first_names) == 3 * ds.n_people


def test_stream_is_deterministic_and_seeded(small_bios):
    ds = load_bios(small_bios)
    a = np.concatenate(list(BioStream(ds, 2, seed=5).chunks()))
    b = np.concatenate(list(BioStream(ds, 2, seed=5).chunks()))
    c = np.concatenate(list(BioStream(ds, 2, seed=6).chunks()))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_multi_renders_afresh_and_simple_repeats(tmp_path):
    for variant in ("multi", "simple"):
        write_bios(tmp_path / variant, 50, seed=2, variant=variant)
        ds = load_bios(tmp_path / variant)
        tokens = np.concatenate(list(BioStream(ds, 2, seed=0).chunks()))
        sep = ds.vocab()["<|endoftext|>"]
        bios = np.split(tokens, np.nonzero(tokens == sep)[0][1:])
        assert len(bios) == 100
        distinct = {tuple(b) for b in bios}
        if variant == "simple":
            assert len(distinct) == 50  # verbatim repeats
        else:
            assert len(distinct) > 90  # fresh templates and order each time


def test_dataset_errors(tmp_path, small_bios):
    with pytest.raises(KcapError, match="does not exist"):
        load_bios(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KcapError, match="no dataset.json"):
        load_bios(tmp_path / "empty")
    write_bios(tmp_path / "d", 20, seed=0)
    with open(tmp_path / "d" / "people.npy", "r+b") as f:
        f.seek(-3, 2)
        f.write(b"\xff\xff\xff")
    with pytest.raises(KcapError, match="corrupted"):
        load_bios(tmp_path / "d")
    (tmp_path / "d" / "dataset.json").write_text("{not json")
    with pytest.raises(KcapError, match="corrupted"):
        load_bios(tmp_path / "d")


def test_heldout_people_are_new_and_in_vocabulary(small_bios):
    from kcap.kinds.bios.data import heldout_people

    ds = load_bios(small_bios)
    held = heldout_people(ds.people, 300, seed=1)
    assert np.array_equal(held, heldout_people(ds.people, 300, seed=1))
    key = np.array([1 << 32, 1 << 16, 1])
    train_names = set((ds.people[:, :3].astype(np.int64) @ key).tolist())
    held_names = (held[:, :3].astype(np.int64) @ key).tolist()
    assert len(set(held_names)) == 300 and not train_names & set(held_names)
    for f in FIELDS:
        assert set(np.unique(held[:, COL[f]])) <= set(np.unique(ds.people[:, COL[f]]))


def test_vocabulary_has_only_the_pronouns_of_genders_present():
    from kcap.kinds.bios.data import used_words
    from kcap.knowledge.people import COL
    from kcap.knowledge.pools import load_pools

    pools = load_pools()
    pop = generate_people(1, 0, pools)
    g = int(pop[0, COL["gender"]])
    words = used_words(pop, pools)
    assert {"He", "his"} <= words if g == 0 else {"She", "her"} <= words
    assert not ({"She", "her"} & words if g == 0 else {"He", "his"} & words)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**31), domain=st.booleans(), data_seed=st.integers(0, 10**6))
def test_length_table_counts_every_biography_as_rendering_does(tmp_path_factory, n, seed, domain, data_seed):
    """The stream is counted (total_tokens, resume's fast-forward) from fixed + template lengths;
    that must equal the rendered length for any population, template draw and domain token."""
    from kcap.kinds.bios.data import write_bios
    from kcap.kinds.bios.render import LengthTable, bio_lengths, draw_choices

    out = tmp_path_factory.mktemp("lt")
    write_bios(out, n, data_seed, "multi", domain_token=domain)
    ds = load_bios(out)
    atlas = Atlas.build(load_pools(ds.meta["pool_version"]), ds.vocab(), domain=ds.domain_token)
    table = LengthTable.build(atlas, ds.people, chunk=7)  # several chunks even for small n
    templates, order = draw_choices(np.random.default_rng(seed), n, atlas.n_templates)
    idx = np.arange(n)
    rendered = render(atlas, ds.people, templates, order)
    assert (table.lengths(idx, templates) == np.diff(rendered.offsets)).all()
    assert (table.lengths(idx, templates) == bio_lengths(atlas, ds.people, templates)).all()


def test_total_tokens_in_threads_equals_the_rendered_stream(tmp_path, monkeypatch):
    """Rounds counted in parallel threads (as on a many-core machine) give the exact length."""
    from kcap.kinds.bios import stream as stream_mod
    from kcap.kinds.bios.data import write_bios

    monkeypatch.setattr(stream_mod, "CHUNK_PEOPLE", 64)  # several chunks per round, threads on
    monkeypatch.setattr(stream_mod.os, "cpu_count", lambda: 4)
    write_bios(tmp_path, 300, 3, "multi")
    s = BioStream(load_bios(tmp_path), exposures=5, seed=2)
    assert s.total_tokens() == sum(len(c) for c in s.chunks())
