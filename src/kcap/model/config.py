"""The model's full configuration: one typed dataclass for every architecture of the family.

``arch`` picks the building blocks (SCIENCE.md §3):

    gpt2     LayerNorm (with biases), GELU MLP, rotary attention       the paper's "GPT2"
    llama    RMSNorm, SwiGLU gated MLP, rotary attention, no biases    the paper's LLaMA
    mistral  llama with grouped-query attention (n_kv_head < n_head)   the paper's Mistral

``mlp_ratio`` sizes the MLP (4: standard; 1: the paper's "1/4 MLP"; 0: no MLP at all), and
``n_expert`` > 0 turns every MLP into a mixture of experts with top-``top_k`` routing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ARCHS = ("gpt2", "llama", "mistral")


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
    arch: str = "gpt2"
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
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        for name in ("vocab_size", "n_layer", "n_head", "d_model", "max_seq", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.n_head})")
        if (self.d_model // self.n_head) % 2:
            raise ValueError(f"head dim d_model/heads = {self.d_model // self.n_head} must be even for rotary")
        if self.n_kv_head is not None and (self.n_kv_head < 1 or self.n_head % self.n_kv_head):
            raise ValueError(f"n_kv_head ({self.n_kv_head}) must divide n_head ({self.n_head})")
        if self.mlp_ratio < 0:
            raise ValueError(f"mlp_ratio must be non-negative, got {self.mlp_ratio}")
        if self.n_expert < 0 or self.n_expert == 1:
            raise ValueError(f"n_expert must be 0 (dense) or at least 2, got {self.n_expert}")
        if self.n_expert and self.top_k > self.n_expert:
            raise ValueError(f"top_k ({self.top_k}) exceeds the number of experts ({self.n_expert})")
        if self.n_expert and self.mlp_ratio == 0:
            raise ValueError("a mixture of experts needs an MLP (mlp_ratio >= 1)")
        if self.capacity_factor <= 0:
            raise ValueError(f"capacity_factor must be positive, got {self.capacity_factor}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def gated(self) -> bool:
        """SwiGLU (llama, mistral) rather than a GELU MLP."""
        return self.arch in ("llama", "mistral")

    @property
    def mlp_hidden(self) -> int:
        """Hidden width of one MLP. A gated MLP has three matrices instead of two, so its hidden
        width is 2/3 of the GELU one: the same ``mlp_ratio`` gives (nearly) the same parameters."""
        if self.gated:
            return round(2 * self.mlp_ratio * self.d_model / 3)
        return self.mlp_ratio * self.d_model

    def to_dict(self) -> dict:
        return asdict(self)
