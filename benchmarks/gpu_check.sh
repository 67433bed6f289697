#!/usr/bin/env bash
# One prepared device run: GPU benchmarks, then the unchanged test suite. Results in $OUT.
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-deps --no-build-isolation -e . > "$OUT/install.txt" 2>&1 || echo "pip install -e . failed (see install.txt)"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import jax, flax, equinox, hypothesis; print(jax.__version__, jax.devices(), flax.__version__, equinox.__version__, hypothesis.__version__)" | tee -a "$OUT/device.txt"
# the speed suite, float32 (TF32) and bfloat16, every peer (--quick halves the batch)
timeout "${BENCH_TIMEOUT:-240}" python3 -m jaxconv.cli.bench --reps 20 --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt"
timeout 90 python3 benchmarks/train_step.py --reps 40 --json "$OUT/train_step.json" 2>&1 | grep -v Warning | tee -a "$OUT/bench.txt"
timeout "${SUITE_TIMEOUT:-240}" python3 -m pytest -q -p no:cacheprovider -p no:benchmark -n 8 \
  --durations=5 --junitxml="$OUT/junit.xml" 2>&1 | tee "$OUT/pytest.txt" | tail -25
