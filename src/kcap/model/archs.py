"""The architectures of the model family, one record each: the only place an arch is defined.

Everything that depends on the arch reads its record: the norm and MLP layers (norms.py,
mlp.py), FLOPs (through ``GPTConfig.gated``), the defaults a ``ModelSpec`` fills in (biases,
key/value heads), the choices of ``--arch`` and of a sweep's ``model.arch``, and the Hugging Face
export (hf.py). Adding an architecture is one row of ``ARCHS``, plus a weight layout in hf.py if
it exports to a transformers class whose weights are named differently from the existing ones.

No torch here: the CLI and the sweep schema read this table without loading the model code.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HFExport:
    """How an arch exports to Hugging Face transformers (model/hf.py)."""

    model_class: str
    """The transformers class the export builds (what AutoModelForCausalLM loads it as)."""
    config_class: str
    """Its transformers config class."""
    layout: str
    """The weight-name mapping in hf.py: "neox" (GPT-NeoX names, fused per-head qkv) or "llama"."""
    settings: dict = field(default_factory=dict)
    """Fixed config settings that make the HF class compute exactly what our model does."""


@dataclass(frozen=True)
class Arch:
    name: str
    description: str
    """One line for ``--arch`` help: what sets this arch apart."""
    norm: str
    """"layernorm" (mean and variance, with a bias when the arch has biases) or "rmsnorm"."""
    mlp: str
    """"gelu" (fc -> GELU -> proj) or "swiglu" (gated: three matrices, see mlp.py)."""
    bias: bool
    """Biases in the linear layers and norms (GPT-2 has them; LLaMA and Mistral do not)."""
    kv_group: int = 1
    """Query heads per key/value head by default (1: plain multi-head attention)."""
    hf: HFExport | None = None
    """None: the arch does not export."""

    @property
    def gated(self) -> bool:
        return self.mlp == "swiglu"

    def default_kv_heads(self, heads: int) -> int:
        """Key/value heads when the user gives none: heads / kv_group, or 1 if that does not divide."""
        return heads // self.kv_group if heads % self.kv_group == 0 else 1


ARCHS: dict[str, Arch] = {a.name: a for a in (
    Arch("gpt2", "LayerNorm, GELU", norm="layernorm", mlp="gelu", bias=True,
         hf=HFExport("GPTNeoXForCausalLM", "GPTNeoXConfig", "neox")),
    Arch("llama", "RMSNorm, SwiGLU", norm="rmsnorm", mlp="swiglu", bias=False,
         hf=HFExport("LlamaForCausalLM", "LlamaConfig", "llama", {"attention_bias": False, "mlp_bias": False})),
    # Mistral 7B shares each key/value head among 4 query heads
    Arch("mistral", "llama + GQA", norm="rmsnorm", mlp="swiglu", bias=False, kv_group=4,
         hf=HFExport("MistralForCausalLM", "MistralConfig", "llama", {"sliding_window": None})),
)}
DEFAULT_ARCH = "gpt2"


def arch_help() -> str:
    """The ``--arch`` help line, from the table."""
    return ", ".join(f"{a.name} ({a.description})" for a in ARCHS.values()) + "."


def kv_heads_help() -> str:
    """What ``--kv-heads`` defaults to, arch by arch, for its help."""
    grouped = [f"{a.name}: heads/{a.kv_group}" for a in ARCHS.values() if a.kv_group > 1]
    return "; ".join(["all heads", *grouped])


def export_help() -> str:
    """Which transformers class each arch exports to, for ``kcap export``'s help."""
    return ", ".join(f"{a.name} -> {a.hf.model_class}" for a in ARCHS.values() if a.hf)
