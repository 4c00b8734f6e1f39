#!/usr/bin/env bash
# CPU-scale junk-data experiment behind docs/datasets.md (SCIENCE.md §4: 7/8 junk, domain token).
# One bioS population; the same model and recipe at E exposures (50 by default) of every useful person, with no
# junk, with 7/8 of the tokens fresh junk ("never repeated"), the same with the domain token, and
# 7/8 repetitive junk (1,000 junk people). Junk runs see 8x the tokens for the same useful exposures.
#   N=200 EXPOSURES=50 bash experiments/junk_cpu.sh [OUT]   (docs/datasets.md; about 25 min on 2 cores)
set -euo pipefail
OUT=${1:-junk-cpu}
N=${N:-200}
EXPOSURES=${EXPOSURES:-50}
mkdir -p "$OUT"
export KCAP_WORKSPACE=${KCAP_WORKSPACE:-$OUT/ws}
kcap data bios --people "$N" --seed 0 --out "$OUT/clean"
kcap data bios --people "$N" --seed 0 --junk-fraction 0.875 --out "$OUT/junk"
kcap data bios --people "$N" --seed 0 --junk-fraction 0.875 --domain-token --out "$OUT/junk-domain"
kcap data bios --people "$N" --seed 0 --junk-fraction 0.875 --junk-people 1000 --out "$OUT/junk-repetitive"
for d in clean junk junk-domain junk-repetitive; do
  kcap train --data "$OUT/$d" --layers 2 --d-model 32 --heads 2 --exposures "$EXPOSURES" \
             --lr 1e-2 --wd 0.01 --batch 8 --seq 256 --device cpu --eval-every 0 --quiet --out "$OUT/runs/$d"
  kcap measure "$OUT/runs/$d" --json > "$OUT/runs/$d/result.json"
done
python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
base = None
print("| data | params | tokens trained | bits | of bits_max | bits/param | vs no junk |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for d in ("clean", "junk", "junk-domain", "junk-repetitive"):
    r = json.load(open(f"{out}/runs/{d}/result.json"))
    s = json.load(open(f"{out}/runs/{d}/summary.json"))
    base = base or r["bits"]
    print(f"| {d} | {r['params']:,} | {s['tokens']:,} | {r['bits']:,.0f} | {r['fraction_stored']:.1%} | "
          f"{r['bits_per_param']:.3f} | {r['bits'] / base:.2f}x |")
PY
