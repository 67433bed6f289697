#!/usr/bin/env bash
# One prepared device run within one call (DEADLINE seconds in all, default 575): a smoke
# check first (it stops the run within a minute when jaxconv cannot run there, to leave
# device time for a fixed rerun), then in order of what the speed issue needs most: the
# realistic-size tests, the whole-network benchmark, the test suite, the networks with
# batch normalisation and in mixed precision, MobileNet-v1 with the depthwise layers on
# all-xla, auto against xla on larger depthwise layers, the single-layer benchmark, a
# probe of an XLA abort.
# Each step gets its own timeout, capped by the time left. Results in $OUT.
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-out}; mkdir -p "$OUT"
DEADLINE=${DEADLINE:-575}
# step budget: the smaller of $1 and the time left before the deadline (at least 5 s)
budget() { local left=$((DEADLINE - SECONDS)); ((left < $1)) && echo $((left > 5 ? left : 5)) || echo "$1"; }
# at most 8 files come back from a device call: the steps, install and smoke check share
# device.txt
stamp() { echo "== $1 at ${SECONDS}s" | tee -a "$OUT/device.txt"; }

stamp "device"
# installed for the tests that read the package's metadata (the rest runs from PYTHONPATH)
python3 -m pip install -q --no-deps --no-build-isolation -e . >> "$OUT/device.txt" 2>&1 ||
  echo "pip install -e . failed (see device.txt)"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$OUT/device.txt"
python3 -c "import sys, jax, flax, equinox, hypothesis, torch; print(sys.version.split()[0], jax.__version__, jax.devices(), 'flax', flax.__version__, 'equinox', equinox.__version__, 'hypothesis', hypothesis.__version__, 'torch', torch.__version__)" 2>&1 | tee -a "$OUT/device.txt"

stamp "smoke"
# forward and both gradients of every lowering on a small layer, under jit
if ! timeout 60 python3 - <<'EOF' 2>&1 | tee -a "$OUT/device.txt"; then
import jax, jax.numpy as jnp, jaxconv
x = jnp.ones((2, 8, 12, 12)); w = jnp.ones((4, 8, 3, 3))
for impl in ("auto", "xla", "matmul", "gemm", "reference"):
    f = jax.jit(jax.value_and_grad(lambda x, w: jnp.sum(jaxconv.conv2d(x, w, padding=1, impl=impl) ** 2), (0, 1)))
    v, (gx, gw) = f(x, w)
    print(impl, float(v), gx.shape, gw.shape, jaxconv.choose_plan(x.shape, w.shape, padding=1))
EOF
  stamp "smoke failed: stopping"; exit 1
fi

stamp "realistic"
# every lowering at the issue's sizes, forward and gradients, float32 and bfloat16
# (one H200 call ran 15 of 22 in 100 s one at a time: -n 4, -v names each)
timeout "$(budget 130)" python3 -m pytest -v -n 4 -p no:cacheprovider -p no:benchmark \
  tests/test_realistic.py 2>&1 | tee "$OUT/realistic.txt" | grep -E "FAILED|ERROR|passed|failed" | tail -15

stamp "networks"
# one training step of ResNet-18, MobileNet-v1 and ConvNeXt (batch 128) in every library
# (one compile round per entry, to fit the call; the CPU runs take the median of 3)
# (--no-autotune: tuning every shape first would not fit; benchmarks/gpu_autotune.sh)
timeout "$(budget 200)" python3 -m jaxconv bench --model resnet18 mobilenet convnext --reps 20 \
  --compiles 1 --no-autotune --json "$OUT/networks.json" 2>&1 | tee "$OUT/networks.txt"

stamp "suite"
# the suite, the likeliest GPU differences first (-v: partial results if cut off).
# DeprecationWarnings of the device's newer JAX are reported, not raised. (200 s cut an
# H200 run at 99%, before pytest printed why its one failure failed.)
timeout "$(budget 240)" python3 -m pytest -v -p no:cacheprovider -p no:benchmark -n 8 \
  -W default::DeprecationWarning -W default::FutureWarning --durations=10 \
  tests/test_plans.py tests/test_properties.py tests/test_autodiff.py tests/test_dtypes.py \
  tests/test_torch_oracle.py tests/test_algebra.py tests/test_dropin.py tests/test_modules.py \
  tests/test_autotune.py tests/test_reliability.py tests/test_export.py tests/test_testing.py \
  tests/test_lesson.py tests/test_registry.py tests/test_bad_input.py tests/test_cost.py \
  tests/test_public_api.py tests/test_bench.py tests/test_cli.py tests/test_examples.py \
  tests/test_install.py tests/test_layout.py tests/test_trim.py tests/test_dots.py \
  tests/test_fence.py tests/test_swapped.py tests/test_eigen.py jaxconv > "$OUT/pytest.txt" 2>&1
grep -E "FAILED|ERROR|passed|failed" "$OUT/pytest.txt" | tail -25

stamp "batchnorm"
# ResNet-18 and MobileNet-v1 with batch normalisation after every convolution, where the
# layouts part on a CPU (README, "Which layout on a CPU"), into networks.txt
timeout "$(budget 110)" python3 -m jaxconv bench --model resnet18 mobilenet --batchnorm \
  --reps 20 --compiles 1 --no-autotune 2>&1 | tee -a "$OUT/networks.txt"

stamp "bfloat16"
# ResNet-18 and MobileNet-v1 in mixed precision (float32 parameters, bfloat16 compute;
# torch under autocast), as networks mostly train on GPUs, into networks.txt
timeout "$(budget 110)" python3 -m jaxconv bench --model resnet18 mobilenet --dtype bfloat16 \
  --reps 20 --compiles 1 --no-autotune 2>&1 | tee -a "$OUT/networks.txt"

stamp "depthwise"
# MobileNet-v1 steps with auto's GPU depthwise rule against all-xla (the rule's evidence),
# into networks.txt: at most 8 files come back
timeout "$(budget 90)" python3 benchmarks/depthwise_plans.py --reps 30 --variants auto xla \
  2>&1 | grep -v cuda_timer | tee -a "$OUT/networks.txt"

stamp "sweep"
# auto against xla on the depthwise layers of MobileNet-v2, EfficientNet and ConvNeXt at
# ImageNet sizes (the GPU depthwise rule was measured in MobileNet-v1 at 32x32 only)
timeout "$(budget 60)" python3 benchmarks/auto_sweep.py --only " dw " 2>&1 | tee -a "$OUT/networks.txt"

stamp "layers"
# the single-layer suite, float32 (TF32) and bfloat16 (--quick halves the batch)
timeout "$(budget 150)" python3 -m jaxconv bench --quick --reps 20 --no-autotune \
  --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt"

stamp "swap"
# whether XLA's GPU pipeline aborts where jaxlib 0.10.2's CPU one does on lax's input
# gradients of some padded convolutions (lowering/_xla.py, swap_breaks_input_grad)
timeout "$(budget 40)" python3 benchmarks/xla_swap_crash.py --crashing 4 --safe 8 \
  2>&1 | tee -a "$OUT/device.txt"
stamp "end"
