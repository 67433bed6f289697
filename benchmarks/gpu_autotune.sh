#!/usr/bin/env bash
# The second device call, on the machine benchmarks/gpu_check.sh left warm (DEADLINE
# seconds, default 240): impl="autotune" and impl="auto" against impl="xla" on the shapes
# outside the suite, then the whole-network steps with the autotune entry (on an H200 it
# chose matmul for a MobileNet-v1 depthwise shape; matmul read 0.56-0.92x lax there).
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-out}; mkdir -p "$OUT"
DEADLINE=${DEADLINE:-240}
budget() { local left=$((DEADLINE - SECONDS)); ((left < $1)) && echo $((left > 5 ? left : 5)) || echo "$1"; }
echo "== shapes at ${SECONDS}s"
timeout "$(budget 80)" python3 benchmarks/autotune_shapes.py --reps 15 2>&1 | tee "$OUT/autotune_shapes.txt"
echo "== networks at ${SECONDS}s"
timeout "$(budget 170)" python3 -m jaxconv bench --model mobilenet resnet18 --reps 20 --compiles 1 \
  --json "$OUT/networks_autotune.json" 2>&1 | tee "$OUT/networks_autotune.txt"
echo "== end at ${SECONDS}s"
