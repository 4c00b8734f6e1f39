"""Experiment specs: parsing, one-line errors naming the field, grid/list expansion, the ladder,
paper defaults, run ids, and estimates against what training actually does."""

import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kcap.errors import KcapError
from kcap.sweep.ladder import derive_sizes
from kcap.sweep.plan import expand, plan
from kcap.sweep.schema import SCHEMA, SpecError, parse_spec_text
from kcap.train.config import paper_defaults

BASE = """
data: {people: 60, seed: 1}
model:
  base: {head_dim: 8}
  ladder: [{layers: 1, heads: 2}, {layers: 2, heads: 4}]
train: {exposures: 2, batch: 4, seq: 128, lr: 3.0e-3, device: cpu}
"""


def spec(text: str = BASE, **sections) -> dict:
    tree = yaml.safe_load(text)
    for k, v in sections.items():
        tree[k] = {**tree.get(k, {}), **v} if isinstance(v, dict) else v
    return parse_spec_text(yaml.safe_dump(tree))


def error(text: str) -> str:
    with pytest.raises(SpecError) as e:
        parse_spec_text(text)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("text, expected", [
    ("train: {exposures: 0}\ndata: {people: 5}", "train.exposures: must be >= 1, got 0"),
    ("train: {exposure: 10}\ndata: {people: 5}", "train.exposure: unknown key 'exposure'; did you mean 'exposures'?"),
    ("data: {people: 5, varient: simple}", "data.varient: unknown key 'varient'; did you mean 'variant'?"),
    ("modle: {}\ndata: {people: 5}", "modle: unknown key 'modle'; did you mean 'model'?"),
    ("data: {people: 5}\nmodel: {arch: gtp2}", "model.arch: unknown value 'gtp2' (choose from gpt2, llama, mistral); did you mean 'gpt2'?"),
    ("data: {people: 5, kind: bioZ}", "data.kind: unknown value 'bioZ'"),
    ("data: {people: 0}", "data.people: must be >= 1, got 0"),
    ("data: {people: 5}\ntrain: {lr: 0}", "train.lr: must be > 0, got 0.0"),
    ("data: {people: 5}\ntrain: {lr: fast}", "train.lr: must be a number, got 'fast'"),
    ("data: {people: 5}\ntrain: {exposures: [100, 0]}", "train.exposures[1]: must be >= 1, got 0"),
    ("data: {people: 5}\ntrain: {exposures: []}", "train.exposures: an empty list gives no runs"),
    ("data: {people: 5, junk: {fraction: 1.0}}", "data.junk.fraction: must be < 1, got 1.0"),
    ("data: {people: 5}\nmodel: {ladder: [{layers: 1}, {layers: -2}]}", "model.ladder[1].layers: must be >= 1, got -2"),
    ("data: {people: 5}\ntrain: {batch: true}", "train.batch: must be a number, got True"),
    ("data: {people: 5}\ntrain: {device: [cpu, cuda]}", "train.device: takes one value, not a list"),
    ("data: {people: 5}\nruns: [{train: {wd: -1}}]", "runs[0].train.wd: must be >= 0, got -1.0"),
    ("data: {people: 5}\nruns: [{seed: 1}]", "runs[0].seed: unknown key 'seed'; did you mean 'seeds'?"),
    ("train: {exposures: 10}", "data.people: is required"),
    ("data: {people: 5}\ntrain: {exposures: 3", "malformed YAML at line"),
    ("- a\n- b", "a spec must be a mapping"),
    ("", "the spec is empty"),
])
def test_bad_specs_fail_with_one_line_naming_the_field(text, expected):
    assert expected in error(text)


def test_floats_may_be_written_like_1e_3():
    tree = parse_spec_text("data: {people: 5}\ntrain: {lr: 1e-3, wd: 1}")
    assert tree["train"] == {"lr": 1e-3, "wd": 1.0}


def test_grid_is_the_product_of_list_values_ladder_and_seeds():
    runs = expand(spec(data={"people": [60, 80]}, train={"exposures": [2, 3]}, seeds=[0, 1]))
    assert len(runs) == 2 * 2 * 2 * 2  # people x ladder x exposures x seeds
    assert len({r.key for r in runs}) == len(runs)
    assert len({r.dataset_key for r in runs}) == 2  # datasets are shared across models and training
    assert {(r.data["people"], r.train["exposures"], r.train["seed"]) for r in runs} == {
        (p, e, s) for p in (60, 80) for e in (2, 3) for s in (0, 1)}


def test_list_form_overrides_and_deduplicates():
    tree = spec(runs=[{"train": {"exposures": 3}}, {"model": {"ladder": [{"layers": 1, "heads": 1}]}},
                      {"train": {"exposures": 3}}])
    runs = expand(tree)
    assert len(runs) == 2 + 1  # the third entry repeats the first: same ids, planned once
    assert [r.origin for r in runs] == ["runs[0]", "runs[0]", "runs[1]"]
    assert runs[2].model["d_model"] == 8 and runs[2].train["exposures"] == 2


def test_ladder_derives_width_from_heads_and_the_base_head_dim():
    sizes = derive_sizes("gpt2", {"head_dim": 64, "mlp_ratio": 4}, [{"layers": 1, "heads": 1}, {"layers": 12, "heads": 12}])
    assert [(s["layers"], s["heads"], s["d_model"], s["mlp_ratio"]) for s in sizes] == [(1, 1, 64, 4), (12, 12, 768, 4)]
    assert sizes[1]["name"] == "gpt2-12x768x12-mlp4"
    assert derive_sizes("gpt2", {"d_model": 48, "heads": 2, "layers": 3}, None)[0]["d_model"] == 48
    with pytest.raises(SpecError, match=r"model.ladder\[0\]: d_model 30 must split into 4 heads of even size"):
        derive_sizes("gpt2", None, [{"d_model": 30, "heads": 4}])


def test_unset_lr_wd_batch_take_the_paper_defaults_for_n_and_exposures():
    for people, exposures in ((60, 100), (50_000, 1000), (2_000_000, 100)):
        tree = parse_spec_text(f"data: {{people: {people}}}\ntrain: {{exposures: {exposures}}}")
        (run,) = expand(tree)
        want = paper_defaults(people, exposures)
        assert {k: run.train[k] for k in want} == want


def test_run_id_is_a_hash_of_the_resolved_config():
    a = expand(spec())
    assert [r.key for r in a] == [r.key for r in expand(spec())]  # stable
    b = expand(spec(train={"lr": 4e-3}))
    assert not {r.key for r in a} & {r.key for r in b}
    # writing the paper's default explicitly is the same run as leaving it unset
    c = expand(parse_spec_text("data: {people: 60}"))
    d = expand(parse_spec_text("data: {people: 60}\ntrain: {lr: 1.0e-3, batch: 24}"))
    assert c[0].key == d[0].key


@pytest.mark.parametrize("data, exact_params", [
    ("{people: 200, seed: 3}", True),
    ("{people: 200, seed: 3, variant: simple}", False),  # simple uses fewer words than it may
    ("{people: 200, seed: 3, junk: {fraction: 0.5, people: 300, domain_token: true}}", False),
    ("{people: 200, seed: 3, junk: {fraction: 0.75}}", True),
    ("{kind: bioD, people: 200, seed: 3, biod: {attributes: 3, chunks: 2, diversity: 20, chunk_len: 2, alphabet: 30}}",
     False),
    ("{kind: random, people: 200, seed: 3, random: {length: 20, alphabet: 64}}", True),
])
def test_estimates_match_what_training_resolves(data, exact_params, tmp_path):
    """Plan-time estimates against the training loop's own dry run on the generated dataset."""
    from kcap.model.spec import ModelSpec
    from kcap.sweep.datasets import ensure_dataset
    from kcap.train.config import TrainConfig
    from kcap.train.loop import train

    (run,) = plan(parse_spec_text(f"data: {data}\nmodel: {{base: {{layers: 1, heads: 2, d_model: 16}}}}\n"
                                  "train: {exposures: 3, batch: 4, seq: 128}"))
    ensure_dataset(run)
    cfg = train(run.dataset_dir, ModelSpec(layers=1, heads=2, d_model=16),
                TrainConfig.from_dict(run.train), tmp_path / "r", dry_run=True)
    d = cfg["derived"]
    assert run.est["steps"] == pytest.approx(d["steps"], rel=0.05, abs=1)
    if "junk" in data:  # the stream counts useful tokens; the estimate all, junk included
        assert run.est["tokens"] == pytest.approx(d["steps"] * 4 * 128, rel=0.05)
    else:
        assert run.est["tokens"] == pytest.approx(d["stream_tokens"], rel=0.02)
    if exact_params:
        assert run.est["params"] == cfg["params"]["total"]
    else:
        assert run.est["params"] == pytest.approx(cfg["params"]["total"], rel=0.1)


def test_seq_shorter_than_a_biography_is_refused_at_plan_time():
    with pytest.raises(SpecError, match=r"train.seq: 16 is shorter than a biography"):
        plan(spec(train={"seq": 16}))


@pytest.mark.parametrize("model", [
    {"arch": "llama", "base": {"head_dim": 8}},
    {"arch": "mistral", "base": {"head_dim": 8}},
    {"arch": "gpt2", "base": {"head_dim": 8, "mlp_ratio": 0}},
    {"arch": "gpt2", "base": {"head_dim": 8, "experts": 4, "top_k": 1}},
    {"arch": "llama", "base": {"head_dim": 8, "tied": False}},
])
def test_every_arch_plans_with_the_parameter_count_training_builds(model, tmp_path):
    """The plan builds each model on the meta device: its counts are those of the model training
    builds (MoE: total and active per token)."""
    from kcap.model.spec import ModelSpec
    from kcap.sweep.bindings import model_kwargs
    from kcap.sweep.datasets import ensure_dataset
    from kcap.train.config import TrainConfig
    from kcap.train.loop import train

    (run,) = plan(spec(model={**model, "ladder": [{"layers": 1, "heads": 4}]}))
    ensure_dataset(run)
    cfg = train(run.dataset_dir, ModelSpec(**model_kwargs(run.model)), TrainConfig.from_dict(run.train),
                tmp_path / "r", dry_run=True)
    assert cfg["model"]["arch"] == model["arch"]
    assert run.est["params"] == pytest.approx(cfg["params"]["total"], rel=0.02)
    assert run.est["active_params"] == pytest.approx(cfg["params"]["active"], rel=0.02)
    assert (run.est["active_params"] < run.est["params"]) == bool(model["base"].get("experts"))


@pytest.mark.parametrize(("model", "message"), [
    ({"base": {"head_dim": 8, "kv_heads": 3}}, "model.ladder[0]: heads 2 must be a multiple of kv_heads 3"),
    ({"base": {"head_dim": 8, "experts": 1}}, "model: experts must be 0 (dense) or at least 2, got 1"),
    ({"base": {"head_dim": 8, "experts": 4, "mlp_ratio": 0}}, "model: experts needs an MLP: mlp_ratio must be at least 1"),
    ({"base": {"head_dim": 8, "experts": 2, "top_k": 3}}, "model.ladder[0]: top_k 3 exceeds experts 2"),
])
def test_impossible_models_are_refused_at_plan_time_naming_the_field(model, message):
    with pytest.raises(SpecError) as e:
        plan(spec(model=model))
    assert str(e.value) == message


# -- property tests: whatever the input, parsing either succeeds or fails with one SpecError line ----

yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                         st.text(string.printable, max_size=12))
keys = st.sampled_from(sorted(set(SCHEMA) | set(SCHEMA["train"]) | set(SCHEMA["data"]))) | st.text(max_size=8)
trees = st.recursive(yaml_scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=5),
                     max_leaves=20)


def _parse_or_spec_error(text: str) -> None:
    try:
        parse_spec_text(text)
    except SpecError as e:
        assert "\n" not in str(e) and str(e)
    except KcapError as e:  # pragma: no cover - every spec problem must be a SpecError
        raise AssertionError(f"not a SpecError: {e!r}") from None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_random_trees_parse_or_fail_with_one_line(tree):
    _parse_or_spec_error(yaml.safe_dump(tree))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_parses_or_fails_with_one_line(text):
    _parse_or_spec_error(text)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(BASE) - 1), st.sampled_from(["", ":", "{", "]", "\t", "- ", "'", "&a", "*b", "!!int x"]))
def test_a_valid_spec_with_a_corrupted_character_parses_or_fails_with_one_line(pos, junk):
    _parse_or_spec_error(BASE[:pos] + junk + BASE[pos + 1:])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["exposures", "batch", "grad_accum", "seq", "log_every", "heldout"]),
       st.integers(-5, 0))
def test_out_of_range_train_values_name_their_field(field, value):
    msg = error(f"data: {{people: 5}}\ntrain: {{{field}: {value}}}")
    assert msg.startswith(f"train.{field}: must be >=")


def test_extras_at_the_plain_models_value_are_the_same_run():
    plain = expand(spec())
    explicit = expand(spec(model={"base": {"head_dim": 8, "mlp_ratio": 4, "experts": 0, "top_k": 1, "tied": True}}))
    assert [r.key for r in plain] == [r.key for r in explicit]
    # mistral's kv_heads is never the plain value: its default is grouped
    one = [{"layers": 1, "heads": 4}]
    assert expand(spec(model={"base": {"head_dim": 8}, "ladder": one}))[0].key == \
        expand(spec(model={"base": {"head_dim": 8, "kv_heads": 4}, "ladder": one}))[0].key
    assert expand(spec(model={"arch": "mistral", "base": {"head_dim": 8}, "ladder": one}))[0].key != \
        expand(spec(model={"arch": "mistral", "base": {"head_dim": 8, "kv_heads": 4}, "ladder": one}))[0].key


def test_train_fields_kcap_adds_later_are_accepted_and_checked_by_trainconfig():
    tree = parse_spec_text("data: {people: 60}\ntrain: {beta2: 0.95}")  # not listed in the schema
    (run,) = expand(tree)
    assert run.train["beta2"] == 0.95
