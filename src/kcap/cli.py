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
from kcap.cli_sweep import sweep_app
from kcap.errors import KcapError

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


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Dataset directory (from `kcap data bios|biod|random`).")],
    out: Annotated[Path, typer.Option(help="Run directory to create.")],
    layers: Annotated[int, typer.Option(help="Transformer layers.")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads.")] = 2,
    d_model: Annotated[int, typer.Option(help="Model width.")] = 64,
    arch: Annotated[str, typer.Option(help="gpt2 (LayerNorm, GELU), llama (RMSNorm, SwiGLU), mistral (llama + GQA).")] = "gpt2",
    kv_heads: Annotated[Optional[int], typer.Option(help="Key/value heads, grouped-query attention (default: all heads; mistral: heads/4).")] = None,
    mlp_ratio: Annotated[int, typer.Option(help="MLP width / d_model: 4 standard, 1 the paper's 1/4 MLP, 0 no MLP.")] = 4,
    experts: Annotated[int, typer.Option(help="Mixture of experts: experts per layer (0: dense MLP; the paper: 32).")] = 0,
    top_k: Annotated[int, typer.Option(help="Experts per token.")] = 1,
    capacity_factor: Annotated[float, typer.Option(help="Expert capacity in training, as a multiple of an even share.")] = 1.25,
    untied: Annotated[bool, typer.Option("--untied", help="A separate output layer instead of the tied embedding.")] = False,
    hf_config: Annotated[Optional[Path], typer.Option(help="Train this Hugging Face config.json (any causal LM) from scratch instead; needs the hf extra: transformers.")] = None,
    precision: Annotated[str, typer.Option(help="fp32, bf16, fp16 (CUDA, loss scaling), auto (bf16 on CUDA, fp32 on CPU).")] = "auto",
    exposures: Annotated[int, typer.Option(help="Exposures of every person.")] = 100,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (default: the paper's for N).")] = None,
    wd: Annotated[Optional[float], typer.Option(help="Weight decay (default: the paper's for N).")] = None,
    batch: Annotated[Optional[int], typer.Option(help="Sequences per optimizer step (default: the paper's for N).")] = None,
    grad_accum: Annotated[int, typer.Option(help="Micro-batches per step.")] = 1,
    seq: Annotated[int, typer.Option(help="Tokens per window.")] = 512,
    warmup: Annotated[Optional[int], typer.Option(help="Warm-up steps (default: 1000, at most 10% of all steps).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed for init and data order.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    compile: Annotated[str, typer.Option(help="torch.compile: auto (CUDA only), on, off, graphs (+ CUDA graphs).")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    eval_every: Annotated[Optional[int], typer.Option(help="Steps between held-out evaluations (default: ~20 per run; 0: none).")] = None,
    track_bits: Annotated[bool, typer.Option("--track-bits", help="Measure bits stored at every evaluation (for passes-to-memorize).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved run (steps, tokens, params, FLOPs) and stop.")] = False,
    resume: Annotated[str, typer.Option(help="auto: continue the run in --out from its newest valid checkpoint (or skip it if finished; refused if its config differs); never: start afresh.")] = "never",
    checkpoint_every: Annotated[Optional[int], typer.Option(help="Steps between checkpoints (default: ~20 per run; 0: none).")] = None,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Also log metrics for TensorBoard in RUN/tb (needs the tensorboard package: the tb extra).")] = False,
) -> None:
    """Train a model (rotary GPT-2 by default) on a dataset for exactly E exposures of every person (or string).

    Under torchrun (e.g. `torchrun --standalone --nproc-per-node 2 -m kcap.cli train ...`) one run
    spreads over the processes with DistributedDataParallel, for the same global batch."""
    from kcap.model.spec import ModelSpec
    from kcap.train.config import TrainConfig
    from kcap.train.loop import train as run_train

    cfg = TrainConfig(exposures=exposures, lr=lr, wd=wd, batch=batch, grad_accum=grad_accum, seq=seq,
                      warmup=warmup, seed=seed, device=device, compile=compile, eval_every=eval_every,
                      precision=precision)
    if hf_config:  # the config file is the whole architecture: shape options would be ignored
        shape = {"--layers": (layers, 2), "--heads": (heads, 2), "--d-model": (d_model, 64), "--arch": (arch, "gpt2"),
                 "--kv-heads": (kv_heads, None), "--mlp-ratio": (mlp_ratio, 4), "--experts": (experts, 0),
                 "--top-k": (top_k, 1), "--capacity-factor": (capacity_factor, 1.25), "--untied": (untied, False)}
        given = [k for k, (v, default) in shape.items() if v != default]
        if given:
            raise KcapError(f"--hf-config defines the model; drop {', '.join(given)} (edit the config instead)")
    spec = ModelSpec(layers=layers, heads=heads, d_model=d_model, arch=arch, kv_heads=kv_heads, mlp_ratio=mlp_ratio,
                     experts=experts, top_k=top_k, capacity_factor=capacity_factor, tied=not untied,
                     hf_config=_read_json_file(hf_config, "--hf-config") if hf_config else None)
    probe = None
    if track_bits:
        from kcap.measure.evaluate import bits_probe

        probe = bits_probe(data)
    s = run_train(data, spec, cfg, out, progress=not quiet, dry_run=dry_run, probe=probe, resume=resume,
                  checkpoint_every=checkpoint_every, tensorboard=tensorboard)
    if dry_run:
        d = s["derived"]
        typer.echo(json.dumps({"id": s["id"], "train": s["train"], **d, "params": s["params"],
                               "train_flops": d["train_flops_per_token"] * (d["stream_tokens"] - 1)}, indent=2))
        return
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
        d = json.loads(Path(path).read_text())
    except OSError as e:
        raise KcapError(f"{what} {path}: cannot read it ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise KcapError(f"{what} {path} is not valid JSON: {e}") from None
    if not isinstance(d, dict):
        raise KcapError(f"{what} {path} must hold a JSON object")
    return d


@app.command()
def measure(
    run: Annotated[Optional[Path], typer.Argument(help="Run directory (omit with --hf).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    data: Annotated[Optional[Path], typer.Option(help="The run's dataset, if it moved since training (with --hf: required).")] = None,
    quantize: Annotated[Optional[str], typer.Option(help="Quantize the weights first: int8 or int4 (round to nearest, symmetric).")] = None,
    group_size: Annotated[Optional[int], typer.Option(help="With --quantize: one scale per G weights of a row (default: per output channel).")] = None,
    hf: Annotated[Optional[Path], typer.Option(help="Measure this local Hugging Face causal LM instead of a run (needs --data and the hf extra: transformers).")] = None,
) -> None:
    """Bits stored (SCIENCE.md §2), bits per parameter, and per-attribute loss and accuracy.

    With --quantize the result is stored beside the full-precision one (RUN/measure-int8.json)."""
    from kcap.measure.evaluate import measure_hf, measure_run
    from kcap.report.tables import measure_table

    if hf is not None:
        if run is not None or data is None or quantize is not None:
            raise KcapError("--hf takes no RUN and no --quantize, and needs --data DIR")
        r = measure_hf(hf, data, device=device)
    elif run is None:
        raise KcapError("give a RUN directory (or --hf PATH --data DIR)")
    else:
        r = measure_run(run, device=device, data=data, quantize=quantize, group_size=group_size)
    if as_json:
        typer.echo(json.dumps(r, indent=2))
    else:
        measure_table(r)


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    hf: Annotated[Path, typer.Option(help="Directory to write the Hugging Face model and tokenizer to.")],
    data: Annotated[Optional[Path], typer.Option(help="The run's dataset (for its tokenizer), if it moved.")] = None,
) -> None:
    """Export a run for transformers: gpt2 -> GPTNeoXForCausalLM, llama/mistral -> Llama/Mistral (needs the hf extra: transformers).

    Loads with AutoModelForCausalLM / AutoTokenizer.from_pretrained(DIR), no custom code. MoE and
    no-MLP models do not export."""
    from kcap.measure.evaluate import export_run

    r = export_run(run, hf, data)
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
        for r in rows:  # a finished run whose directory is partial or corrupted is reported, not trusted
            r["problem"] = run_problem(Path(r["run_dir"])) if r["status"] in FINISHED else None
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
    from kcap.store.db import RunStore

    out = figure_path(out, "--out")  # a bad path fails before any work, as in every figure command
    with RunStore() as store:
        rows = store.runs(ids=run_id, measured_only=True)
    if not rows:
        raise KcapError("no measured runs in the store to plot (run `kcap measure RUN` first)")
    capacity_plot(rows, out)
    typer.echo(f"wrote {out} ({len(rows)} runs)")


@bench_app.command("train")
def bench_train(
    layers: Annotated[int, typer.Option(help="Transformer layers.")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads.")] = 2,
    d_model: Annotated[int, typer.Option(help="Model width.")] = 64,
    vocab: Annotated[int, typer.Option(help="Vocabulary size (the demo's bioS has 2,325).")] = 2325,
    batch: Annotated[int, typer.Option(help="Sequences per step.")] = 8,
    seq: Annotated[int, typer.Option(help="Tokens per sequence.")] = 256,
    steps: Annotated[int, typer.Option(help="Timed steps of each side, split over the rounds.")] = 20,
    rounds: Annotated[int, typer.Option(help="Alternating (ABBA) timed rounds.")] = 10,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    compile: Annotated[str, typer.Option(help="kcap's step: auto (CUDA only), on, off, graphs.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """kcap's full training step vs a plain nanoGPT-style step of the same shape, same process."""
    from kcap.bench.train_step import bench_train as run_bench
    from kcap.bench.train_step import describe
    from kcap.model.spec import ModelSpec
    from kcap.train.config import TrainConfig

    TrainConfig(batch=batch, seq=seq, compile=compile)  # one-line errors for bad values
    ModelSpec(layers=layers, heads=heads, d_model=d_model)
    r = run_bench(layers, heads, d_model, vocab, batch, seq, steps, rounds, device, compile)
    typer.echo(json.dumps(r) if as_json else describe(r))


@bench_app.command("many")
def bench_many(
    models: Annotated[int, typer.Option(help="Models trained at once (K).")] = 4,
    layers: Annotated[int, typer.Option(help="Transformer layers.")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads.")] = 2,
    d_model: Annotated[int, typer.Option(help="Model width.")] = 64,
    vocab: Annotated[int, typer.Option(help="Vocabulary size.")] = 2325,
    batch: Annotated[int, typer.Option(help="Sequences per step, per model.")] = 8,
    seq: Annotated[int, typer.Option(help="Tokens per sequence.")] = 256,
    steps: Annotated[int, typer.Option(help="Timed steps of each side, split over the rounds.")] = 20,
    rounds: Annotated[int, typer.Option(help="Alternating (ABBA) timed rounds.")] = 10,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    compile: Annotated[str, typer.Option(help="The single model's step: auto (CUDA only), on, off, graphs.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """K models of one shape trained at once (one vmapped step) vs one model trained alone."""
    from kcap.bench.many import bench_many as run_bench
    from kcap.bench.many import describe
    from kcap.model.spec import ModelSpec
    from kcap.train.config import TrainConfig

    TrainConfig(batch=batch, seq=seq, compile=compile)  # one-line errors for bad values
    ModelSpec(layers=layers, heads=heads, d_model=d_model)
    r = run_bench(models, layers, heads, d_model, vocab, batch, seq, steps, rounds, device, compile)
    typer.echo(json.dumps(r) if as_json else describe(r))


@bench_app.command("suite")
def bench_suite(
    budget: Annotated[float, typer.Option(min=1, help="Seconds; items that would start later are skipped.")] = 480.0,
    quick: Annotated[bool, typer.Option("--quick", help="Tiny shapes, few steps, eager: a dry run on any device.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
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


if __name__ == "__main__":  # `python -m kcap.cli` (torchrun -m kcap.cli train ...)
    main()
