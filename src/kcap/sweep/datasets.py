"""Datasets of a sweep: identified by a hash of their generation parameters, generated once into
the workspace (``$KCAP_WORKSPACE/datasets``) and shared by every run that uses them."""

from __future__ import annotations

import os
import shutil

from kcap.sweep import bindings


def ensure_dataset(run) -> bool:
    """Generate the run's dataset unless it exists; True if it was generated now.

    It is written into a private directory and renamed into place, so a reader never sees a
    partial dataset and two sweeps generating the same one at once both end with one copy."""
    from kcap.kinds import load_dataset

    final = run.dataset_dir
    if (final / "dataset.json").is_file():
        load_dataset(final)  # refuses a corrupted dataset with one line instead of training on it
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    bindings.dataset_writer(run.data["kind"])(tmp, run.data)
    if final.exists() and not (final / "dataset.json").is_file():
        shutil.rmtree(final, ignore_errors=True)  # debris of something else, never a finished dataset
    try:
        os.rename(tmp, final)
    except OSError:  # another process put it there first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / "dataset.json").is_file():
            raise
    return True
