"""Speed of the vmap-structured core against lax.conv_general_dilated, measured in one run.

For each shape it times, under jit, forward and forward+backward:
  lax        jax.lax.conv_general_dilated (NCHW/OIHW), the baseline
  vmap       jaxconv.conv2d: vmap over images / groups / kernels with jaxconv's rules
  reference  the same vmap structure under JAX's generic rules (--reference; slow)
  lax-nhwc / dropin-nhwc  channels-last lax vs jaxconv.conv_general_dilated (--nhwc)
Runs are interleaved (lax, vmap, lax, vmap, ...) so machine noise hits all alike, and the
table gives medians and ratios to lax in the same layout. Compile times are in order of
compilation: on a GPU the first compile of a shape also pays cuDNN autotuning, so they
are not comparable between entries. Usage:

  python benchmarks/core_speed.py [--reps 15] [--reference] [--nhwc] [--dtype bfloat16]
                                 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax
import jax.numpy as jnp
from jax import lax

import jaxconv

# name, n (cpu), n (gpu), ci, co, k, output side, padding
SHAPES = [
    ("lesson 100->100 k5 m64", 4, 32, 100, 100, 5, 64, 0),
    ("3x3 64->64 m56", 8, 64, 64, 64, 3, 56, 1),
]


def _case(n, ci, co, k, m, pad, dtype):
    size = m - 2 * pad + k - 1
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (n, ci, size, size), dtype)
    w = jax.random.normal(kw, (co, ci, k, k), dtype) / (ci * k * k) ** 0.5
    return x, w


NHWC = ("NHWC", "HWIO", "NHWC")


def _impls(pad, reference, nhwc):
    pads = ((pad, pad), (pad, pad))
    fns = {
        "lax": lambda x, w: lax.conv_general_dilated(x, w, (1, 1), pads),
        "vmap": lambda x, w: jaxconv.conv2d(x, w, padding=pad),
    }
    if reference:
        fns["reference"] = lambda x, w: jaxconv.conv2d(x, w, padding=pad, impl="reference")
    if nhwc:  # channels-last arrays: lax against the drop-in (as flax calls it)
        fns["lax-nhwc"] = lambda x, w: lax.conv_general_dilated(
            x, w, (1, 1), pads, dimension_numbers=NHWC)
        fns["dropin-nhwc"] = lambda x, w: jaxconv.conv_general_dilated(
            x, w, (1, 1), pads, dimension_numbers=NHWC)
    return fns


def _layout_args(fns, x, w):
    """NCHW/OIHW arrays for most, NHWC/HWIO copies for the *-nhwc entries."""
    xl, wl = jnp.transpose(x, (0, 2, 3, 1)), jnp.transpose(w, (2, 3, 1, 0))
    return {f: ((xl, wl) if f.endswith("-nhwc") else (x, w)) for f in fns}


def _fwd_bwd(f):
    """Gradients of a loss that needs the forward output (a linear loss would let XLA drop
    the forward convolution): one forward and two backward convolutions."""
    return lambda x, w: jax.grad(lambda x, w: 0.5 * jnp.sum(f(x, w) ** 2), (0, 1))(x, w)


def _time(fns: dict, args_by_fn: dict, reps: int) -> dict:
    compiled, compile_s = {}, {}
    for name, f in fns.items():
        t0 = time.perf_counter()
        compiled[name] = jax.jit(f).lower(*args_by_fn[name]).compile()
        compile_s[name] = time.perf_counter() - t0
        jax.block_until_ready(compiled[name](*args_by_fn[name]))  # warm-up
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, c in compiled.items():
            t0 = time.perf_counter()
            jax.block_until_ready(c(*args_by_fn[name]))
            times[name].append(time.perf_counter() - t0)
    return {name: {"median_s": statistics.median(t), "compile_s": compile_s[name]}
            for name, t in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--reference", action="store_true", help="also time the literal lowering")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--nhwc", action="store_true", help="also time channels-last lax vs drop-in")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()

    on_gpu = jax.default_backend() == "gpu"
    dev = jax.devices()[0]
    print(f"device: {dev.device_kind} ({jax.default_backend()}), jax {jax.__version__}, "
          f"{platform.processor() or platform.machine()}, dtype {args.dtype}, reps {args.reps}")
    rows = []
    for name, n_cpu, n_gpu, ci, co, k, m, pad in SHAPES:
        n = n_gpu if on_gpu else n_cpu
        x, w = _case(n, ci, co, k, m, pad, jnp.dtype(args.dtype))
        flop = 2 * n * ci * co * k * k * m * m
        fns = _impls(pad, args.reference, args.nhwc)
        for mode in ("fwd", "fwd+bwd"):
            timed = fns if mode == "fwd" else {f: _fwd_bwd(g) for f, g in fns.items()}
            res = _time(timed, _layout_args(fns, x, w), args.reps)
            for impl, r in res.items():
                work = flop if mode == "fwd" else 3 * flop
                base = res["lax-nhwc" if impl.endswith("-nhwc") else "lax"]["median_s"]
                row = dict(shape=name, n=n, mode=mode, impl=impl, **r,
                           ratio_to_lax=r["median_s"] / base,
                           gflops=work / r["median_s"] / 1e9)
                rows.append(row)
                print(f"{name:24s} n={n:<3d} {mode:8s} {impl:10s} "
                      f"{r['median_s'] * 1e3:9.2f} ms  x{row['ratio_to_lax']:5.2f} lax(same layout)  "
                      f"{row['gflops']:9.1f} GFLOP/s  compile {r['compile_s']:.2f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": dev.device_kind, "backend": jax.default_backend(),
                       "jax": jax.__version__, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
