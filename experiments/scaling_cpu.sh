#!/usr/bin/env bash
# CPU-scale scaling sweep behind docs/scaling.md (about 10 minutes on 2 cores).
# Four sizes on one bioS population, each trained for 60 exposures while logging the held-out
# loss and the bits stored at ~20 evaluation points; then the three fits and their figures.
#   bash experiments/scaling_cpu.sh [OUT]     (runs go to the store in $KCAP_WORKSPACE)
set -euo pipefail
OUT=${1:-scaling-cpu}
mkdir -p "$OUT"
export KCAP_WORKSPACE=${KCAP_WORKSPACE:-$OUT/ws}
kcap data bios --people 1000 --seed 0 --out "$OUT/data"
for shape in "1 16 2" "2 32 2" "2 48 2" "3 64 2"; do
  set -- $shape
  kcap train --data "$OUT/data" --layers "$1" --d-model "$2" --heads "$3" --exposures 60 \
             --lr 1e-2 --wd 0.01 --batch 8 --seq 256 --device cpu --track-bits --quiet \
             --out "$OUT/runs/gpt2-$1x$2x$3"
  kcap measure "$OUT/runs/gpt2-$1x$2x$3" > /dev/null
done
kcap fit capacity --plot "$OUT/capacity_fit.png" --out "$OUT/capacity_fit.json"
kcap fit compute --boot 50 --plot "$OUT/loss_vs_flops.png" --out "$OUT/compute_fit.json"
kcap fit passes --fraction 0.9 --plot "$OUT/passes.png"
