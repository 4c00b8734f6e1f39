#!/usr/bin/env bash
# The whole GPU benchmark suite in at most 8 minutes, one table at the end (docs/benchmarks.md).
#   bash bench/gpu_suite.sh             # on a CUDA machine, with kcap installed (or PYTHONPATH=src)
#   bash bench/gpu_suite.sh --quick     # dry run of the same code at tiny shapes, e.g. on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
export KCAP_WORKSPACE="${KCAP_WORKSPACE:-$PWD/.kcap}"   # compile cache: a rerun loads the kernels
PY="${PYTHON:-python}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
# 420 s of items leaves room for start-up and the last item within 8 minutes
timeout 470 "$PY" -m kcap bench suite --budget 420 --json "${OUT:-gpu-suite.json}" "$@"
