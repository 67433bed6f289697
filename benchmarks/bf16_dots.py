"""bfloat16 on a CPU: XLA's convolution against dots with float32 sums, one process.

  python benchmarks/bf16_dots.py [--reps 7]

jaxlib 0.10.2 converts a bfloat16 convolution to float32 on a CPU, but hands a bfloat16
dot with a float32 result (``preferred_element_type``) to YNNPACK as it is, which on a
Xeon with AMX runs it several times faster than float32 (on an EPYC with AVX512-BF16,
1.8x). This script measures both, then
a prototype of a 3x3 layer (batch 32, stride 1, padded by 1) written as nine shifted
matmuls, channels-last, with bfloat16 operands and float32 sums, per pass against XLA's
bfloat16 convolution and its gradients: the forward pass; the input gradient (the taps of
the output gradient with the flipped kernel); the weight gradient (one dot a tap over the
images and pixels). Each pair is compiled once and timed in interleaved rounds; prints
medians, ratios, and each prototype's error relative to XLA's largest value. Not a
lowering (BENCHMARKS.md, "fourth session" of 2026-12-06).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv.cli.bench._timing import time_interleaved

BF16, F32 = jnp.bfloat16, jnp.float32
NHWC = ("NHWC", "HWIO", "NHWC")
LAYERS = [(32, 64, 32), (32, 128, 16), (32, 256, 8), (32, 512, 4)]  # (batch, channels, side)


def _compiled(f, *args):
    compiled = jax.jit(f).lower(*args).compile()
    return lambda: jax.block_until_ready(compiled(*args))


def _conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=NHWC)


def _input_grad(g, w, x):
    return jax.vjp(lambda x: _conv(x, w), x)[1](g)[0]


def _weight_grad(g, x, w):
    return jax.vjp(lambda w: _conv(x, w), w)[1](g)[0]


def _taps(x, w, flip: bool = False):
    """``sum over taps of shift(x) @ w[tap]`` in float32, returned in ``x``'s dtype;
    ``flip``: the kernel flipped and transposed (the input gradient's taps)."""
    n, h, wd, _ = x.shape
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    total = None
    for i in range(3):
        for j in range(3):
            tap = w[2 - i, 2 - j] if flip else w[i, j]
            dims = (((3,), (1 if flip else 0,)), ((), ()))
            y = lax.dot_general(
                xp[:, i : i + h, j : j + wd, :], tap, dims, preferred_element_type=F32
            )
            total = y if total is None else total + y
    return total.astype(x.dtype)


def _flipped_taps(g, w):
    return _taps(g, w, flip=True)


def _tap_weight_grad(g, x):
    n, h, wd, c = x.shape
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = g.reshape(n * h * wd, g.shape[-1])
    per_tap = [
        lax.dot_general(
            xp[:, i : i + h, j : j + wd, :].reshape(n * h * wd, c),
            rows,
            (((0,), (0,)), ((), ())),
            preferred_element_type=F32,
        )
        for i in range(3)
        for j in range(3)
    ]
    return jnp.stack(per_tap).reshape(3, 3, c, g.shape[-1]).astype(x.dtype)


def _error(ours, ref) -> float:
    ours, ref = (np.asarray(a, np.float32) for a in (ours, ref))
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    print(jax.devices()[0].device_kind, f"jax {jax.__version__}", flush=True)
    n = 2048
    runs = {}
    for name, dtype, result in [
        ("float32", F32, None),
        ("bfloat16", BF16, None),
        ("bfloat16, float32 result", BF16, F32),
    ]:
        a = jnp.ones((n, n), dtype)
        runs[name] = _compiled(lambda a, b, r=result: jnp.dot(a, b, preferred_element_type=r), a, a)
    ms = time_interleaved(runs, args.reps)
    for name, t in ms.items():
        print(f"matmul {n}^3, {name}: {t * 1e3:.1f} ms, {2 * n**3 / t / 1e9:.0f} GFLOP/s")
    rng = np.random.default_rng(0)
    for batch, c, side in LAYERS:
        x = jnp.asarray(rng.standard_normal((batch, side, side, c)), BF16)
        w = jnp.asarray(rng.standard_normal((3, 3, c, c)), BF16)
        g = jnp.asarray(rng.standard_normal((batch, side, side, c)), BF16)
        x32, w32 = x.astype(F32), w.astype(F32)
        pairs = {
            "forward": ((_conv, (x, w)), (_taps, (x, w))),
            "input gradient": ((_input_grad, (g, w, x)), (_flipped_taps, (g, w))),
            "weight gradient": ((_weight_grad, (g, x, w)), (_tap_weight_grad, (g, x))),
        }
        runs = {"conv float32": _compiled(_conv, x32, w32)}
        for pass_, ((ref, ref_args), (ours, our_args)) in pairs.items():
            runs[f"{pass_} xla"] = _compiled(ref, *ref_args)
            runs[f"{pass_} taps"] = _compiled(ours, *our_args)
        ms = time_interleaved(runs, args.reps)
        line = [f"{c}->{c} 3x3 at {side}x{side}, batch {batch}:"]
        line.append(f"conv float32 {ms['conv float32'] * 1e3:.1f} ms;")
        for pass_, ((ref, ref_args), (ours, our_args)) in pairs.items():
            xla, taps = ms[f"{pass_} xla"], ms[f"{pass_} taps"]
            err = _error(jax.jit(ours)(*our_args), jax.jit(ref)(*ref_args))
            line.append(
                f"{pass_} xla {xla * 1e3:.1f} ms, taps {taps * 1e3:.1f} ms "
                f"({taps / xla:.2f}x, error {err:.0e});"
            )
        print(" ".join(line), flush=True)


if __name__ == "__main__":
    main()
