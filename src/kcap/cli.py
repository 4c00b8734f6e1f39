"""The ``kcap`` command line: thin wrappers that parse, call one function, print.

Bad input raises ``KcapError`` (or a click usage error) and is shown as one line on stderr
with exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kcap.cli_data import make_data_app
from kcap.cli_laws import fit_app, optimal
from kcap.cli_reproduce import plot_claim, reproduce
from kcap.cli_sweep import sweep_app
from kcap.errors import KcapError
from kcap.model.archs import export_help
from kcap.model.spec import ModelSpec
from kcap.options import cli_annotation, declared, pick, with_options
from kcap.train.config import TrainConfig

app = typer.Typer(help="kcap: how many bits of knowledge does a language model store per parameter?",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
plot_app = typer.Typer(help="Draw figures from the run store.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks against a plain baseline, measured in this process.", no_args_is_help=True)
app.add_typer(make_data_app(), name="data")
app.add_typer(plot_app, name="plot")
app.add_typer(fit_app, name="fit")
app.add_typer(bench_app, name="bench")
app.add_typer(sweep_app, name="sweep")
app.command("optimal")(optimal)
app.command("reproduce")(reproduce)
plot_app.command("claim")(plot_claim)


MODEL_PANEL, TRAIN_PANEL = "Model (ModelSpec)", "Training (TrainConfig)"
# options other commands share with `kcap train`, with their own defaults where they differ
Layers, Heads, DModel = (cli_annotation(ModelSpec, k) for k in ("layers", "heads", "d_model"))
Device = cli_annotation(TrainConfig, "device")


@app.command()
@with_options((ModelSpec, MODEL_PANEL), (TrainConfig, TRAIN_PANEL))
def train(
    data: Annotated[Path, typer.Option(help="Dataset directory (from `kcap data bios|biod|random`).")],
    out: Annotated[Path, typer.Option(help="Run directory to create.")],
    hf_config: Annotated[Optional[Path], typer.Option(help="Train this Hugging Face config.json (any causal LM) from scratch instead of the model options; needs the hf extra: transformers.", rich_help_panel=MODEL_PANEL)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    track_bits: Annotated[bool, typer.Option("--track-bits", help="Measure bits stored at every evaluation (for passes-to-memorize).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved run (steps, tokens, params, FLOPs) and stop.")] = False,
    resume: Annotated[str, typer.Option(help="auto: continue the run in --out from its newest valid checkpoint (or skip it if finished; refused if its config differs); never: start afresh.")] = "never",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the finished run (or another run) in --out: its weights, measurements and store row go.")] = False,
    checkpoint_every: Annotated[Optional[int], typer.Option(help="Steps between checkpoints (default: ~20 per run; 0: none).")] = None,
    branch_from: Annotated[Optional[Path], typer.Option(help="Start from this checkpoint of another run that trained exactly as this one up to it (a wsd run's stable phase: a shorter horizon for the cost of its decay).")] = None,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Also log metrics for TensorBoard in RUN/tb (needs the tensorboard package: the tb extra).")] = False,
    **options,
) -> None:
    """Train a model (rotary GPT-2 by default) on a dataset for exactly E exposures of every person (or string).

    Under torchrun (e.g. `torchrun --standalone --nproc-per-node 2 -m kcap.cli train ...`) one run
    spreads over the processes with DistributedDataParallel, for the same global batch."""
    from kcap.train.loop import train as run_train

    cfg = TrainConfig(**pick(TrainConfig, options))
    shape = pick(ModelSpec, options)
    if hf_config:  # the config file is the whole architecture: shape options would be ignored
        given = [d.flag_for(shape[d.name]) for d in declared(ModelSpec) if d.option.cli and shape[d.name] != d.default]
        if given:
            raise KcapError(f"--hf-config defines the model; drop {', '.join(given)} (edit the config instead)")
    spec = ModelSpec(**shape, hf_config=_read_json_file(hf_config, "--hf-config") if hf_config else None)
    probe = None
    if track_bits:
        from kcap.measure.evaluate import bits_probe

        probe = bits_probe(data)
    if dry_run:
        from kcap.train.plan import plan_run

        typer.echo(json.dumps(plan_run(data, spec, cfg, checkpoint_every).describe(), indent=2))
        return
    s = run_train(data, spec, cfg, out, progress=not quiet, probe=probe, resume=resume,
                  checkpoint_every=checkpoint_every, tensorboard=tensorboard, overwrite=overwrite,
                  branch_from=branch_from)
    _report_train(s, out)


def _report_train(s: dict, out: Path) -> None:
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 speaks for the run
        return
    if s.get("already_finished"):
        typer.echo(f"run {s['id']} already finished in {out}: nothing to do")
        return
    resumed = f" (resumed at step {s['resumed_at_steps'][-1]})" if s.get("resumed_at_steps") else ""
    typer.echo(f"run {s['id']}{resumed}: {s['steps']} steps, {s['tokens']} tokens, final loss {s['final_loss']:.4f}, "
               f"{s['tokens_per_s']:.0f} tok/s, {s['wall_s']:.1f}s -> {out}")


def _read_json_file(path: Path, what: str) -> dict:
    try:
        d = json.loads(Path(path).read_bytes())
    except OSError as e:
        raise KcapError(f"{what} {path}: cannot read it ({e.strerror})") from None
    except ValueError as e:  # bad JSON, or bytes that are not text
        raise KcapError(f"{what} {path} is not valid JSON: {e}") from None
    if not isinstance(d, dict):
        raise KcapError(f"{what} {path} must hold a JSON object")
    return d


@app.command()
def measure(
    run: Annotated[Optional[Path], typer.Argument(help="Run directory (omit with --hf).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    device: Device = TrainConfig.device,
    data: Annotated[Optional[Path], typer.Option(help="The run's dataset, if it moved since training (with --hf: required).")] = None,
    quantize: Annotated[Optional[str], typer.Option(help="Quantize the weights first: int8 or int4 (round to nearest, symmetric).")] = None,
    group_size: Annotated[Optional[int], typer.Option(help="With --quantize: one scale per G weights of a row (default: per output channel).")] = None,
    hf: Annotated[Optional[Path], typer.Option(help="Measure this local Hugging Face causal LM instead of a run (needs --data and the hf extra: transformers).")] = None,
    context: Annotated[str, typer.Option(help="previous: each biography read after another one, as in training (recorded); none: alone (printed only, a diagnostic).")] = "previous",
) -> None:
    """Bits stored (SCIENCE.md §2), bits per parameter, and per-attribute loss and accuracy.

    With --quantize the result is stored beside the full-precision one (RUN/measure-int8.json)."""
    from kcap.measure.evaluate import measure_hf, measure_run
    from kcap.report.tables import measure_table

    if hf is not None:
        if run is not None or data is None or quantize is not None:
            raise KcapError("--hf takes no RUN and no --quantize, and needs --data DIR")
        r = measure_hf(hf, data, device=device, context=context)
    elif run is None:
        raise KcapError("give a RUN directory (or --hf PATH --data DIR)")
    else:
        r = measure_run(run, device=device, data=data, quantize=quantize, group_size=group_size, context=context)
    if as_json:
        typer.echo(json.dumps(r, indent=2))
    else:
        measure_table(r)


@app.command(help=f"Export a run for transformers: {export_help()} (needs the hf extra: transformers).\n\n"
                  "Loads with AutoModelForCausalLM / AutoTokenizer.from_pretrained(DIR), no custom code. "
                  "MoE and no-MLP models do not export.")
def export(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    hf: Annotated[Path, typer.Option(help="Directory to write the Hugging Face model and tokenizer to.")],
    data: Annotated[Optional[Path], typer.Option(help="The run's dataset (for its tokenizer), if it moved.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the Hugging Face model already in --hf.")] = False,
) -> None:
    from kcap.measure.evaluate import export_run

    r = export_run(run, hf, data, overwrite=overwrite)
    typer.echo(f"wrote {r['hf_class']} ({r['arch']}, logits checked within 1e-4) to {r['out']}")


@app.command()
def runs(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
) -> None:
    """List the runs in the store ($KCAP_WORKSPACE, default ./.kcap)."""
    from kcap.report.tables import runs_table
    from kcap.store.db import FINISHED, RunStore
    from kcap.store.rundir import run_problem

    with RunStore() as store:
        rows = store.runs()
        for r in rows:  # a finished run whose row or directory is partial or corrupted is reported, not trusted
            if not r["problem"] and r["status"] in FINISHED:
                r["problem"] = run_problem(Path(r["run_dir"]))
            if r["problem"]:
                print(f"kcap: warning: run {r['id']}: {r['problem']}", file=sys.stderr)
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
    from kcap.report.figure import figure_path
    from kcap.store.db import RunStore, usable

    out = figure_path(out, "--out")  # a bad path fails before any work, as in every figure command
    with RunStore() as store:
        rows = usable(store.runs(ids=run_id, measured_only=True), "the plot")
        if run_id:  # a run asked for by id is plotted, or the reason it cannot be is named
            found = {r["id"]: r["status"] for r in store.runs(ids=run_id)}
            for rid in run_id:
                if rid not in found:
                    raise KcapError(f"--run {rid}: no such run in the store {store.path}")
                if found[rid] != "measured":
                    raise KcapError(f"--run {rid}: the run is {found[rid]}, not measured (run `kcap measure RUN`)")
    if not rows:
        raise KcapError("no measured runs in the store to plot (run `kcap measure RUN` first)")
    capacity_plot(rows, out)
    typer.echo(f"wrote {out} ({len(rows)} runs)")


def _check_bench(layers: int, heads: int, d_model: int, vocab: int, batch: int, seq: int, compile: str) -> None:
    """One-line errors for bad values, by the checks ``kcap train`` uses, before a bench builds
    its models itself (whose own checks raise plain ValueErrors)."""
    TrainConfig(batch=batch, seq=seq, compile=compile)
    ModelSpec(layers=layers, heads=heads, d_model=d_model)
    if vocab < 1:
        raise KcapError(f"--vocab must be at least 1, got {vocab}")


@bench_app.command("train")
def bench_train(
    layers: Layers = ModelSpec.layers,
    heads: Heads = ModelSpec.heads,
    d_model: DModel = ModelSpec.d_model,
    vocab: Annotated[int, typer.Option(help="Vocabulary size (the demo's bioS has 2,325).")] = 2325,
    batch: Annotated[int, typer.Option(help="Sequences per step.")] = 8,
    seq: Annotated[int, typer.Option(help="Tokens per sequence.")] = 256,
    steps: Annotated[int, typer.Option(help="Timed steps of each side, split over the rounds.")] = 20,
    rounds: Annotated[int, typer.Option(help="Alternating (ABBA) timed rounds.")] = 10,
    device: Device = TrainConfig.device,
    compile: Annotated[str, typer.Option(help="kcap's step: auto (CUDA only), on, off, graphs.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """kcap's full training step vs a plain nanoGPT-style step of the same shape, same process."""
    from kcap.bench.train_step import bench_train as run_bench
    from kcap.bench.train_step import describe

    _check_bench(layers, heads, d_model, vocab, batch, seq, compile)
    r = run_bench(layers, heads, d_model, vocab, batch, seq, steps, rounds, device, compile)
    typer.echo(json.dumps(r) if as_json else describe(r))


@bench_app.command("many")
def bench_many(
    models: Annotated[int, typer.Option(help="Models trained at once (K).")] = 4,
    layers: Layers = ModelSpec.layers,
    heads: Heads = ModelSpec.heads,
    d_model: DModel = ModelSpec.d_model,
    vocab: Annotated[int, typer.Option(help="Vocabulary size.")] = 2325,
    batch: Annotated[int, typer.Option(help="Sequences per step, per model.")] = 8,
    seq: Annotated[int, typer.Option(help="Tokens per sequence.")] = 256,
    steps: Annotated[int, typer.Option(help="Timed steps of each side, split over the rounds.")] = 20,
    rounds: Annotated[int, typer.Option(help="Alternating (ABBA) timed rounds.")] = 10,
    device: Device = TrainConfig.device,
    compile: Annotated[str, typer.Option(help="The single model's step: auto (CUDA only), on, off, graphs.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """K models of one shape trained at once (one vmapped step) vs one model trained alone."""
    from kcap.bench.many import bench_many as run_bench
    from kcap.bench.many import describe

    _check_bench(layers, heads, d_model, vocab, batch, seq, compile)
    r = run_bench(models, layers, heads, d_model, vocab, batch, seq, steps, rounds, device, compile)
    typer.echo(json.dumps(r) if as_json else describe(r))


@bench_app.command("suite")
def bench_suite(
    budget: Annotated[float, typer.Option(min=1, help="Seconds; items that would start later are skipped.")] = 480.0,
    quick: Annotated[bool, typer.Option("--quick", help="Tiny shapes, few steps, eager: a dry run on any device.")] = False,
    device: Device = TrainConfig.device,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write every result to this file.")] = None,
) -> None:
    """The GPU suite: anchor shapes, CUDA graphs, 16 models at once; one table."""
    from kcap.bench.suite import run_suite, table, write_json

    s = run_suite(budget, quick, device)
    typer.echo(table(s))
    if json_out is not None:
        write_json(s, json_out)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("kcap-demo"),
    people: Annotated[Optional[int], typer.Option(help="Override the bioS view's population size.")] = None,
    exposures: Annotated[Optional[int], typer.Option(help="Override the bioS view's exposures.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Run the demo again in --out, replacing the earlier one.")] = False,
) -> None:
    """The main job on CPU in minutes: random strings at 1000 exposures (the capacity law) and bioS
    at 100 (both regimes), trained, measured, one capacity plot."""
    from dataclasses import replace

    from kcap.demo import BIOS, LAW, DemoConfig, run_demo

    bios = BIOS
    if people is not None or exposures is not None:
        n = BIOS.data["people"] if people is None else people
        e = BIOS.train.exposures if exposures is None else exposures
        bios = replace(BIOS, title=f"bioS N={n:,}, {e} exposures", data={**BIOS.data, "people": n},
                       train=replace(BIOS.train, exposures=e))
    run_demo(DemoConfig(parts=(LAW, bios)), out, overwrite=overwrite)


def _refuse_empty_arguments(argv: list[str]) -> None:
    """An empty argument is a quoting slip (``--out "$UNSET"``): refused, naming its option. Typer
    would read an empty path as ``.`` and write into the current directory."""
    for i, a in enumerate(argv):
        if a == "":
            flag = argv[i - 1] if i and argv[i - 1].startswith("--") else None
            raise KcapError(f"{flag} is empty" if flag else f"argument {i + 1} is empty")
        flag, eq, value = a.partition("=")
        if flag.startswith("--") and eq and not value:
            raise KcapError(f"{flag} is empty")


def _out_of_memory(e: BaseException) -> bool:
    """numpy's MemoryError, torch's CPU allocator and CUDA errors: out of memory, whatever raised it."""
    if isinstance(e, MemoryError):
        return True
    if "torch" not in sys.modules:
        return False
    from kcap.train.failure import failure_reason

    return failure_reason(e).startswith("oom:")


def main(argv: list[str] | None = None) -> None:
    """The ``kcap`` command (``argv``: the arguments, default ``sys.argv[1:]``); exits with its code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        _refuse_empty_arguments(argv)
        code = app(args=argv, standalone_mode=False)
    except KcapError as e:  # one line, whatever text a message quoted (a file's bytes, a library's error)
        print(f"kcap: error: {' '.join(str(e).splitlines())}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("kcap: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:
        if _out_of_memory(e):  # a size asked for (--seq 1e12, --d-model 65536) too big for this machine
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            print(f"kcap: error: out of memory ({first[:300]}); ask for less", file=sys.stderr)
            sys.exit(2)
        # click's usage errors (typer may vendor its own click, so match the protocol, not the class)
        if callable(getattr(e, "format_message", None)) and hasattr(e, "exit_code"):
            if type(e).__name__ == "NoArgsIsHelpError":
                print(e.format_message(), file=sys.stderr)
                sys.exit(0)
            print(f"kcap: error: {e.format_message()}".replace("\n", " "), file=sys.stderr)
            sys.exit(e.exit_code or 2)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # `python -m kcap.cli` (torchrun -m kcap.cli train ...)
    main()
