"""Interop with Hugging Face transformers: export our models, measure and train theirs.

- ``to_hf``: each arch exports to the class its record names (model/archs.py): our gpt2 becomes a
  ``GPTNeoXForCausalLM`` (full rotary, sequential residual: exactly our block), llama a
  ``LlamaForCausalLM``, mistral a ``MistralForCausalLM`` (no sliding window). The weight names of
  each family of classes are mapped once, in ``LAYOUTS``.
  Mixtures of experts and no-MLP models do not export: HF's Mixtral renormalizes its top-k gates
  (our router is Switch-style) and none of these classes can drop the MLP.
- ``HFCausalLM``: any HF causal LM behind our model interface (``model(idx)`` -> logits,
  ``model(idx, targets)`` -> mean loss), so the training loop and the measurement use it unchanged.

transformers is an optional extra, imported only here and only when used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from kcap.atomic import as_umask_allows, make_dir
from kcap.errors import KcapError
from kcap.model.config import GPTConfig

INSTALL_HINT = "pip install 'kcap[hf]' (or: pip install transformers)"


def require_transformers(what: str):
    try:
        import transformers
    except ImportError:
        raise KcapError(f"{what} needs Hugging Face transformers, which is not installed: {INSTALL_HINT}") from None
    transformers.logging.set_verbosity_error()  # its advice about hub downloads is noise here
    transformers.logging.disable_progress_bar()
    return transformers


# ---------------------------------------------------------------- any HF causal LM in our loop


@dataclass
class HFModelConfig:
    """A Hugging Face model config (as its JSON dict) with vocabulary and context from our data."""

    hf_config: dict
    arch: str = "hf"

    @classmethod
    def from_user(cls, user: dict, vocab_size: int, seq: int) -> HFModelConfig:
        if not isinstance(user.get("model_type"), str):
            raise KcapError("--hf-config: the config has no \"model_type\" (e.g. \"llama\", \"gpt2\", \"qwen2\")")
        d = {k: v for k, v in user.items() if k not in ("architectures", "transformers_version", "torch_dtype",
                                                         "dtype", "_name_or_path")}
        d["vocab_size"] = vocab_size  # our tokenizer, not the one the config was written for
        cfg = cls(d)
        positions = getattr(cfg.hf(), "max_position_embeddings", None)
        if positions is not None and positions < seq:
            raise KcapError(f"--hf-config: max_position_embeddings {positions} is shorter than --seq {seq}")
        return cfg

    @classmethod
    def from_dict(cls, d: dict) -> HFModelConfig:
        return cls(hf_config=d["hf_config"])

    def to_dict(self) -> dict:
        return {"arch": self.arch, "hf_config": self.hf_config}

    @property
    def vocab_size(self) -> int:
        return self.hf_config["vocab_size"]

    def hf(self):
        transformers = require_transformers("--hf-config")
        d = dict(self.hf_config)
        try:
            return transformers.AutoConfig.for_model(d.pop("model_type"), **d)
        except (ValueError, TypeError, KeyError) as e:
            raise KcapError(f"--hf-config is not a usable transformers config: {e}".replace("\n", " ")) from None

    def forward_flops_per_token(self, seq: int) -> int:
        """2 x the weights a token multiplies (all but the input embedding) + attention scores."""
        with torch.device("meta"):
            model = HFCausalLM.from_model_config(self)
        emb = model.hf.get_input_embeddings().weight
        matmul = sum(p.numel() for p in model.parameters() if p.dim() >= 2 and p is not emb)
        out = model.hf.get_output_embeddings()
        if out is not None and out.weight is emb:  # tied: the output layer still multiplies
            matmul += emb.numel()
        c = self.hf()
        layers, width = getattr(c, "num_hidden_layers", 0), getattr(c, "hidden_size", 0)
        return 2 * matmul + 2 * 2 * seq * width * layers


class HFCausalLM(nn.Module):
    """A Hugging Face causal LM with kcap's model interface."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.hf = hf_model
        emb, out = hf_model.get_input_embeddings(), hf_model.get_output_embeddings()
        named = list(self.named_parameters(remove_duplicate=False))
        self._embedding = {n for n, p in named if p is emb.weight}
        self._output = {n for n, p in named if out is not None and p is out.weight} - self._embedding

    @classmethod
    def from_model_config(cls, cfg: HFModelConfig) -> HFCausalLM:
        transformers = require_transformers("--hf-config")
        try:
            model = transformers.AutoModelForCausalLM.from_config(cfg.hf())
        except ValueError as e:
            raise KcapError(f"--hf-config: no causal-LM class for this config: {e}".replace("\n", " ")) from None
        return cls(model)

    @property
    def vocab_size(self) -> int:
        return self.hf.config.vocab_size

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits = self.hf(input_ids=idx, use_cache=False).logits
        if targets is None:
            return logits
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1).long(),
                               ignore_index=-1)

    def param_part(self, name: str) -> str:
        """Breakdown part of a parameter, from HF's usual module names (model/params.py)."""
        if name in self._embedding:
            return "embedding"
        if name in self._output:
            return "output"
        module = name.rsplit(".", 2)[-2] if name.count(".") >= 2 else name
        if "norm" in module or module.startswith("ln"):
            return "norms"
        if any(s in name for s in ("attn", "attention", "mixer")):
            return "attention"
        if any(s in name for s in ("mlp", "feed_forward", "ffn", "expert", "router", "gate")):
            return "mlp"
        if any(s in name for s in ("wpe", "embed_positions", "position")):
            return "embedding"
        return "other"


def load_hf(path: Path, vocab: dict[str, int]) -> HFCausalLM:
    """A local HF causal LM whose tokenizer maps our dataset's tokens to the same ids."""
    transformers = require_transformers("kcap measure --hf")
    path = Path(path)
    if not (path / "config.json").is_file():
        raise KcapError(f"{path} is not a Hugging Face model directory (no config.json)")
    try:
        tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True).float()
    except (OSError, ValueError) as e:
        raise KcapError(f"cannot load {path} as a causal LM with its tokenizer: {e}".replace("\n", " ")) from None
    theirs = tok.get_vocab()
    wrong = [w for w, i in vocab.items() if theirs.get(w) != i]
    if wrong:
        raise KcapError(f"{path}: its tokenizer does not give the dataset's token ids (e.g. {wrong[0]!r}); "
                        "kcap measures on the dataset's own word-level tokens")
    if model.config.vocab_size < len(vocab):
        raise KcapError(f"{path}: vocabulary of {model.config.vocab_size} is smaller than the dataset's {len(vocab)}")
    return HFCausalLM(model).eval()


# ---------------------------------------------------------------- export of our models


def exportable(cfg: GPTConfig) -> str | None:
    """Why a model cannot be exported, or None if it can."""
    if cfg.arch_def.hf is None:
        return f"arch {cfg.arch} has no Hugging Face class to export to"
    if cfg.n_expert:
        return "mixtures of experts do not export (HF's Mixtral renormalizes its top-k gates; ours are Switch-style)"
    if cfg.mlp_ratio == 0:
        return "models without an MLP (--mlp-ratio 0) have no HF class"
    return LAYOUTS[cfg.arch_def.hf.layout].problem(cfg)


def _hf_config(transformers, cfg: GPTConfig, eos: int):
    """The transformers config: what every layout shares, the layout's own names, the arch's settings."""
    hf = cfg.arch_def.hf
    common = dict(vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layer,
                  num_attention_heads=cfg.n_head, intermediate_size=cfg.mlp_hidden,
                  max_position_embeddings=cfg.max_seq, tie_word_embeddings=cfg.tie_embeddings,
                  bos_token_id=eos, eos_token_id=eos, pad_token_id=eos, use_cache=True)
    return getattr(transformers, hf.config_class)(**common, **LAYOUTS[hf.layout].settings(cfg), **hf.settings)


def _copy(dst: torch.Tensor, src: torch.Tensor) -> None:
    if dst.shape != src.shape:
        raise RuntimeError(f"export shape mismatch: {tuple(dst.shape)} vs {tuple(src.shape)}")
    dst.copy_(src)


# ---- weight layouts: how our parameter names map to a family of HF classes (archs.py's ``layout``


def _neox_problem(cfg: GPTConfig) -> str | None:
    if cfg.kv_heads != cfg.n_head or not cfg.bias:
        return f"{cfg.arch} exports to GPT-NeoX, which has no grouped-query attention and always has biases"
    return None


def _neox_settings(cfg: GPTConfig) -> dict:
    # full rotary and a sequential residual: exactly our block
    return dict(hidden_act="gelu", rotary_pct=1.0, rotary_emb_base=cfg.rope_base, use_parallel_residual=False,
                layer_norm_eps=cfg.norm_eps, attention_bias=True, hidden_dropout=0.0, attention_dropout=0.0)


def _neox_copy(model: nn.Module, hf: nn.Module) -> None:
    cfg = model.cfg
    H, hd, d = cfg.n_head, cfg.head_dim, cfg.d_model
    base = hf.gpt_neox
    for blk, layer in zip(model.blocks, base.layers):
        _copy(layer.input_layernorm.weight, blk.ln1.weight)
        _copy(layer.input_layernorm.bias, blk.ln1.bias)
        # ours: [all q heads; all k heads; all v heads]; GPT-NeoX: per head [q; k; v]
        qkv = layer.attention.query_key_value
        _copy(qkv.weight, blk.attn.qkv.weight.view(3, H, hd, d).transpose(0, 1).reshape(3 * d, d))
        _copy(qkv.bias, blk.attn.qkv.bias.view(3, H, hd).transpose(0, 1).reshape(3 * d))
        _copy(layer.attention.dense.weight, blk.attn.proj.weight)
        _copy(layer.attention.dense.bias, blk.attn.proj.bias)
        _copy(layer.post_attention_layernorm.weight, blk.ln2.weight)
        _copy(layer.post_attention_layernorm.bias, blk.ln2.bias)
        for ours, theirs in ((blk.mlp.fc, layer.mlp.dense_h_to_4h), (blk.mlp.proj, layer.mlp.dense_4h_to_h)):
            _copy(theirs.weight, ours.weight)
            _copy(theirs.bias, ours.bias)
    _copy(base.final_layer_norm.weight, model.ln_f.weight)
    _copy(base.final_layer_norm.bias, model.ln_f.bias)


def _llama_problem(cfg: GPTConfig) -> str | None:
    if cfg.bias or not cfg.arch_def.gated or cfg.arch_def.norm != "rmsnorm":
        return f"{cfg.arch} is not LLaMA-shaped (no biases, RMSNorm, SwiGLU), so it has no LLaMA-family class"
    return None


def _llama_settings(cfg: GPTConfig) -> dict:
    return dict(num_key_value_heads=cfg.kv_heads, head_dim=cfg.head_dim, hidden_act="silu",
                rms_norm_eps=cfg.norm_eps, rope_theta=cfg.rope_base, attention_dropout=0.0)


def _llama_copy(model: nn.Module, hf: nn.Module) -> None:
    cfg = model.cfg
    H, KV, hd = cfg.n_head, cfg.kv_heads, cfg.head_dim
    base = hf.model
    for blk, layer in zip(model.blocks, base.layers):
        _copy(layer.input_layernorm.weight, blk.ln1.weight)
        q, k, v = blk.attn.qkv.weight.split([H * hd, KV * hd, KV * hd])
        att = layer.self_attn
        for theirs, ours in ((att.q_proj, q), (att.k_proj, k), (att.v_proj, v), (att.o_proj, blk.attn.proj.weight)):
            _copy(theirs.weight, ours)
        _copy(layer.post_attention_layernorm.weight, blk.ln2.weight)
        gate, up = blk.mlp.fc.weight.chunk(2)
        _copy(layer.mlp.gate_proj.weight, gate)
        _copy(layer.mlp.up_proj.weight, up)
        _copy(layer.mlp.down_proj.weight, blk.mlp.proj.weight)
    _copy(base.norm.weight, model.ln_f.weight)


class Layout(NamedTuple):
    problem: Callable[[GPTConfig], str | None]  # why a config cannot take this layout, or None
    settings: Callable[[GPTConfig], dict]  # the HF config keys this family names its own way
    copy: Callable[[nn.Module, nn.Module], None]  # our weights into the HF model's blocks and final norm


LAYOUTS = {"neox": Layout(_neox_problem, _neox_settings, _neox_copy),
           "llama": Layout(_llama_problem, _llama_settings, _llama_copy)}


@torch.no_grad()
def to_hf(model: nn.Module, eos: int):
    """The HF transformers model with our model's weights (float32), checked logit for logit."""
    cfg: GPTConfig = model.cfg
    why = exportable(cfg)
    if why:
        raise KcapError(f"cannot export arch {cfg.arch}: {why}")
    transformers = require_transformers("kcap export")
    hf = transformers.AutoModelForCausalLM.from_config(_hf_config(transformers, cfg, eos)).float().eval()
    LAYOUTS[cfg.arch_def.hf.layout].copy(model, hf)
    _copy(hf.get_input_embeddings().weight, model.wte.weight)
    if not cfg.tie_embeddings:
        _copy(hf.get_output_embeddings().weight, model.lm_head.weight)
    # the mapping is exact or the export is refused: compare logits on a random batch
    was_training = model.training
    model.eval()
    x = torch.randint(0, cfg.vocab_size, (2, min(cfg.max_seq, 64)), generator=torch.Generator().manual_seed(0))
    diff = float((hf(input_ids=x).logits - model(x)).abs().max())
    model.train(was_training)
    if not diff <= 1e-4:
        raise KcapError(f"exported model's logits differ from ours by {diff:.2e} (> 1e-4); export refused")
    return hf


def export_hf(model: nn.Module, tokenizer_file: Path, out: Path, separator: str, unknown: str) -> dict:
    """Write ``out`` so that AutoModelForCausalLM / AutoTokenizer.from_pretrained(out) load it."""
    transformers = require_transformers("kcap export")
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file), bos_token=separator,
                                               eos_token=separator, pad_token=separator, unk_token=unknown)
    if isinstance(model, HFCausalLM):  # trained from --hf-config: already a transformers model
        hf, arch = model.hf, "hf"
    else:
        hf, arch = to_hf(model, eos=tok.convert_tokens_to_ids(separator)), model.cfg.arch
    out = Path(out)
    make_dir(out)
    hf.save_pretrained(out)
    tok.save_pretrained(out)
    for f in out.iterdir():  # the weights come out 0600 (safetensors): every file as the umask allows
        if f.is_file():
            as_umask_allows(f)
    return {"out": str(out), "hf_class": type(hf).__name__, "arch": arch}
