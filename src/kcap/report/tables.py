"""Rich tables for the terminal."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from kcap.kinds import get_kind
from kcap.report.fmt import si

console = Console()


def _count(x: float) -> str:
    """Counts in tables: two decimals with a suffix (columns line up), whole numbers below 1000."""
    return si(x, ".2f", small=".0f")


def measure_table(r: dict) -> None:
    what = f"run {r['id']}" if "id" in r else f"model {r.get('hf', '')}"
    if r.get("quantization"):
        what += f", weights quantized {r['quantization']['name']}"
    t = Table(title=f"{what}: {r.get('kind', 'bioS')}, {r['people']} people")
    for col in ("term", "loss (nats)", "accuracy", "bits stored"):
        t.add_column(col, justify="right" if col != "term" else "left")
    for row in get_kind(r.get("kind", "bioS")).table_rows(r):  # each kind names its own terms
        t.add_row(*row)
    console.print(t)
    b = r["params_breakdown"]
    parts = ", ".join(f"{k} {_count(b[k])}" for k in ("embedding", "attention", "mlp", "norms", "output"))
    active = f"; active per token {_count(b['active'])}" if b.get("active", b["total"]) != b["total"] else ""
    console.print(f"params {_count(r['params'])} ({parts}{active})")
    console.print(f"bits {r['bits']:.0f} of bits_max {r['bits_max']:.0f} ({r['fraction_stored']:.1%}); "
                  f"[bold]{r['bits_per_param']:.3f} bits/param[/bold] (bits_max/param {r['bits_max_per_param']:.3f})")


def capacity_table(results: list[dict], title: str = "") -> None:
    t = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    for col in ("model", "params", "bits", "bits_max", "stored", "bits/param", "bits_max/param"):
        t.add_column(col, justify="right", no_wrap=True)
    for r in results:
        t.add_row(r.get("name", r.get("id", "")), _count(r["params"]), _count(r["bits"]), _count(r["bits_max"]),
                  f"{r['fraction_stored']:.1%}", f"{r['bits_per_param']:.3f}", f"{r['bits_max_per_param']:.3f}")
    console.print(t)


def _status(r: dict) -> str:
    if r.get("problem"):
        return "[red]broken[/red]"
    if r["status"] == "failed":  # the reason's kind: nan, oom, crash
        return f"[red]failed ({(r.get('reason') or '?').split(':')[0]})[/red]"
    return r["status"]


def _opt(v, fmt: str | None) -> str:
    """A number of a store row for a table cell ("" if absent or not a number); ``fmt`` None: a count."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return ""
    return _count(v) if fmt is None else fmt.format(v)


def runs_table(rows: list[dict], path: Path) -> None:
    t = Table(title=f"runs in {path}", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    for col in ("id", "data", "N", "exp", "model", "params", "bits", "bits/P", "status"):
        t.add_column(col, no_wrap=True, justify="right" if col in ("N", "exp", "params", "bits", "bits/P") else "left")
    for r in rows:  # a broken row (flagged by the store) still gets its line, with blanks where it has holes
        t.add_row(str(r["id"])[:8], r["dataset"] or "", _opt(r["people"], "{:,}"), _opt(r["exposures"], "{}"),
                  ("" if r["arch"] == "gpt2" else f"{r['arch']} ") + f"{r['layers']}×{r['d_model']}×{r['heads']}",
                  _count(r["params"]) if isinstance(r["params"], (int, float)) else "",
                  _opt(r["bits"], None), _opt(r["bits_per_param"], "{:.3f}"), _status(r))
    console.print(t)
    console.print("full ids and run directories: kcap runs --json")
