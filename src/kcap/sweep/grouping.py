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
    from kcap.model.spec import ModelSpec
    from kcap.sweep.bindings import model_kwargs
    from kcap.train.batched import batch_key
    from kcap.train.config import TrainConfig
    from kcap.train.loop import train

    config = train(run.dataset_dir, ModelSpec(**model_kwargs(run.model)), TrainConfig.from_dict(run.train),
                   run.run_dir, dry_run=True)  # resolves the model config on the run's own dataset
    return batch_key(config)


def group_runs(runs: list[PlannedRun], size: int, interrupted: set[str] = frozenset()) -> list[list[PlannedRun]]:
    """The runs as jobs: lists of up to ``size`` compatible runs, in the runs' order (a group
    starts where its first run stood); datasets must exist (the dry run reads them)."""
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
