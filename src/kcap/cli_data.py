"""``kcap data ...``: one generating command per registered dataset kind, and ``kcap data stats``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kcap.kinds import KINDS


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


def make_data_app() -> typer.Typer:
    """The ``kcap data`` group as the registry holds it now (plugins included)."""
    app = typer.Typer(help="Generate and inspect knowledge datasets (" + ", ".join(
        k.summary for k in KINDS.values()) + ").", no_args_is_help=True)
    for kind in KINDS.values():
        app.command(kind.command)(kind.cli())
    app.command("stats")(data_stats)
    return app
