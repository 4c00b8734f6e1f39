"""``kcap data random``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def data_random(
    sequences: Annotated[int, typer.Option(help="N: sequences.")],
    length: Annotated[int, typer.Option(help="S: symbols per sequence.")],
    alphabet: Annotated[int, typer.Option(help="V: symbols in the alphabet.")],
    out: Annotated[Path, typer.Option(help="Output dataset directory.")],
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same arguments give identical files.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the dataset already in --out (runs trained on it will refuse the new files).")] = False,
) -> None:
    """Generate N uniformly random strings (Morris et al. 2025): bits_max = N·S·log2 V."""
    from kcap.kinds.random_strings.data import write_random

    meta = write_random(out, sequences, length, alphabet, seed, overwrite=overwrite)
    typer.echo(f"wrote {sequences} random strings of {length} symbols over {alphabet} to {out}: "
               f"bits_max {meta['bits_max']:.0f}")
