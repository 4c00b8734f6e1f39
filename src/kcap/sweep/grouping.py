"""Group a sweep's runs so that runs of one shape train together as one batched computation.

A tiny model leaves a GPU mostly idle; ``kcap.train.batched.train_many`` trains K runs of one
shape (different seeds, learning rates, exposures or datasets of the same vocabulary) as one
vmapped computation, each with its own optimizer, schedule and data, ending where each would end
alone. Runs are compatible when ``batch_key`` of their resolved configs agrees (the model config,
batch, seq, AdamW betas/eps, clipping, device and precision). Runs that batched training cannot
take (gradient accumulation, fp16, a mixture of experts, bits tracked along training) and
interrupted runs (which resume from their checkpoints, a single-run feature) stay alone.
"""

from __future__ import annotations

from kcap.sweep.plan import PlannedRun


def default_group_size() -> int:
    """16 models at once on a GPU (issue 7's target: 16 x the 0.8M shape); 1 on CPU, where K
    models at once measured no faster than one after another (docs/benchmarks.md)."""
    import torch

    return 16 if torch.cuda.is_available() else 1


def groupable(run: PlannedRun) -> bool:
    t = run.train
    return (t.get("grad_accum", 1) == 1 and t.get("precision") != "fp16" and not run.model.get("experts")
            and not run.options.get("track_bits"))


def _key(run: PlannedRun) -> tuple:
    """``batch_key`` of the run's resolved config: its model config needs only the dataset's
    vocabulary (no dry run, which would count the whole stream)."""
    from kcap.kinds import load_dataset
    from kcap.model.spec import ModelSpec
    from kcap.sweep.bindings import model_kwargs
    from kcap.train.batched import batch_key

    vocab = len(load_dataset(run.dataset_dir).vocab())
    model = ModelSpec(**model_kwargs(run.model)).config(vocab, run.train["seq"]).to_dict()
    return batch_key({"model": model, "train": run.train})


def group_runs(runs: list[PlannedRun], size: int, interrupted: set[str] = frozenset()) -> list[list[PlannedRun]]:
    """The runs as jobs: lists of up to ``size`` compatible runs, in the runs' order (a group
    starts where its first run stood); datasets must exist (their vocabularies are read)."""
    if size <= 1:
        return [[r] for r in runs]
    jobs: list[list[PlannedRun]] = []
    open_groups: dict[tuple, list[PlannedRun]] = {}
    for r in runs:
        if r.key in interrupted or not groupable(r):
            jobs.append([r])
            continue
        key = _key(r)
        group = open_groups.get(key)
        if group is None or len(group) >= size:
            group = open_groups[key] = []
            jobs.append(group)
        group.append(r)
    return jobs
