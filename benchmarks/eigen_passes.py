"""Each pass of ``impl="eigen"`` against ``"xla"`` (and the weight gradient against every
lowering) on dense float32 (or bfloat16) layers, timed in interleaved rounds on this machine.

  python benchmarks/eigen_passes.py [--reps 7] [--only 0 3 ...] [--dtype bfloat16]

``"eigen"`` is XLA's CPU convolution shaped so that XLA runs it on Eigen rather than
YNNPACK (``jaxconv/lowering/_eigen.py``); ``auto``'s CPU rule for it was derived from
this script's output (``_plan.py``). Also prints whether this jaxlib hands
convolutions to YNNPACK at all.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv.lowering import _eigen

# (input shape, weight shape, stride, padding)
SHAPES = [
    ((32, 3, 32, 32), (64, 3, 3, 3), 1, 1),  # ResNet-18 (CIFAR) stem, batch 32
    ((32, 64, 32, 32), (64, 64, 3, 3), 1, 1),
    ((32, 128, 16, 16), (128, 128, 3, 3), 1, 1),
    ((32, 256, 8, 8), (256, 256, 3, 3), 1, 1),
    ((32, 512, 4, 4), (512, 512, 3, 3), 1, 1),
    ((32, 64, 32, 32), (128, 64, 3, 3), 2, 1),
    ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1),  # ImageNet-size stages, batch 8
    ((8, 128, 28, 28), (128, 128, 3, 3), 1, 1),
    ((8, 256, 14, 14), (256, 256, 3, 3), 1, 1),
    ((8, 512, 7, 7), (512, 512, 3, 3), 1, 1),
    ((4, 100, 68, 68), (100, 100, 5, 5), 1, 0),  # the lesson's layer
    ((4, 100, 64, 64), (100, 100, 5, 5), 1, 2),
    ((4, 16, 64, 64), (256, 16, 5, 5), 1, 2),
    ((4, 16, 64, 64), (128, 16, 7, 7), 1, 0),
    ((4, 32, 64, 64), (64, 32, 5, 5), 1, 2),
    ((8, 32, 64, 64), (32, 32, 3, 3), 1, 1),
    ((32, 32, 32, 32), (32, 32, 3, 3), 1, 1),
    ((16, 96, 32, 32), (96, 96, 3, 3), 1, 1),
    ((32, 48, 16, 16), (48, 48, 3, 3), 1, 1),
    ((8, 16, 64, 64), (64, 16, 3, 3), 1, 1),
]
WEIGHT_IMPLS = ("xla", "gemm", "matmul", "eigen")


def _input_grad(conv, x):
    return jax.jit(lambda g, w: jax.vjp(lambda x: conv(x, w), x)[1](g)[0])


def _weight_grad(conv, w):
    return jax.jit(lambda g, x: jax.vjp(lambda w: conv(x, w), w)[1](g)[0])


def _interleaved(fns: dict, args: dict, reps: int) -> dict:
    for name, f in fns.items():
        jax.block_until_ready(f(*args[name]))  # compile
        jax.block_until_ready(f(*args[name]))  # warm
    times: dict = {name: [] for name in fns}
    for _ in range(reps):
        for name, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(*args[name]))
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--only", type=int, nargs="+", default=None, help="indices of SHAPES")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    dtype = jnp.dtype(args.dtype)
    print(jax.devices()[0].device_kind, f"jax {jax.__version__}", flush=True)
    print("XLA hands float32 convolutions to YNNPACK:", _eigen.ynn_convolutions(), flush=True)
    rng = np.random.default_rng(0)
    for i, (x_shape, w_shape, stride, padding) in enumerate(SHAPES):
        if args.only is not None and i not in args.only:
            continue
        x = jnp.asarray(rng.standard_normal(x_shape), dtype)
        w = jnp.asarray(rng.standard_normal(w_shape), dtype)
        layer = functools.partial(jaxconv.conv2d, stride=stride, padding=padding)
        g = jnp.asarray(rng.standard_normal(layer(x, w).shape), dtype)
        fns, operands = {}, {}
        for impl in ("xla", "eigen"):
            conv = functools.partial(layer, impl=impl)
            fns[f"fwd {impl}"], operands[f"fwd {impl}"] = jax.jit(conv), (x, w)
            fns[f"dx {impl}"], operands[f"dx {impl}"] = _input_grad(conv, x), (g, w)
        for impl in WEIGHT_IMPLS:
            conv = functools.partial(layer, impl=impl)
            fns[f"dw {impl}"], operands[f"dw {impl}"] = _weight_grad(conv, w), (g, x)
        ms = _interleaved(fns, operands, args.reps)
        fwd, dx = ms["fwd eigen"] / ms["fwd xla"], ms["dx eigen"] / ms["dx xla"]
        weights = " ".join(f"{impl} {ms['dw ' + impl]:.1f}" for impl in WEIGHT_IMPLS)
        print(
            f"[{i}] {x_shape} x {w_shape} stride {stride} padding {padding}: "
            f"eigen/xla forward {fwd:.2f}x, input gradient {dx:.2f}x; "
            f"weight gradient ms: {weights}",
            flush=True,
        )


if __name__ == "__main__":
    main()
