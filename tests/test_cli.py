"""The CLI as a user meets it: one-line errors with a non-zero exit, never a traceback."""

import json
import subprocess
import sys

import pytest

from kcap.knowledge.people import NAME_SPACE


def kcap(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kcap", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def assert_one_line_error(p, *needles):
    assert p.returncode != 0
    err = p.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def test_data_and_train_and_measure_and_runs(tmp_path):
    data, run = tmp_path / "d", tmp_path / "r"
    p = kcap("data", "bios", "--people", 60, "--seed", 1, "--out", data)
    assert p.returncode == 0, p.stderr
    meta = json.loads((data / "dataset.json").read_text())
    assert meta["kind"] == "bioS" and meta["people"] == 60 and meta["variant"] == "multi"
    for key in ("seed", "vocab_size", "attributes", "bits_max"):
        assert key in meta
    p = kcap("train", "--data", data, "--out", run, "--layers", 1, "--heads", 2, "--d-model", 16,
             "--exposures", 2, "--batch", 4, "--seq", 128, "--lr", "3e-3", "--quiet")
    assert p.returncode == 0, p.stderr
    p = kcap("measure", run, "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["bits_max"] == pytest.approx(meta["bits_max"])
    p = kcap("runs", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)[0]["status"] == "measured"
    p = kcap("plot", "capacity", "--out", tmp_path / "cap.png")
    assert p.returncode == 0 and (tmp_path / "cap.png").stat().st_size > 1000


def test_bad_option_value(tmp_path):
    assert_one_line_error(kcap("data", "bios", "--people", "many", "--out", tmp_path / "x"), "--people")


def test_unknown_option(tmp_path):
    assert_one_line_error(kcap("data", "bios", "--people", 5, "--colour", "red", "--out", tmp_path), "--colour")


def test_more_people_than_names(tmp_path):
    assert_one_line_error(kcap("data", "bios", "--people", NAME_SPACE + 1, "--out", tmp_path / "x"),
                          "distinct full names")


def test_missing_dataset(tmp_path):
    assert_one_line_error(kcap("train", "--data", tmp_path / "nope", "--out", tmp_path / "r"), "does not exist")


def test_corrupted_dataset(tmp_path):
    assert kcap("data", "bios", "--people", 10, "--out", tmp_path / "d").returncode == 0
    (tmp_path / "d" / "people.npy").write_bytes(b"garbage")
    assert_one_line_error(kcap("train", "--data", tmp_path / "d", "--out", tmp_path / "r"), "corrupted")


def test_missing_run(tmp_path):
    assert_one_line_error(kcap("measure", tmp_path / "nope"), "does not exist")


def test_bad_model_shape(tmp_path):
    assert kcap("data", "bios", "--people", 10, "--out", tmp_path / "d").returncode == 0
    assert_one_line_error(kcap("train", "--data", tmp_path / "d", "--out", tmp_path / "r", "--heads", 3),
                          "--heads")


def test_bad_device_and_compile(tmp_path):
    assert kcap("data", "bios", "--people", 10, "--out", tmp_path / "d").returncode == 0
    assert_one_line_error(kcap("train", "--data", tmp_path / "d", "--out", tmp_path / "r", "--compile", "maybe"),
                          "compile")
    assert_one_line_error(kcap("train", "--data", tmp_path / "d", "--out", tmp_path / "r", "--device", "tpu9"),
                          "device")


def test_dry_run_resolves_without_training(tmp_path):
    assert kcap("data", "bios", "--people", 30, "--out", tmp_path / "d").returncode == 0
    p = kcap("train", "--data", tmp_path / "d", "--out", tmp_path / "r", "--exposures", 3, "--dry-run")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["train"]["lr"] == 1e-3 and r["train"]["batch"] == 24  # the paper's defaults for small N
    assert r["steps"] >= 1 and r["params"]["total"] > 0
    assert not (tmp_path / "r").exists()
