"""Hugging Face interop: export loads with plain transformers, logits and bits agree, HF configs train."""

import json
import subprocess
import sys

import pytest
import torch
from test_cli import assert_one_line_error, kcap

transformers = pytest.importorskip("transformers")

from kcap.kinds.bios.data import load_bios
from kcap.measure.evaluate import load_run_model, measure_run
from kcap.model.gpt import GPT, GPTConfig
from kcap.model.hf import to_hf


def test_export_loads_without_custom_code_and_matches_logits_and_bits(trained_run, tmp_path):
    out = tmp_path / "hf"
    p = kcap("export", trained_run, "--hf", out)
    assert p.returncode == 0, p.stderr
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).float().eval()
    tok = transformers.AutoTokenizer.from_pretrained(out)
    assert type(hf).__name__ == "GPTNeoXForCausalLM"
    config, ours = load_run_model(trained_run)
    ours.eval()
    dataset = load_bios(config["data"]["path"])
    vocab = dataset.vocab()
    words = sorted(vocab, key=vocab.get)[:: max(1, len(vocab) // 50)]  # tokens from all over the vocabulary
    assert tok(" ".join(words))["input_ids"] == [vocab[w] for w in words]  # same ids as our tokenizer
    x = torch.randint(0, config["model"]["vocab_size"], (3, 128), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (hf(input_ids=x).logits - ours(x)).abs().max() < 1e-4
    native = measure_run(trained_run, record=False)
    p = kcap("measure", "--hf", out, "--data", config["data"]["path"], "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["bits"] == pytest.approx(native["bits"], rel=1e-3)
    assert r["params"] == native["params"] and r["params_breakdown"]["embedding"] == native["params_breakdown"]["embedding"]


@pytest.mark.parametrize("kw,cls", [(dict(arch="llama", tie_embeddings=False), "LlamaForCausalLM"),
                                    (dict(arch="llama"), "LlamaForCausalLM"),
                                    (dict(arch="mistral", n_kv_head=1), "MistralForCausalLM"),
                                    (dict(arch="gpt2", mlp_ratio=1, tie_embeddings=False), "GPTNeoXForCausalLM")])
def test_every_exportable_arch_round_trips(kw, cls, tmp_path):
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=40, n_layer=2, n_head=4, d_model=32, max_seq=32, bias=kw["arch"] == "gpt2", **kw)
    model = GPT(cfg).eval()
    with torch.no_grad():  # norms start at 1 and 0: give them values so a mix-up would show
        for n, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    to_hf(model, eos=0).save_pretrained(tmp_path / "m")
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "m").float().eval()
    assert type(hf).__name__ == cls
    x = torch.randint(0, 40, (2, 32))
    with torch.no_grad():
        assert (hf(input_ids=x).logits - model(x)).abs().max() < 1e-4


def test_moe_and_no_mlp_do_not_export(tmp_path):
    from kcap.errors import KcapError

    for kw in (dict(n_expert=4), dict(mlp_ratio=0)):
        with pytest.raises(KcapError, match="cannot export"):
            to_hf(GPT(GPTConfig(vocab_size=40, n_layer=1, n_head=2, d_model=16, **kw)), eos=0)


def test_train_any_hf_config_from_scratch(bios50, tmp_path):
    hf_cfg = {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
              "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 128,
              "tie_word_embeddings": True}
    (tmp_path / "cfg.json").write_text(json.dumps(hf_cfg))
    run = tmp_path / "run"
    p = kcap("train", "--data", bios50, "--out", run, "--hf-config", tmp_path / "cfg.json", "--exposures", 4,
             "--batch", 4, "--seq", 128, "--lr", "1e-2", "--warmup", 3, "--quiet", "--eval-every", 0)
    assert p.returncode == 0, p.stderr
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < log[0]["loss"] - 1.0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["arch"] == "hf" and config["model"]["hf_config"]["model_type"] == "qwen2"
    b = config["params"]
    assert sum(b[k] for k in ("embedding", "attention", "mlp", "norms", "output")) + b.get("other", 0) == b["total"]
    assert b.get("other", 0) == 0 and b["attention"] > 0 and b["mlp"] > 0
    p = kcap("measure", run, "--json")
    assert p.returncode == 0, p.stderr
    native = json.loads(p.stdout)
    assert native["params"] == b["total"]
    # such a run exports as the HF model it already is, and measures the same through --hf
    from kcap.measure.evaluate import export_run, measure_hf

    assert export_run(run, tmp_path / "hf")["hf_class"] == "Qwen2ForCausalLM"
    assert measure_hf(tmp_path / "hf", bios50)["bits"] == pytest.approx(native["bits"], rel=1e-3)


def test_bad_hf_config_is_one_line(small_bios, tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"hidden_size": 8}))
    assert_one_line_error(kcap("train", "--data", small_bios, "--out", tmp_path / "r", "--hf-config", tmp_path / "c.json"),
                          "model_type")
    (tmp_path / "c.json").write_text("{not json")
    assert_one_line_error(kcap("train", "--data", small_bios, "--out", tmp_path / "r", "--hf-config", tmp_path / "c.json"),
                          "--hf-config")
    (tmp_path / "c.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 16}))
    assert_one_line_error(kcap("train", "--data", small_bios, "--out", tmp_path / "r", "--hf-config", tmp_path / "c.json",
                               "--arch", "mistral", "--layers", "5"), "drop --layers, --arch")


def test_without_transformers_the_commands_say_how_to_get_it(trained_run, small_bios, tmp_path):
    code = "import sys; sys.modules['transformers'] = None; from kcap.cli import main; sys.argv[0] = 'kcap'; main()"
    for args in (["export", str(trained_run), "--hf", str(tmp_path / "o")],
                 ["measure", "--hf", str(tmp_path / "o"), "--data", str(small_bios)]):
        p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        assert_one_line_error(p, "pip install 'kcap[hf]'")
