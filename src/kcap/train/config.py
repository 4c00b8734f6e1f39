"""Training configuration: one typed dataclass, validated on construction, defaults from the paper."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from kcap.errors import KcapError


def paper_defaults(people: int, exposures: int) -> dict[str, float | int]:
    """Peak lr, weight decay and batch (sequences) of SCIENCE.md §3 for a bioS(N) run.

    The paper's table lists N = 10K, 100K, 1M, 10M at 1000 exposures; a population between rows
    takes the row nearest on a log scale. At 100 exposures (we use the short setting below 500
    exposures) weight decay is 0.01 and lr 1e-3 up to N = 200K, 5e-4 above.
    """
    if people <= 30_000:
        lr, wd, batch = 1e-3, 0.02, 24
    elif people <= 300_000:
        lr, wd, batch = 1e-3, 0.02, 192
    elif people <= 3_000_000:
        lr, wd, batch = 5e-4, 0.01, 192
    else:
        lr, wd, batch = 3e-4, 0.001, 1536
    if exposures < 500:
        wd = 0.01
        lr = 1e-3 if people <= 200_000 else 5e-4
    return {"lr": lr, "wd": wd, "batch": batch}


@dataclass
class TrainConfig:
    exposures: int = 100
    """Times every person's biography appears in the stream (SCIENCE.md: "exposures")."""
    lr: float | None = None
    """Peak learning rate; None takes the paper's value for the dataset size."""
    wd: float | None = None
    """AdamW weight decay (on matrices and embeddings, not on biases or norms); None: paper's."""
    batch: int | None = None
    """Sequences per optimizer step; None takes the paper's value for the dataset size."""
    grad_accum: int = 1
    """Micro-batches per step: batch/grad_accum sequences go through the model at once."""
    seq: int = 512
    """Tokens per training window (the paper's context is 512)."""
    warmup: int | None = None
    """Linear warm-up steps; None: the paper's 1000, capped at 10% of all steps for short runs."""
    min_lr_ratio: float = 0.1
    """Cosine decay ends at this fraction of the peak learning rate."""
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-6
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value (0 disables)."""
    seed: int = 0
    """Seeds weight init and data order (with the dataset's own seed)."""
    device: str = "auto"
    """auto (CUDA if present), cpu, cuda, or cuda:N."""
    compile: str = "auto"
    """torch.compile: auto (on for CUDA), on, off, graphs (compile plus CUDA graphs)."""
    precision: str = "auto"
    """fp32, bf16 (autocast), fp16 (autocast with loss scaling; CUDA only), or auto: bf16 on
    CUDA, fp32 on CPU. The precision actually used is recorded in the run (derived.precision)."""
    log_every: int = 10
    """Steps between metric records in metrics.jsonl."""
    eval_every: int | None = None
    """Steps between held-out evaluations (and probes such as bits tracking); None: about 20
    per run; 0: none. Held-out loss is the loss on people the model never sees."""
    heldout: int = 256
    """People in the held-out set."""

    def __post_init__(self):
        positive = ("exposures", "grad_accum", "seq", "log_every", "heldout")
        for name in positive:
            if getattr(self, name) < 1:
                raise KcapError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "batch"):
            v = getattr(self, name)
            if v is not None and not v > 0:  # also refuses NaN
                raise KcapError(f"{name} must be positive, got {v}")
        if self.lr is not None and not math.isfinite(self.lr):
            raise KcapError(f"lr must be finite, got {self.lr}")
        if self.wd is not None and not (0 <= self.wd < math.inf):
            raise KcapError(f"wd must be non-negative and finite, got {self.wd}")
        if self.seed < 0:
            raise KcapError(f"seed must be non-negative, got {self.seed}")
        if self.eval_every is not None and self.eval_every < 0:
            raise KcapError(f"eval_every must be non-negative, got {self.eval_every}")
        if self.warmup is not None and self.warmup < 0:
            raise KcapError(f"warmup must be non-negative, got {self.warmup}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise KcapError(f"min_lr_ratio must be within [0, 1], got {self.min_lr_ratio}")
        if self.compile not in ("auto", "on", "off", "graphs"):
            raise KcapError(f"compile must be auto, on, off or graphs, got {self.compile!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise KcapError(f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        if self.batch is not None and self.batch % self.grad_accum:
            raise KcapError(f"batch ({self.batch}) must be divisible by grad_accum ({self.grad_accum})")

    def resolved(self, people: int) -> "TrainConfig":
        """Fill the dataset-dependent defaults (lr, wd, batch) from the paper's recipe."""
        d = paper_defaults(people, self.exposures)
        return replace(self, **{k: v for k, v in d.items() if getattr(self, k) is None})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
