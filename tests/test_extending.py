"""A dataset kind registered from outside kcap works everywhere, with no edit to kcap: the recipe
of docs/extending.md, followed by a test. The toy kind lives in a temporary module that kcap
imports through $KCAP_PLUGINS, and goes through kcap data, train, measure, runs, sweep plan and
data stats as a user would call them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

TOY_KIND = textwrap.dedent('''
    """A toy kind: N people, each a key token and one value out of V symbols; H = N·log2 V."""
    from __future__ import annotations

    import math
    from dataclasses import MISSING, dataclass
    from pathlib import Path
    from typing import Annotated

    import numpy as np
    import typer

    from kcap.atomic import file_sha256, make_dir, write_bytes, write_json
    from kcap.corpus.windows import WindowedStream
    from kcap.kinds import DatasetKind, Estimate, register
    from kcap.knowledge.datasets import DATASET_FORMAT, check_dataset_dir, check_out_dir, load_array, save_array
    from kcap.knowledge.tokenizer import SEPARATOR, build_tokenizer, load_tokenizer
    from kcap.measure.losses import summary, token_losses
    from kcap.options import option


    @dataclass(frozen=True)
    class ToyParams:  # a sweep spec's data.toy section, declared once
        symbols: int = option(MISSING, "V: symbols a value is drawn from.", lo=2)


    @dataclass(frozen=True)
    class ToyDataset:
        path: Path
        meta: dict
        values: np.ndarray
        tokenizer_path: Path
        kind = "toy"
        variant = "plain"
        junk = None
        domain_token = False
        seed = property(lambda self: self.meta["seed"])
        n_people = property(lambda self: self.meta["people"])

        def vocab(self):
            return load_tokenizer(self.tokenizer_path).get_vocab()

        def docs(self, idx):  # (B, 3): separator, key, value
            v = self.vocab()
            keys = np.array([v[f"k{i}"] for i in idx], np.int32)
            vals = np.array([v[f"v{x}"] for x in self.values[idx]], np.int32)
            return np.stack([np.full(len(idx), v[SEPARATOR], np.int32), keys, vals], axis=1)


    def write_toy(out, people, symbols, seed):
        out = make_dir(check_out_dir(out))
        values = np.random.default_rng(seed).integers(0, symbols, size=people)
        save_array(out / "values.npy", values)
        tok = build_tokenizer([f"k{i}" for i in range(people)] + [f"v{s}" for s in range(symbols)])
        write_bytes(out / "tokenizer.json", tok.to_str().encode())
        bits = people * math.log2(symbols)
        meta = {"format": DATASET_FORMAT, "kind": "toy", "variant": "plain", "people": people, "seed": seed,
                "symbols": symbols, "vocab_size": tok.get_vocab_size(), "bits_max": bits,
                "bits_max_terms": {"values": bits},
                "files": {n: file_sha256(out / n) for n in ("values.npy", "tokenizer.json")}}
        write_json(out / "dataset.json", meta)
        return meta


    class ToyStream(WindowedStream):
        def __init__(self, dataset, exposures, seed):
            self.dataset, self.exposures, self.seed = dataset, exposures, seed
            self.pad = dataset.vocab()[SEPARATOR]

        def chunks(self):
            for r in range(self.exposures):
                perm = np.random.default_rng([self.dataset.seed, self.seed, r]).permutation(self.dataset.n_people)
                yield self.dataset.docs(perm).ravel()

        def total_tokens(self):
            return 3 * self.exposures * self.dataset.n_people

        def used_tokens(self):
            return len(self.dataset.vocab()) - 1

        def doc_lengths(self):
            return np.full(self.dataset.n_people, 3)

        def max_doc_tokens(self):
            return 3


    def data_toy(people: Annotated[int, typer.Option()], symbols: Annotated[int, typer.Option()],
                 out: Annotated[Path, typer.Option()], seed: Annotated[int, typer.Option()] = 0) -> None:
        """Generate a toy dataset."""
        meta = write_toy(out, people, symbols, seed)
        typer.echo(f"wrote toy to {out}: bits_max {meta['bits_max']:.0f}")


    class Toy(DatasetKind):
        name, command, summary, variants, uses_pools = "toy", "toy", "a toy kind", ("plain",), False
        spec_section, spec_params = "toy", ToyParams

        def cli(self):
            return data_toy

        def write(self, out, data):
            return write_toy(out, data["people"], data["toy"]["symbols"], data["seed"])

        def load(self, path, verify=True):
            path, meta = check_dataset_dir(path, ("toy",), verify)
            return ToyDataset(path, meta, load_array(path / "values.npy"), path / "tokenizer.json")

        def stream(self, dataset, exposures, seed=0):
            return ToyStream(dataset, exposures, seed)

        def measure(self, model, dataset, params, device, batch, context):
            n = dataset.n_people
            loss, _ = token_losses(model, dataset.docs(np.arange(n)).ravel(), np.arange(n + 1) * 3, device, batch,
                                   context)
            values = n * math.log2(dataset.meta["symbols"]) - float(loss[:, 2].sum()) / math.log(2)
            return summary(n, params, {"total": values, "values": values}, dataset.meta["bits_max"],
                           dataset.meta["bits_max_terms"])

        def estimate(self, data):
            return Estimate(vocab=data["people"] + data["toy"]["symbols"] + 2, mean_doc=3.0, longest_doc=3)


    register(Toy())
''')


def _kcap(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "KCAP_PLUGINS": "toykind", "PYTHONPATH": f"{tmp_path / 'plugin'}{os.pathsep}{SRC}",
           "KCAP_WORKSPACE": str(tmp_path / "ws")}
    r = subprocess.run([sys.executable, "-m", "kcap", *map(str, args)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_a_kind_registered_from_outside_works_everywhere(tmp_path):
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "toykind.py").write_text(TOY_KIND)
    assert "toy" in _kcap(tmp_path, "data", "--help").stdout
    assert "bits_max 64" in _kcap(tmp_path, "data", "toy", "--people", "32", "--symbols", "4", "--out", "d").stdout
    stats = json.loads(_kcap(tmp_path, "data", "stats", "d", "--exposures", "2", "--json").stdout)
    assert stats["kind"] == "toy" and stats["stream"]["useful_tokens"] == 2 * 32 * 3 - 1
    _kcap(tmp_path, "train", "--data", "d", "--out", "run", "--layers", "1", "--heads", "1", "--d-model", "16",
          "--exposures", "30", "--lr", "3e-2", "--batch", "4", "--seq", "24", "--quiet", "--device", "cpu")
    r = json.loads(_kcap(tmp_path, "measure", "run", "--json").stdout)
    assert r["kind"] == "toy" and r["bits_max"] == 64 and r["bits_terms"]["values"] == r["bits"]
    assert r["bits"] > 0  # 30 exposures of 32 facts: it learned some
    assert "values" in _kcap(tmp_path, "measure", "run").stdout  # the table shows the kind's term
    assert "toy" in _kcap(tmp_path, "runs").stdout
    (tmp_path / "spec.yaml").write_text(textwrap.dedent("""
        data: {kind: toy, people: [16, 32], toy: {symbols: 4}}
        model: {base: {layers: 1, heads: 1, d_model: 16}}
        train: {exposures: 10, seq: 24, lr: 3e-2, batch: 4}
    """))
    plan = json.loads(_kcap(tmp_path, "sweep", "plan", "spec.yaml", "--json").stdout)
    assert len(plan) == 2 and {r["data"]["kind"] for r in plan} == {"toy"}
    assert all("toy" in r["name"] and r["est"]["tokens"] == r["data"]["people"] * 10 * 3 for r in plan)
