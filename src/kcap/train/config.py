"""Training configuration: one typed dataclass, validated on construction, defaults from the paper."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from kcap.errors import KcapError
from kcap.options import check, option
from kcap.train.schedule import SCHEDULES


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


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
COMPILE_MODES = ("auto", "on", "off", "graphs")
EVAL_SPACINGS = ("even", "log")


@dataclass
class TrainConfig:
    """How a model is trained. Every field is an option of ``kcap train`` and a ``train`` key of a
    sweep spec (but ``seed``: a spec lists ``seeds``), declared here once (kcap/options.py)."""

    # the paper goes to 1000; planning counts every round's tokens, so a number past any experiment
    # would only hang the command
    exposures: int = option(100, "Exposures of every person: times each biography appears in the stream.", lo=1,
                            hi=100_000)
    lr: float | None = option(None, "Peak learning rate (default: the paper's for N).", lo=0, lo_open=True)
    wd: float | None = option(None, "AdamW weight decay, on matrices and embeddings, not on biases or norms "
                                    "(default: the paper's for N).", lo=0)
    batch: int | None = option(None, "Sequences per optimizer step (default: the paper's for N).", lo=1)
    grad_accum: int = option(1, "Micro-batches per step: batch/grad_accum sequences go through the model at once.",
                             lo=1)
    # the model's position tables are built for the whole window (2**20 tokens: a gigabyte at
    # head_dim 128); a longer one would exhaust memory before anything is planned
    seq: int = option(512, "Tokens per training window (the paper's context: 512).", lo=1, hi=2**20)
    warmup: int | None = option(None, "Linear warm-up steps (default: the paper's 1000, at most 10% of all steps).",
                                lo=0)
    min_lr_ratio: float = option(0.1, "The decay ends at this fraction of the peak learning rate.", lo=0, hi=1)
    schedule: str = option("cosine", "Learning-rate schedule after the warm-up: cosine (the paper's), wsd (the peak, "
                                     "then a linear decay over the last --decay-fraction of the steps; its stable "
                                     "phase does not depend on the horizon), constant (the peak to the end).",
                           choices=SCHEDULES)
    decay_fraction: float = option(0.2, "wsd: the share of the steps in the final decay.", lo=0, hi=1)
    beta1: float = option(0.9, "AdamW beta1.", lo=0, hi=1, hi_open=True)
    beta2: float = option(0.98, "AdamW beta2.", lo=0, hi=1, hi_open=True)
    eps: float = option(1e-6, "AdamW epsilon.", lo=0, lo_open=True)
    grad_clip: float = option(1.0, "Clip the global gradient norm to this value (0: no clipping).", lo=0)
    # torch seeds with a signed 64-bit integer
    seed: int = option(0, "Seed for weight init and data order (with the dataset's own seed).", lo=0, hi=2**63 - 1,
                       sweep=False)
    device: str = option("auto", "auto (CUDA if present), cpu, cuda, cuda:N.", axis=False)
    compile: str = option("auto", "torch.compile: auto (CUDA only), on, off, graphs (+ CUDA graphs).",
                          choices=COMPILE_MODES, axis=False)
    precision: str = option("auto", "fp32, bf16 (autocast), fp16 (autocast with loss scaling; CUDA only), auto "
                                    "(bf16 on CUDA, fp32 on CPU). The run records the one used (derived.precision).",
                            choices=PRECISIONS)
    log_every: int = option(10, "Steps between metric records in metrics.jsonl.", lo=1)
    eval_every: int | None = option(None, "Steps between held-out evaluations and probes such as bits tracking "
                                          "(default: ~20 per run; 0: none). Held-out: people the model never sees.",
                                    lo=0)
    eval_spacing: str = option("even", "Where evaluations fall: even (every --eval-every steps) or log (10 per decade "
                                       "of steps, from the first: resolves how fast a model learns at any scale, for "
                                       "passes-to-memorize).", choices=EVAL_SPACINGS)
    heldout: int = option(256, "People in the held-out set (with --popularity: documents drawn from the law).", lo=1)
    popularity: float = option(0.0, "Zipf exponent s of people's popularity: each exposure round holds N documents "
                                    "drawn with P(person i) ∝ (i+1)^-s, so --exposures is the mean per person (0: "
                                    "everyone once per round, the paper's stream).", lo=0, hi=8)

    def __post_init__(self):
        check(self)  # each field's type, bounds and choices, as declared above
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
