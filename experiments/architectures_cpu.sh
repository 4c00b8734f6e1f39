#!/usr/bin/env bash
# Small-scale CPU comparison of the architectures behind docs/architectures.md (about 18 CPU-minutes).
# One bioS population, near-equal parameters, equal exposures and recipe; then int8/int4 of gpt2.
#   bash experiments/architectures_cpu.sh [OUT]     (runs go to the store in $KCAP_WORKSPACE)
set -euo pipefail
OUT=${1:-architectures-cpu}
KCAP=${KCAP:-kcap}
mkdir -p "$OUT"
export KCAP_WORKSPACE=${KCAP_WORKSPACE:-$OUT/ws}
$KCAP data bios --people 300 --seed 0 --out "$OUT/data"
common=(--data "$OUT/data" --layers 2 --d-model 32 --exposures 40 --lr 1e-2 --wd 0.01 --batch 8 --seq 256
        --device cpu --eval-every 0 --quiet)
train() {  # name, extra options
  local name=$1; shift
  $KCAP train "${common[@]}" "$@" --out "$OUT/runs/$name" > /dev/null
  $KCAP measure "$OUT/runs/$name" --json > "$OUT/$name.json"
}
train gpt2 --arch gpt2 --heads 2
train llama --arch llama --heads 2
train mistral --arch mistral --heads 4 --kv-heads 1
train gpt2-quarter-mlp --arch gpt2 --heads 2 --mlp-ratio 1
train gpt2-no-mlp --arch gpt2 --heads 2 --mlp-ratio 0
# four experts of a 1/4-width MLP: the same total parameters as gpt2's dense MLP, 1/4 of them active
train gpt2-moe4 --arch gpt2 --heads 2 --mlp-ratio 1 --experts 4 --top-k 1
$KCAP measure "$OUT/runs/gpt2" --quantize int8 --json > "$OUT/gpt2-int8.json"
$KCAP measure "$OUT/runs/gpt2" --quantize int4 --json > "$OUT/gpt2-int4.json"
$KCAP measure "$OUT/runs/gpt2" --quantize int4 --group-size 8 --json > "$OUT/gpt2-int4-g8.json"
python3 - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
names = ["gpt2", "llama", "mistral", "gpt2-quarter-mlp", "gpt2-no-mlp", "gpt2-moe4", "gpt2-int8", "gpt2-int4", "gpt2-int4-g8"]
print("| model | params (active) | bits | stored | bits/param |")
print("| --- | --- | --- | --- | --- |")
for n in names:
    r = json.loads((out / f"{n}.json").read_text())
    b = r["params_breakdown"]
    act = f" ({b['active']:,})" if b.get("active", b["total"]) != b["total"] else ""
    print(f"| {n} | {r['params']:,}{act} | {r['bits']:,.0f} | {r['fraction_stored']:.1%} | {r['bits_per_param']:.3f} |")
PY
