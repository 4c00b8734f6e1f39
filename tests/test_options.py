"""Options declared once (kcap/options.py): every TrainConfig / ModelSpec option is a `kcap train`
flag and a sweep-spec key with the same default, bounds and choices, and a new field is both."""

from dataclasses import make_dataclass

import pytest
import typer
from test_cli import assert_one_line_error, kcap
from typer.testing import CliRunner

from kcap.cli import app
from kcap.errors import KcapError
from kcap.model.spec import ModelSpec
from kcap.options import declared, option, pick, with_options
from kcap.sweep.bindings import model_kwargs
from kcap.sweep.plan import expand
from kcap.sweep.schema import SCHEMA, SIZE, Leaf, SpecError, check, leaves, parse_spec_text
from kcap.train.config import TrainConfig

OLD_FLAGS = ["--layers", "--heads", "--d-model", "--arch", "--kv-heads", "--mlp-ratio", "--experts", "--top-k",
             "--capacity-factor", "--untied", "--precision", "--exposures", "--lr", "--wd", "--batch", "--grad-accum",
             "--seq", "--warmup", "--seed", "--device", "--compile", "--eval-every", "--hf-config", "--quiet",
             "--track-bits", "--dry-run", "--resume", "--checkpoint-every", "--tensorboard", "--data", "--out"]


def _train_command():
    return typer.main.get_command(app).commands["train"]


def _leaf_of(d) -> Leaf:
    o = d.option
    return Leaf(d.type, o.lo, o.hi, o.lo_open, o.hi_open, o.choices, o.axis, d.nullable)


@pytest.mark.parametrize("cls", [TrainConfig, ModelSpec])
def test_every_option_is_a_train_flag_with_the_fields_default(cls):
    params = {p.name: p for p in _train_command().params}
    for d in declared(cls):
        assert d.option.cli, d.name  # today every option of both is on the command line
        p = params[d.name]
        assert d.flag in p.opts and p.default == d.default and p.help == d.option.help, d.name


def test_every_old_flag_still_parses():
    values = {"--arch": "llama", "--precision": "fp32", "--device": "cpu", "--compile": "off", "--resume": "auto",
              "--capacity-factor": "1.5", "--lr": "3e-3", "--wd": "0.1", "--data": "d", "--out": "o",
              "--hf-config": "c.json"}
    args = []
    for flag in OLD_FLAGS:
        is_flag = flag in ("--untied", "--quiet", "--track-bits", "--dry-run", "--tensorboard")
        args += [flag] if is_flag else [flag, values.get(flag, "1")]
    ctx = _train_command().make_context("train", args)
    assert ctx.params["tied"] is False and ctx.params["arch"] == "llama" and ctx.params["lr"] == 3e-3
    assert ctx.params["grad_accum"] == 1 and ctx.params["capacity_factor"] == 1.5


def test_every_train_and_model_option_is_a_spec_key_with_the_same_bounds():
    for d in declared(TrainConfig):
        if d.name == "seed":  # a spec lists its seeds at the top level
            assert "seed" not in SCHEMA["train"] and not d.option.sweep
            continue
        assert SCHEMA["train"][d.name] == _leaf_of(d), d.name
    for d in declared(ModelSpec):
        if d.name == "arch":  # one arch per spec (or a grid of them), not per size
            assert SCHEMA["model"]["arch"] == _leaf_of(d)
            continue
        # a size holds one value each (sizes vary by ladder, not grid), never null
        assert SIZE[d.name] == Leaf(d.type, d.option.lo, d.option.hi, d.option.lo_open, d.option.hi_open,
                                    d.option.choices, axis=False, nullable=False), d.name


def test_a_spec_that_leaves_options_out_gets_the_fields_defaults():
    (run,) = expand(parse_spec_text("data: {people: 60}"))
    resolved = {"lr", "wd", "batch"}  # None: the paper's values for N
    defaults = TrainConfig().to_dict()
    assert {k: v for k, v in run.train.items() if k not in resolved} == \
        {k: v for k, v in defaults.items() if k not in resolved}
    assert ModelSpec(**model_kwargs(run.model)) == ModelSpec()


def test_the_cli_builds_the_dataclasses_from_its_flags(monkeypatch, tmp_path):
    seen = {}

    def fake_train(data, spec, cfg, out, **kw):
        seen.update(spec=spec, cfg=cfg)
        return {"id": "x", "already_finished": True}

    monkeypatch.setattr("kcap.train.loop.train", fake_train)
    r = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--arch", "llama",
                                 "--untied", "--lr", "3e-3", "--grad-clip", "0.5", "--layers", "3"])
    assert r.exit_code == 0, r.output
    assert seen["spec"] == ModelSpec(layers=3, arch="llama", tied=False)
    assert seen["cfg"] == TrainConfig(lr=3e-3, grad_clip=0.5)


def test_bad_values_of_generated_options_are_one_line_naming_the_field(tmp_path):
    assert_one_line_error(kcap("train", "--data", tmp_path, "--out", tmp_path / "r", "--exposures", 0),
                          "exposures must be >= 1, got 0")
    r = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--beta2", "1"])
    assert isinstance(r.exception, KcapError) and str(r.exception) == "beta2 must be < 1, got 1.0"
    r = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--mlp-ratio", "-1"])
    assert str(r.exception) == "--mlp-ratio must be >= 0, got -1"


def test_a_field_declared_with_option_is_a_flag_and_a_spec_key():
    """What adding a field to TrainConfig gives: validation, a `kcap train` flag, a sweep key."""
    smoothing = option(0.0, "Label smoothing of the loss.", lo=0, hi=1)
    Extended = make_dataclass("Extended", [("label_smoothing", float, smoothing)], bases=(TrainConfig,))
    with pytest.raises(KcapError, match=r"^label_smoothing must be <= 1, got 2$"):
        Extended(label_smoothing=2)
    # the sweep
    schema = leaves(Extended)
    assert schema["label_smoothing"] == Leaf(float, 0, 1)
    assert check({"label_smoothing": [0, 0.1]}, schema, "train") == {"label_smoothing": [0.0, 0.1]}
    with pytest.raises(SpecError, match=r"^train.label_smoothing: must be <= 1, got 2.0$"):
        check({"label_smoothing": 2}, schema, "train")
    # the command line
    cli = typer.Typer()
    seen = {}

    @cli.command()
    @with_options((Extended, "Training"))
    def run(quiet: bool = False, **options) -> None:
        seen.update(pick(Extended, options))

    r = CliRunner().invoke(cli, ["--label-smoothing", "0.1", "--exposures", "3"])
    assert r.exit_code == 0, r.output
    assert Extended(**seen) == Extended(label_smoothing=0.1, exposures=3)
    assert "--label-smoothing" in CliRunner().invoke(cli, ["--help"]).output
