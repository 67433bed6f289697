#!/usr/bin/env bash
# One prepared device run, at most about 9.5 minutes (each step has its own timeout):
# the realistic-size tests first, then the whole-network and single-layer benchmarks,
# then the test suite. Results in $OUT.
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-deps --no-build-isolation -e . > "$OUT/install.txt" 2>&1 || echo "pip install -e . failed (see install.txt)"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import jax, flax, equinox, hypothesis; print(jax.__version__, jax.devices(), flax.__version__, equinox.__version__, hypothesis.__version__)" | tee -a "$OUT/device.txt"
# every lowering at the sizes, forward and gradients, float32 and bfloat16
timeout 100 python3 -m pytest -q -p no:cacheprovider -p no:benchmark tests/test_realistic.py \
  2>&1 | tee "$OUT/realistic.txt" | tail -15
# one training step of ResNet-18 and MobileNet-v1 (batch 128) in every library
# (one compile round per entry, to fit the call; the CPU runs take the median of 3)
# (--no-autotune: tuning every shape first would not fit the call's time)
timeout "${NET_TIMEOUT:-200}" python3 -m jaxconv bench --model resnet18 mobilenet --reps 20 \
  --compiles 1 --no-autotune --json "$OUT/networks.json" 2>&1 | tee "$OUT/networks.txt"
# the single-layer suite, float32 (TF32) and bfloat16 (--quick halves the batch)
timeout "${BENCH_TIMEOUT:-120}" python3 -m jaxconv bench --quick --reps 20 --no-autotune --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt"
timeout "${SUITE_TIMEOUT:-150}" python3 -m pytest -q -p no:cacheprovider -p no:benchmark -n 8 \
  --durations=5 --junitxml="$OUT/junit.xml" 2>&1 | tee "$OUT/pytest.txt" | tail -25
