"""The model's full configuration: one typed dataclass for every architecture of the family.

``arch`` picks the building blocks from the table in ``model/archs.py`` (SCIENCE.md §3):

    gpt2     LayerNorm (with biases), GELU MLP, rotary attention       the paper's "GPT2"
    llama    RMSNorm, SwiGLU gated MLP, rotary attention, no biases    the paper's LLaMA
    mistral  llama with grouped-query attention (n_kv_head < n_head)   the paper's Mistral

``mlp_ratio`` sizes the MLP (4: standard; 1: the paper's "1/4 MLP"; 0: no MLP at all), and
``n_expert`` > 0 turns every MLP into a mixture of experts with top-``top_k`` routing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kcap.model.archs import ARCHS, DEFAULT_ARCH, Arch


def shape_problem(arch: str, vocab_size: int, n_layer: int, n_head: int, d_model: int, max_seq: int,
                  n_kv_head: int | None, mlp_ratio: int, n_expert: int, top_k: int,
                  capacity_factor: float) -> str | None:
    """What makes a model shape impossible, in one line naming the fields (None if it is fine).

    The one home of the shape rules: ``GPTConfig`` raises it, and ``ModelSpec`` shows the same
    message with the command line's option names."""
    if arch not in ARCHS:
        return f"arch must be one of {', '.join(ARCHS)}, got {arch!r}"
    for name, v in (("vocab_size", vocab_size), ("n_layer", n_layer), ("n_head", n_head), ("d_model", d_model),
                    ("max_seq", max_seq), ("top_k", top_k)):
        if v < 1:
            return f"{name} must be at least 1, got {v}"
    if d_model % n_head or (d_model // n_head) % 2:  # rotary rotates pairs of dimensions
        return f"d_model {d_model} must split into n_head {n_head} heads of even size"
    if n_kv_head is not None and (n_kv_head < 1 or n_head % n_kv_head):
        return f"n_kv_head {n_kv_head} must divide n_head {n_head}"
    if mlp_ratio < 0:
        return f"mlp_ratio must be 0 (no MLP) or more, got {mlp_ratio}"
    if n_expert < 0 or n_expert == 1:
        return f"n_expert must be 0 (dense) or at least 2, got {n_expert}"
    if n_expert and top_k > n_expert:
        return f"top_k {top_k} exceeds n_expert {n_expert}"
    if n_expert and mlp_ratio == 0:
        return "n_expert needs an MLP: mlp_ratio must be at least 1"
    if capacity_factor <= 0:
        return f"capacity_factor must be positive, got {capacity_factor}"
    return None


@dataclass
class GPTConfig:
    vocab_size: int
    n_layer: int = 2
    n_head: int = 2
    d_model: int = 64
    mlp_ratio: int = 4
    max_seq: int = 512
    bias: bool = True
    rope_base: float = 10000.0
    arch: str = DEFAULT_ARCH
    n_kv_head: int | None = None
    """Key/value heads for grouped-query attention; None: one per query head."""
    n_expert: int = 0
    """Experts per MoE layer; 0: a dense MLP."""
    top_k: int = 1
    """Experts each token is routed to."""
    capacity_factor: float = 1.25
    """In training, an expert takes at most capacity_factor x its fair share of the batch's tokens."""
    tie_embeddings: bool = True
    """Output layer shares the input embedding (GPT-2); False gives a separate lm_head."""
    norm_eps: float = 1e-5

    def __post_init__(self):
        problem = shape_problem(self.arch, self.vocab_size, self.n_layer, self.n_head, self.d_model, self.max_seq,
                                self.n_kv_head, self.mlp_ratio, self.n_expert, self.top_k, self.capacity_factor)
        if problem:
            raise ValueError(problem)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def arch_def(self) -> Arch:
        """The arch's record: norm, MLP kind, export (model/archs.py)."""
        return ARCHS[self.arch]

    @property
    def gated(self) -> bool:
        """A gated (SwiGLU) MLP rather than a GELU one."""
        return self.arch_def.gated

    @property
    def mlp_hidden(self) -> int:
        """Hidden width of one MLP. A gated MLP has three matrices instead of two, so its hidden
        width is 2/3 of the GELU one: the same ``mlp_ratio`` gives (nearly) the same parameters."""
        if self.gated:
            return round(2 * self.mlp_ratio * self.d_model / 3)
        return self.mlp_ratio * self.d_model

    def to_dict(self) -> dict:
        return asdict(self)
