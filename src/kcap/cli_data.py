"""``kcap data ...``: generate and inspect knowledge datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

data_app = typer.Typer(help="Generate and inspect knowledge datasets (bioS, bioD, random strings).",
                       no_args_is_help=True)


@data_app.command("bios")
def data_bios(
    people: Annotated[int, typer.Option(help="Number of people N (distinct full names).")],
    out: Annotated[Path, typer.Option(help="Output dataset directory.")],
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same arguments give identical files.")] = 0,
    simple: Annotated[bool, typer.Option("--simple", help="bioS simple: each biography rendered once, repeated verbatim.")] = False,
    junk_fraction: Annotated[float, typer.Option(help="Share F of training tokens that are junk biographies (the paper: 0.875).")] = 0.0,
    junk_people: Annotated[int | None, typer.Option(help="Junk from a fixed population of M people (1000: the paper's repetitive junk); default: fresh people for every junk biography.")] = None,
    domain_token: Annotated[bool, typer.Option("--domain-token", help="Prepend a special domain token to every useful biography (the paper's remedy for junk).")] = False,
) -> None:
    """Generate a bioS population (SCIENCE.md §1): people.npy, tokenizer.json, dataset.json."""
    from kcap.knowledge.bios import write_bios

    meta = write_bios(out, people, seed, "simple" if simple else "multi", junk_fraction=junk_fraction,
                      junk_people=junk_people, domain_token=domain_token)
    extra = ""
    if meta["junk"]:
        extra = f", junk {junk_fraction:g} of tokens ({junk_people or 'fresh'} junk people)"
    typer.echo(f"wrote bioS-{meta['variant']} with {people} people to {out}: vocab {meta['vocab_size']}, "
               f"bits_max {meta['bits_max']:.0f} ({meta['bits_max'] / people:.2f} bits/person){extra}")


@data_app.command("biod")
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
) -> None:
    """Generate a bioD(N, K, C, D, L, T) population (SCIENCE.md §1)."""
    from kcap.knowledge.biod import BioDSpec, write_biod

    spec = BioDSpec(people, attributes, chunks, diversity, chunk_len, alphabet)
    meta = write_biod(out, spec, seed, "simple" if simple else "multi")
    terms = ", ".join(f"{k} {v:.0f}" for k, v in meta["bits_max_terms"].items())
    typer.echo(f"wrote bioD-{meta['variant']} with {people} people to {out}: vocab {meta['vocab_size']}, "
               f"bits_max {meta['bits_max']:.0f} ({terms})")


@data_app.command("random")
def data_random(
    sequences: Annotated[int, typer.Option(help="N: sequences.")],
    length: Annotated[int, typer.Option(help="S: symbols per sequence.")],
    alphabet: Annotated[int, typer.Option(help="V: symbols in the alphabet.")],
    out: Annotated[Path, typer.Option(help="Output dataset directory.")],
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same arguments give identical files.")] = 0,
) -> None:
    """Generate N uniformly random strings (Morris et al. 2025): bits_max = N·S·log2 V."""
    from kcap.knowledge.random_strings import write_random

    meta = write_random(out, sequences, length, alphabet, seed)
    typer.echo(f"wrote {sequences} random strings of {length} symbols over {alphabet} to {out}: "
               f"bits_max {meta['bits_max']:.0f}")


@data_app.command("stats")
def data_stats(
    path: Annotated[Path, typer.Argument(help="Dataset directory.")],
    exposures: Annotated[int | None, typer.Option(help="Also describe the training stream of E exposures.")] = None,
    seq: Annotated[int, typer.Option(help="Tokens per training window, for the stream figures.")] = 512,
    seed: Annotated[int, typer.Option(min=0, help="Training seed, for the stream figures.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Sizes, bits per term, vocabulary, tokens per biography; with --exposures, the stream's useful
    and junk tokens, junk share and windows mixing both (always 0)."""
    from kcap.corpus.stats import dataset_stats, format_stats
    from kcap.errors import KcapError

    if exposures is not None and exposures < 1:
        raise KcapError(f"--exposures must be at least 1, got {exposures}")
    if seq < 2:
        raise KcapError(f"--seq must be at least 2, got {seq}")
    s = dataset_stats(path, exposures, seq, seed)
    typer.echo(json.dumps(s, indent=2) if as_json else "\n".join(format_stats(s)))
