"""``kcap data biod``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def data_biod(
    people: Annotated[int, typer.Option(help="N: people (distinct full names).")],
    attributes: Annotated[int, typer.Option(help="K: attributes per person.")],
    chunks: Annotated[int, typer.Option(help="C: chunks per value.")],
    diversity: Annotated[int, typer.Option(help="D: strings in each attribute's diversity set.")],
    chunk_len: Annotated[int, typer.Option(help="L: symbols per chunk.")],
    alphabet: Annotated[int, typer.Option(help="T: symbols in the alphabet.")],
    out: Annotated[Path, typer.Option(help="Output dataset directory.")],
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same arguments give identical files.")] = 0,
    simple: Annotated[bool, typer.Option("--simple", help="One fixed sentence order per person instead of a fresh one per exposure.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the dataset already in --out (runs trained on it will refuse the new files).")] = False,
) -> None:
    """Generate a bioD(N, K, C, D, L, T) population (SCIENCE.md §1)."""
    from kcap.kinds.biod.data import BioDParams, write_biod

    spec = BioDParams(people, attributes, chunks, diversity, chunk_len, alphabet)
    meta = write_biod(out, spec, seed, "simple" if simple else "multi", overwrite=overwrite)
    terms = ", ".join(f"{k} {v:.0f}" for k, v in meta["bits_max_terms"].items())
    typer.echo(f"wrote bioD-{meta['variant']} with {people} people to {out}: vocab {meta['vocab_size']}, "
               f"bits_max {meta['bits_max']:.0f} ({terms})")
