"""The ``kcap`` command line: thin wrappers that parse, call one function, print.

Bad input raises ``KcapError`` (or a click usage error) and is shown as one line on stderr
with exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kcap.cli_data import data_app
from kcap.cli_laws import fit_app, optimal
from kcap.cli_sweep import sweep_app
from kcap.errors import KcapError

app = typer.Typer(help="kcap: how many bits of knowledge does a language model store per parameter?",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
plot_app = typer.Typer(help="Draw figures from the run store.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(plot_app, name="plot")
app.add_typer(fit_app, name="fit")
app.add_typer(sweep_app, name="sweep")
app.command("optimal")(optimal)


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Dataset directory (from `kcap data bios|biod|random`).")],
    out: Annotated[Path, typer.Option(help="Run directory to create.")],
    layers: Annotated[int, typer.Option(help="Transformer layers.")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads.")] = 2,
    d_model: Annotated[int, typer.Option(help="Model width.")] = 64,
    exposures: Annotated[int, typer.Option(help="Exposures of every person.")] = 100,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (default: the paper's for N).")] = None,
    wd: Annotated[Optional[float], typer.Option(help="Weight decay (default: the paper's for N).")] = None,
    batch: Annotated[Optional[int], typer.Option(help="Sequences per optimizer step (default: the paper's for N).")] = None,
    grad_accum: Annotated[int, typer.Option(help="Micro-batches per step.")] = 1,
    seq: Annotated[int, typer.Option(help="Tokens per window.")] = 512,
    warmup: Annotated[Optional[int], typer.Option(help="Warm-up steps (default: 1000, at most 10% of all steps).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for init and data order.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    compile: Annotated[str, typer.Option(help="torch.compile: auto (CUDA only), on, off.")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    eval_every: Annotated[Optional[int], typer.Option(help="Steps between held-out evaluations (default: ~20 per run; 0: none).")] = None,
    track_bits: Annotated[bool, typer.Option("--track-bits", help="Measure bits stored at every evaluation (for passes-to-memorize).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved run (steps, tokens, params, FLOPs) and stop.")] = False,
) -> None:
    """Train a rotary GPT-2 on a dataset for exactly E exposures of every person (or string)."""
    from kcap.model.spec import ModelSpec
    from kcap.train.config import TrainConfig
    from kcap.train.loop import train as run_train

    cfg = TrainConfig(exposures=exposures, lr=lr, wd=wd, batch=batch, grad_accum=grad_accum, seq=seq,
                      warmup=warmup, seed=seed, device=device, compile=compile, eval_every=eval_every)
    probe = None
    if track_bits:
        from kcap.measure.evaluate import bits_probe

        probe = bits_probe(data)
    s = run_train(data, ModelSpec(layers=layers, heads=heads, d_model=d_model), cfg, out, progress=not quiet,
                  dry_run=dry_run, probe=probe)
    if dry_run:
        d = s["derived"]
        typer.echo(json.dumps({"id": s["id"], "train": s["train"], **d, "params": s["params"],
                               "train_flops": d["train_flops_per_token"] * (d["stream_tokens"] - 1)}, indent=2))
        return
    typer.echo(f"run {s['id']}: {s['steps']} steps, {s['tokens']} tokens, final loss {s['final_loss']:.4f}, "
               f"{s['tokens_per_s']:.0f} tok/s, {s['wall_s']:.1f}s -> {out}")


@app.command()
def measure(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    data: Annotated[Optional[Path], typer.Option(help="The run's dataset, if it moved since training.")] = None,
) -> None:
    """Bits stored (SCIENCE.md §2), bits per parameter, and per-attribute loss and accuracy."""
    from kcap.measure.evaluate import measure_run
    from kcap.report.tables import measure_table

    r = measure_run(run, device=device, data=data)
    if as_json:
        typer.echo(json.dumps(r, indent=2))
    else:
        measure_table(r)


@app.command()
def runs(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
) -> None:
    """List the runs in the store ($KCAP_WORKSPACE, default ./.kcap)."""
    from kcap.report.tables import runs_table
    from kcap.store.db import RunStore

    with RunStore() as store:
        rows = store.runs()
        if as_json:
            typer.echo(json.dumps([{k: v for k, v in r.items() if k != "config"} for r in rows], indent=2))
        else:
            runs_table(rows, store.path)


@plot_app.command("capacity")
def plot_capacity(
    out: Annotated[Path, typer.Option(help="Image file to write.")] = Path("capacity.png"),
    run_id: Annotated[Optional[list[str]], typer.Option("--run", help="Only these run ids (repeatable).")] = None,
) -> None:
    """Bits stored vs parameters (the paper's Figure 1) from measured runs in the store."""
    from kcap.report.capacity import capacity_plot
    from kcap.store.db import RunStore

    with RunStore() as store:
        rows = store.runs(ids=run_id, measured_only=True)
    if not rows:
        raise KcapError("no measured runs in the store to plot (run `kcap measure RUN` first)")
    capacity_plot(rows, out)
    typer.echo(f"wrote {out} ({len(rows)} runs)")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("kcap-demo"),
    people: Annotated[Optional[int], typer.Option(help="Override the demo's population size.")] = None,
    exposures: Annotated[Optional[int], typer.Option(help="Override the demo's exposures.")] = None,
) -> None:
    """The main job on CPU in minutes: bioS data, 4+ model sizes, bits measured, capacity plot."""
    from kcap.demo import DemoConfig, run_demo

    cfg = DemoConfig()
    if people is not None:
        cfg.people = people
    if exposures is not None:
        cfg.exposures = exposures
    run_demo(cfg, out)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except KcapError as e:
        print(f"kcap: error: {e}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("kcap: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:
        # click's usage errors (typer may vendor its own click, so match the protocol, not the class)
        if callable(getattr(e, "format_message", None)) and hasattr(e, "exit_code"):
            if type(e).__name__ == "NoArgsIsHelpError":
                print(e.format_message(), file=sys.stderr)
                sys.exit(0)
            print(f"kcap: error: {e.format_message()}".replace("\n", " "), file=sys.stderr)
            sys.exit(e.exit_code or 2)
        raise
    sys.exit(code if isinstance(code, int) else 0)
