"""``kcap data bios``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def data_bios(
    people: Annotated[int, typer.Option(help="Number of people N (distinct full names).")],
    out: Annotated[Path, typer.Option(help="Output dataset directory.")],
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same arguments give identical files.")] = 0,
    simple: Annotated[bool, typer.Option("--simple", help="bioS simple: each biography rendered once, repeated verbatim.")] = False,
    junk_fraction: Annotated[float, typer.Option(help="Share F of training tokens that are junk biographies (the paper: 0.875).")] = 0.0,
    junk_people: Annotated[int | None, typer.Option(help="Junk from a fixed population of M people (1000: the paper's repetitive junk); default: fresh people for every junk biography.")] = None,
    domain_token: Annotated[bool, typer.Option("--domain-token", help="Prepend a special domain token to every useful biography (the paper's remedy for junk).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the dataset already in --out (runs trained on it will refuse the new files).")] = False,
) -> None:
    """Generate a bioS population (SCIENCE.md §1): people.npy, tokenizer.json, dataset.json."""
    from kcap.kinds.bios.data import write_bios

    meta = write_bios(out, people, seed, "simple" if simple else "multi", junk_fraction=junk_fraction,
                      junk_people=junk_people, domain_token=domain_token, overwrite=overwrite)
    extra = ""
    if meta["junk"]:
        extra = f", junk {junk_fraction:g} of tokens ({junk_people or 'fresh'} junk people)"
    typer.echo(f"wrote bioS-{meta['variant']} with {people} people to {out}: vocab {meta['vocab_size']}, "
               f"bits_max {meta['bits_max']:.0f} ({meta['bits_max'] / people:.2f} bits/person){extra}")
