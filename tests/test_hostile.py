"""A standing hostile-input suite: every subcommand, fed malformed numbers, missing, empty,
truncated, binary and edited files of every kind, and conflicting paths, must end in one line
``kcap: error: ...`` with exit code 2 (never a traceback), naming the offending option or file,
and must leave every file that existed before byte-identical (no file changed, none added or
removed).

The CLI runs in this process (``kcap.cli.main``), on one tiny dataset and one tiny trained,
measured run made once per session; a test that damages a file damages a copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kcap.cli import main

TINY = ["--layers", "1", "--heads", "2", "--d-model", "16", "--exposures", "2", "--batch", "4", "--seq", "128",
        "--lr", "1e-2", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """One dataset (bioS, 20 people), one run trained and measured on it, one sweep spec: read only."""
    from kcap.measure.evaluate import measure_run

    root = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:  # its own store, whatever the first test's is
        mp.setenv("KCAP_WORKSPACE", str(root / "ws"))
        assert _kcap("data", "bios", "--people", 20, "--out", root / "data")[0] == 0
        assert _kcap("train", "--data", root / "data", "--out", root / "run", *TINY)[0] == 0
        measure_run(root / "run", device="cpu", record=False)
    (root / "spec.yaml").write_text("name: tiny\ndata: {people: 20}\nmodel: {base: {layers: 1, heads: 2, d_model: 16}}\n"
                                    "train: {exposures: 2, batch: 4, seq: 128, device: cpu}\n")
    return {"root": root, "data": root / "data", "run": root / "run", "spec": root / "spec.yaml"}


def _kcap(*args) -> tuple[int, str, str]:
    """Run ``kcap ARGS`` in this process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    return e.value.code, out.getvalue(), err.getvalue()


def tree(*roots: Path) -> dict[str, str | None]:
    """Every path under ``roots`` with the SHA-256 of its bytes (None for a directory)."""
    out: dict[str, str | None] = {}
    for root in roots:
        root = Path(root)
        if root.is_file():
            out[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        for p in sorted(root.rglob("*")) if root.is_dir() else ():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return out


@contextmanager
def unchanged(*roots: Path):
    before = tree(*roots)
    yield
    after = tree(*roots)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k, "absent") != after.get(k, "absent"))
    assert not changed, f"files changed, added or removed: {changed[:5]}"


@pytest.fixture
def refused(world, tmp_path):
    """refused(*args, needles=(...)): kcap ARGS ends in one line, exit code 2, naming every needle,
    and the world and this test's files (its store aside) are byte-identical afterwards."""
    def check(*args, needles=(), roots=()):
        work = [p for p in tmp_path.iterdir() if p.name != "ws"]
        with unchanged(world["root"] / "data", world["run"], world["spec"], *work, *roots):
            code, out, err = _kcap(*args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("kcap: error: "), (code, err, out[-500:])
        for n in needles:
            assert n in lines[0], (n, lines[0])
        return lines[0]
    return check


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ------------------------------------------------------------------------- malformed numbers

BAD_NUMBERS = [
    # (command, option, value, what the message names)
    *[(("data", "bios", "--people", "20"), o, v, n) for o, v, n in [
        ("--people", "-1", "--people"), ("--people", "0", "--people"), ("--people", "nan", "--people"),
        ("--people", "1e3", "--people"), ("--people", str(10**30), "--people"), ("--seed", "-1", "--seed"),
        ("--seed", "x", "--seed"), ("--junk-fraction", "-0.1", "--junk-fraction"),
        ("--junk-fraction", "1", "--junk-fraction"), ("--junk-fraction", "nan", "--junk-fraction"),
        ("--junk-fraction", "inf", "--junk-fraction")]],
    *[(("data", "biod", "--people", "10", "--attributes", "2", "--chunks", "1", "--diversity", "3", "--chunk-len", "1",
        "--alphabet", "5"), o, v, o) for o, v in [
        ("--people", "0"), ("--attributes", "0"), ("--chunks", "-1"), ("--diversity", "0"), ("--chunk-len", "0"),
        ("--alphabet", "1"), ("--alphabet", str(2**40)), ("--diversity", "inf")]],
    *[(("data", "random", "--sequences", "10", "--length", "4", "--alphabet", "4"), o, v, o) for o, v in [
        ("--sequences", "0"), ("--length", "-1"), ("--alphabet", "1"), ("--alphabet", str(2**40)),
        ("--length", "1e400")]],
    *[(("train", *TINY), o, v, n) for o, v, n in [
        ("--exposures", "0", "exposures"), ("--exposures", str(10**30), "exposures"), ("--lr", "0", "lr"),
        ("--lr", "-1", "lr"), ("--lr", "nan", "lr"), ("--lr", "inf", "lr"), ("--lr", "1e400", "lr"),
        ("--lr", "fast", "--lr"), ("--wd", "nan", "wd"), ("--wd", "-1", "wd"), ("--batch", "0", "batch"),
        ("--seq", "0", "seq"), ("--seq", "8", "--seq"), ("--warmup", "-1", "warmup"),
        ("--grad-accum", "0", "grad_accum"), ("--grad-accum", "3", "grad_accum"),
        ("--min-lr-ratio", "2", "min_lr_ratio"), ("--beta1", "1", "beta1"), ("--beta2", "-0.5", "beta2"),
        ("--eps", "0", "eps"), ("--grad-clip", "nan", "grad_clip"), ("--seed", "-1", "seed"),
        ("--seed", str(2**70), "seed"), ("--log-every", "0", "log_every"), ("--eval-every", "-1", "eval_every"),
        ("--heldout", "0", "heldout"), ("--layers", "0", "--layers"), ("--layers", str(10**6), "--layers"),
        ("--heads", "0", "--heads"), ("--heads", "3", "--heads"), ("--d-model", "0", "--d-model"),
        ("--kv-heads", "0", "--kv-heads"), ("--mlp-ratio", "-1", "--mlp-ratio"), ("--experts", "-1", "--experts"),
        ("--experts", str(10**6), "--experts"), ("--top-k", "0", "--top-k"),
        ("--capacity-factor", "0", "--capacity-factor"), ("--capacity-factor", "nan", "--capacity-factor"),
        ("--checkpoint-every", "-1", "--checkpoint-every"), ("--precision", "fp8", "precision"),
        ("--device", "tpu9", "--device"), ("--compile", "maybe", "compile"), ("--resume", "sometimes", "--resume"),
        ("--arch", "rnn", "--arch")]],
    *[(("measure", "RUN"), o, v, n) for o, v, n in [
        ("--quantize", "int3", "--quantize"), ("--group-size", "4", "--group-size"), ("--device", "tpu9", "--device")]],
    (("measure", "RUN", "--quantize", "int4"), "--group-size", "0", "--group-size"),
    *[(("optimal",), o, v, o) for o, v in [
        ("--flops", "0"), ("--flops", "-1"), ("--flops", "nan"), ("--flops", "inf"), ("--flops", "1e400"),
        ("--flops", "lots"), ("--params", "0"), ("--params", "-inf")]],
    (("optimal", "--params", "1e9"), "--exposures", "0", "--exposures"),
    (("fit", "compute"), "--boot", "1", "--boot"),
    (("fit", "passes"), "--fraction", "nan", "--fraction"),
    (("fit", "passes"), "--fraction", "1.5", "--fraction"),
    *[(("sweep", "run", "SPEC"), o, v, o) for o, v in [("--jobs", "0"), ("--group-models", "0"), ("--backend", "mpi")]],
    (("sweep", "status", "SPEC"), "--jobs", "0", "--jobs"),
    *[(("bench", "train", "--steps", "1", "--rounds", "1"), o, v, n) for o, v, n in [
        ("--vocab", "0", "--vocab"), ("--batch", "0", "batch"), ("--seq", "-4", "seq"), ("--layers", "0", "--layers"),
        ("--steps", "0", "--steps"), ("--rounds", "-1", "--rounds"), ("--compile", "maybe", "compile")]],
    *[(("bench", "many", "--steps", "1", "--rounds", "1"), o, v, o) for o, v in [
        ("--models", "0"), ("--vocab", "-5"), ("--heads", "0")]],
    (("demo",), "--exposures", "0", "exposures"),
    (("data", "stats", "DATA"), "--exposures", "0", "--exposures"),
    (("data", "stats", "DATA"), "--seq", "1", "--seq"),
    (("data", "stats", "DATA"), "--seed", "-1", "--seed"),
]


@pytest.mark.parametrize("base, option, value, names", BAD_NUMBERS,
                         ids=[f"{' '.join(b[:2])} {o} {v[:12]}" for b, o, v, _ in BAD_NUMBERS])
def test_a_bad_number_is_one_line_naming_its_option(world, tmp_path, refused, base, option, value, names):
    args = [world["run"] if a == "RUN" else world["spec"] if a == "SPEC" else world["data"] if a == "DATA" else a
            for a in base]
    if "--out" not in args and args[0] in ("data", "train", "demo") and args[1:2] != ["stats"]:
        args += ["--out", tmp_path / "out"]
    if args[0] == "train":
        args += ["--data", world["data"]]
    refused(*args, f"{option}={value}", needles=(names,))
    assert not (tmp_path / "out").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(["--lr", "--wd", "--exposures", "--batch", "--seq", "--warmup", "--layers",
                               "--d-model", "--min-lr-ratio", "--seed", "--capacity-factor"]),
       value=st.one_of(st.integers(min_value=-2**70, max_value=2**70).map(str),
                       st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)))
def test_any_value_of_a_train_option_plans_or_is_refused_in_one_line(world, tmp_path, option, value):
    """kcap train --dry-run with any value: the plan, or one line with exit 2; nothing written."""
    with unchanged(world["data"], tmp_path):
        code, _, err = _kcap("train", "--data", world["data"], "--out", tmp_path / "out", *TINY, "--dry-run",
                               f"{option}={value}")
    assert code in (0, 2), err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kcap: error: "), err


@settings(max_examples=40, deadline=None)
@given(option=st.sampled_from(["--flops", "--params"]),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                       st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)))
def test_any_budget_for_optimal_answers_or_is_refused_in_one_line(option, value):
    code, _, err = _kcap("optimal", f"{option}={value}")
    assert code in (0, 2), err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kcap: error: "), err


# ------------------------------------------------------------------------- damaged files

def _damage(path: Path, how: str, original: bytes) -> None:
    """Replace a file by a damaged version of itself."""
    if how == "missing":
        path.unlink()
    elif how == "directory":
        path.unlink()
        path.mkdir()
    else:
        path.write_bytes({"empty": b"", "truncated": original[: len(original) // 2],
                          "binary": bytes(range(256)) * 4, "not-utf8": b'{"kind": "\xff\xfe"}',
                          "json-list": b"[1, 2, 3]"}[how])


DAMAGE = ("missing", "directory", "empty", "truncated", "binary", "not-utf8", "json-list")


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("name", ["dataset.json", "people.npy", "tokenizer.json"])
def test_a_damaged_dataset_file_is_named(world, tmp_path, refused, name, how):
    data = copy(world["data"], tmp_path / "data")
    _damage(data / name, how, (world["data"] / name).read_bytes())
    refused("data", "stats", data, needles=(name,))
    refused("train", "--data", data, "--out", tmp_path / "run", *TINY, needles=(name,))
    refused("measure", world["run"], "--data", data, "--device", "cpu", needles=(name,))


EDITS = [  # dataset.json edits, and what the refusal names
    ({"people": 10}, "dataset.json was edited"), ({"seed": "x"}, "seed"), ({"vocab_size": -1}, "vocab_size"),
    ({"variant": "weird"}, "variant"), ({"kind": "bioX"}, "bioX"), ({"junk": {"fraction": 2}}, "junk"),
    ({"files": {"people.npy": "0" * 64, "tokenizer.json": "0" * 64}}, "people.npy is corrupted"),
    ({"files": []}, "dataset.json"), ({"files": {}}, "files"), ({"bits_max": "lots"}, "bits_max"), ({"domain_token": "yes"}, "domain_token"),
]


@pytest.mark.parametrize("edit, names", EDITS, ids=[next(iter(e)) + str(i) for i, (e, _) in enumerate(EDITS)])
def test_an_edited_dataset_json_is_named_as_the_cause(world, tmp_path, refused, edit, names):
    data = copy(world["data"], tmp_path / "data")
    meta = json.loads((data / "dataset.json").read_text())
    (data / "dataset.json").write_text(json.dumps({**meta, **edit}))
    refused("data", "stats", data, needles=(names,))
    refused("train", "--data", data, "--out", tmp_path / "run", *TINY, needles=(names,))


def test_a_replaced_data_array_is_named(world, tmp_path, refused):
    data = copy(world["data"], tmp_path / "data")
    np.save(data / "people.npy", np.zeros((20, 9), np.uint16))
    refused("data", "stats", data, needles=("people.npy", "checksum"))


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "summary.json"])
def test_a_damaged_run_file_is_named(world, tmp_path, refused, name, how):
    run = copy(world["run"], tmp_path / "run")
    _damage(run / name, how, (world["run"] / name).read_bytes())
    refused("measure", run, "--device", "cpu", needles=(name,))
    refused("export", run, "--hf", tmp_path / "hf", needles=(name,))
    assert not (tmp_path / "hf").exists()


def _edit_json(path: Path, *keys_value) -> None:
    d = json.loads(path.read_text())
    *keys, last, value = keys_value
    node = d
    for k in keys:
        node = node[k]
    node[last] = value
    path.write_text(json.dumps(d))


@pytest.mark.parametrize("keys, value, names", [
    (("train", "lr"), 0.5, "was altered"), (("id",), "0123456789ab", "was altered"),
    (("params", "total"), 10, "params"), (("params",), None, "params"), (("model", "n_layer"), "x", "config.json"),
    (("data",), [], "config.json"),
], ids=["lr", "id", "params-total", "params-null", "n_layer", "data-list"])
def test_an_edited_run_config_is_refused(world, tmp_path, refused, keys, value, names):
    run = copy(world["run"], tmp_path / "run")
    _edit_json(run / "config.json", *keys, value)
    refused("measure", run, "--device", "cpu", needles=(names,))


def test_weights_replaced_behind_the_summary_are_refused(world, tmp_path, refused):
    run = copy(world["run"], tmp_path / "run")
    _edit_json(run / "summary.json", "weights_sha256", "0" * 64)
    refused("measure", run, "--device", "cpu", needles=("model.safetensors", "checksum"))


SPECS = {
    "empty": b"", "binary": bytes(range(256)), "not-utf8": b"data:\n  people: \xff\n", "truncated": b"data:\n  people: [1,",
    "duplicate key": b"data:\n  people: 20\n  people: 40\n", "repeated section": b"data:\n  people: 20\ndata:\n  people: 9\n",
    "list": b"- 1\n- 2\n", "unknown key": b"data:\n  peeple: 20\n", "bad value": b"data:\n  people: -3\n",
    "huge seed": b"data:\n  people: 20\nseeds: [1180591620717411303424]\n",
}


@pytest.mark.parametrize("how", sorted(SPECS))
def test_a_bad_spec_is_refused_by_every_sweep_command(tmp_path, refused, how):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(SPECS[how])
    for cmd in ("plan", "status", "run"):
        line = refused("sweep", cmd, spec, needles=(str(spec) if how in ("empty", "binary", "not-utf8", "list",
                                                                           "truncated") else "",))
        if how in ("duplicate key", "repeated section"):
            assert "duplicate key" in line and "line" in line


@pytest.mark.parametrize("how", ["missing", "directory"])
def test_a_spec_that_is_not_a_file(tmp_path, refused, how):
    spec = tmp_path / "spec.yaml"
    if how == "directory":
        spec.mkdir()
    refused("sweep", "plan", spec, needles=(str(spec), "directory" if how == "directory" else "does not exist"))


@pytest.mark.parametrize("content", [b"", bytes(range(256)), b"[1, 2]", b'{"model_type": 5}', b"{"])
def test_a_bad_hf_config_is_one_line(world, tmp_path, refused, content):
    pytest.importorskip("transformers")
    cfg = tmp_path / "hf.json"
    cfg.write_bytes(content)
    refused("train", "--data", world["data"], "--out", tmp_path / "run", "--exposures", "2", "--batch", "4",
            "--seq", "128", "--device", "cpu", "--quiet", "--hf-config", cfg, needles=("--hf-config",))


@pytest.mark.parametrize("content, names", [
    (b"", "missing column"), (b"params,bits,bits_max\n", "no rows"), (bytes(range(256)), "UTF-8"), (b"params,bits\n1,2\n", "bits_max"),
    (b"params,bits,bits_max\n1,nan,3\n", "bits"), (b"params,bits,bits_max\n-1,2,3\n", "params"),
    (b"params,bits,bits_max\nx,2,3\n", "row 2"),
])
def test_a_bad_fit_table_is_one_line(tmp_path, refused, content, names):
    table = tmp_path / "runs.csv"
    table.write_bytes(content)
    refused("fit", "capacity", table, needles=(names,))


@pytest.mark.parametrize("content", [b"", bytes(range(256)), b"[1]", b'{"identified": false, "why": "one point"}'])
def test_a_bad_fit_file_for_optimal_is_one_line(tmp_path, refused, content):
    fit = tmp_path / "fit.json"
    fit.write_bytes(content)
    refused("optimal", "--flops", "1e20", "--fit", fit, needles=("--fit",))


# ------------------------------------------------------------------------- conflicting paths

def _holdings(world, tmp_path) -> dict[str, Path]:
    """Directories holding each kind of thing a command might be pointed at by mistake."""
    (tmp_path / "file").write_text("a file\n")
    (tmp_path / "foreign").mkdir()
    for n in ("a.txt", "b.txt", "notes.md"):
        (tmp_path / "foreign" / n).write_text(n)
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"model_type": "gpt_neox"}')
    return {"dataset": world["data"], "run": world["run"], "file": tmp_path / "file",
            "foreign": tmp_path / "foreign", "hf": tmp_path / "hf"}


WHAT = {"dataset": "holds a kcap dataset", "run": "holds run", "file": "not a directory",
        "foreign": "holds 3 files", "hf": "holds a Hugging Face model"}


@pytest.mark.parametrize("target", sorted(WHAT))
def test_no_command_writes_into_a_directory_that_holds_something_else(world, tmp_path, refused, target):
    dst = _holdings(world, tmp_path)[target]
    if target != "dataset":
        refused("data", "bios", "--people", "20", "--out", dst, needles=(WHAT[target],))
        refused("data", "random", "--sequences", "4", "--length", "3", "--alphabet", "3", "--out", dst,
                needles=(WHAT[target],))
    if target != "run":
        refused("train", "--data", world["data"], "--out", dst, *TINY, needles=(WHAT[target],))
        refused("train", "--data", world["data"], "--out", dst, *TINY, "--overwrite", needles=(WHAT[target],))
    if target != "hf":
        refused("export", world["run"], "--hf", dst, needles=(WHAT[target],))
        refused("export", world["run"], "--hf", dst, "--overwrite", needles=(WHAT[target],))
    refused("demo", "--out", dst, needles=(str(dst),))


def test_the_same_kind_of_thing_is_replaced_only_when_told(world, tmp_path, refused):
    h = _holdings(world, tmp_path)
    refused("data", "bios", "--people", "20", "--out", world["data"], needles=("holds a kcap dataset", "--overwrite"))
    refused("train", "--data", world["data"], "--out", world["run"], *TINY, needles=("already holds this run",
                                                                                   "--overwrite"))
    refused("train", "--data", world["data"], "--out", world["run"], *TINY, "--lr", "2e-2",
            needles=("holds run", "--overwrite"))
    refused("train", "--data", world["data"], "--out", world["run"], *TINY, "--lr", "2e-2", "--resume", "auto",
            needles=("config differs in train.lr",))
    refused("train", "--data", world["data"], "--out", world["run"], *TINY, "--resume", "auto", "--overwrite",
            needles=("--overwrite", "--resume auto"))
    refused("export", world["run"], "--hf", h["hf"], needles=("Hugging Face model", "--overwrite"))


@pytest.mark.parametrize("args, names", [
    (("measure", "DATA"), "config.json is missing"), (("measure", "FILE"), "is a file"),
    (("measure", "NOPE"), "does not exist"), (("data", "stats", "RUN"), "not a kcap dataset"),
    (("data", "stats", "FILE"), "is a file"), (("data", "stats", "NOPE"), "does not exist"),
    (("train", "--data", "RUN", "--out", "NEW"), "not a kcap dataset"),
    (("train", "--data", "FILE", "--out", "NEW"), "is a file"),
    (("measure", "RUN", "--data", "NOPE"), "does not exist"),
    (("measure", "--hf", "RUN", "--data", "DATA"), "causal LM"),
    (("measure", "--hf", "DATA"), "--data"),
    (("plot", "capacity", "--out", "DATA"), "is a directory"),
    (("plot", "capacity", "--out", "NOPE/c.png"), "does not exist"),
    (("plot", "capacity", "--out", "RUN/config.json"), "is a file of run"),
    (("fit", "capacity", "--plot", "DATA/dataset.json"), "is a file of a kcap dataset"),
    (("fit", "capacity", "--out", "RUN/measure.json"), "is a file of run"),
    (("data", "bios", "--people", "5", "--out", ""), "--out is empty"),
    (("data", "bios", "--people", "5", "--out="), "--out is empty"),
    (("train", "--data", "", "--out", "NEW"), "--data is empty"),
    (("measure", ""), "argument 2 is empty"),
], ids=lambda v: "-".join(map(str, v)) if isinstance(v, tuple) else None)
def test_a_path_that_is_the_wrong_thing_is_named(world, tmp_path, refused, args, names):
    (tmp_path / "file").write_text("x")
    sub = {"DATA": str(world["data"]), "RUN": str(world["run"]), "FILE": str(tmp_path / "file"),
           "NOPE": str(tmp_path / "nope"), "NEW": str(tmp_path / "new")}
    args = [sub.get(a.split("/")[0], a.split("/")[0]) + ("/" + a.split("/", 1)[1] if "/" in a else "")
            if a else a for a in args]
    if args[0] == "train":
        args += TINY
    refused(*args, needles=(names,))
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("where", ["file", "under-a-file", "uncreatable"])
def test_a_workspace_that_cannot_hold_a_store(world, tmp_path, refused, monkeypatch, where):
    (tmp_path / "file").write_text("x")
    ws = {"file": tmp_path / "file", "under-a-file": tmp_path / "file" / "ws", "uncreatable": Path("/proc/kcap-ws")}
    monkeypatch.setenv("KCAP_WORKSPACE", str(ws[where]))
    for args in (("runs",), ("measure", world["run"], "--device", "cpu"), ("plot", "capacity", "--out",
                 tmp_path / "c.png"), ("fit", "capacity"), ("fit", "compute"), ("fit", "passes"),
                 ("sweep", "run", world["spec"]),
                 ("train", "--data", world["data"], "--out", tmp_path / "new", *TINY)):
        refused(*args, needles=("KCAP_WORKSPACE",))
    assert not (tmp_path / "new").exists()


# ------------------------------------------------------------------------- the store

def _store_with_run(world) -> Path:
    from conftest import record_in_store

    record_in_store(world["run"])
    from kcap.store.workspace import store_path

    return store_path()


@pytest.mark.parametrize("column, value", [("config", "{not json"), ("params", None), ("results", "\xff"),
                                           ("metrics", "[")])
def test_a_broken_store_row_is_flagged_by_runs_and_refused_by_fits(world, tmp_path, refused, column, value):
    db = _store_with_run(world)
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE runs SET {column} = ?, status = 'measured', bits = 1, bits_max = 2, "
                     "bits_per_param = 0.1", (value,))
    code, out, err = _kcap("runs")
    assert code == 0 and "Traceback" not in err and ("corrupted" in err or "incomplete" in err), err
    code, out, err = _kcap("runs", "--json")
    assert code == 0 and json.loads(out)[0]["problem"]
    refused("fit", "capacity", needles=("run ", "capacity fit cannot use it"))
    refused("plot", "capacity", "--out", tmp_path / "c.png", needles=("the plot cannot use it",))


def test_plot_names_a_run_id_it_cannot_draw(world, tmp_path, refused):
    _store_with_run(world)
    refused("plot", "capacity", "--run", "deadbeef0000", "--out", tmp_path / "c.png",
            needles=("--run deadbeef0000", "no such run"))
    rid = json.loads((world["run"] / "config.json").read_text())["id"]
    refused("plot", "capacity", "--run", rid, "--out", tmp_path / "c.png", needles=(f"--run {rid}", "trained"))


def test_a_run_being_trained_is_refused_by_a_second_trainer_and_by_measure(world, tmp_path, refused):
    import os

    from kcap.outdir import lock_dir

    run = copy(world["run"], tmp_path / "run")
    with lock_dir(run):
        refused("train", "--data", world["data"], "--out", run, *TINY, "--overwrite",
                needles=(f"pid {os.getpid()}", "being trained"))
        refused("measure", run, "--device", "cpu", needles=("being trained",))
        refused("export", run, "--hf", tmp_path / "hf", needles=("being trained",))


@pytest.mark.parametrize("how", ["binary", "truncated", "newer", "directory"])
def test_a_damaged_store_file_is_one_line(world, tmp_path, refused, how):
    db = _store_with_run(world)
    if how == "binary":
        db.write_bytes(bytes(range(256)) * 16)
    elif how == "truncated":
        db.write_bytes(db.read_bytes()[:3000])
    elif how == "newer":
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA user_version = 99")
    else:
        for f in db.parent.iterdir():
            f.unlink()
        db.mkdir()
    names = {"newer": "newer than this kcap"}.get(how, str(db))
    for args in (("runs",), ("measure", world["run"], "--device", "cpu"), ("fit", "capacity"),
                 ("plot", "capacity", "--out", tmp_path / "c.png"),
                 ("train", "--data", world["data"], "--out", tmp_path / "new", *TINY)):
        refused(*args, needles=(names,), roots=(db,))  # SQLite may add its -wal/-shm beside it
    assert not (tmp_path / "new").exists()


def test_damaged_sweep_markers_are_no_traceback(world, tmp_path, monkeypatch):
    """A sweep's running.json / failed.json cut short or garbled: status still reads every run."""
    from kcap.sweep import plan_spec

    monkeypatch.setenv("KCAP_WORKSPACE", str(tmp_path / "ws"))
    _, (run,) = plan_spec(world["spec"])
    run.run_dir.mkdir(parents=True)
    (run.run_dir / "running.json").write_bytes(b"\xff\xfe{")
    (run.run_dir / "failed.json").write_bytes(b"[1, 2]")
    code, out, err = _kcap("sweep", "status", world["spec"], "--json")
    assert code == 0, err
    assert json.loads(out)["runs"][0]["state"] in ("pending", "interrupted")  # either way, it will run
