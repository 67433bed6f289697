"""``impl="autotune"`` and ``impl="auto"`` against ``impl="xla"``, on shapes outside the suite.

  python benchmarks/autotune_shapes.py [--reps 7] [--only NAME ...]

For each shape: the plan ``"auto"``'s rules pick, the plan ``"autotune"`` times here and
how long that tuning took (a fresh in-memory cache: nothing is read from or written to
the user's cache file), then the forward pass and forward+backward (gradients of a
quadratic loss with respect to input and weight) of ``jaxconv.conv2d`` in each impl,
compiled once and timed in interleaved rounds. Prints medians and ratios to
``impl="xla"`` of the same run, and the worst ratio of each impl.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ["JAXCONV_AUTOTUNE_CACHE"] = ""  # memory only: every run tunes afresh

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv.cli.bench._timing import compile_entry  # noqa: E402

# name: (input shape, weight shape, stride, padding, groups)
SHAPES = {
    # the shapes where auto's first rules lost
    "16->256 5x5 64x64 pad 2": ((4, 16, 64, 64), (256, 16, 5, 5), 1, 2, 1),
    "16->128 7x7 64x64": ((4, 16, 64, 64), (128, 16, 7, 7), 1, 0, 1),
    "16->16 9x9 96x96": ((2, 16, 96, 96), (16, 16, 9, 9), 1, 0, 1),
    # the lesson's layer, as in the suite (--quick batch)
    "lesson 100->100 5x5 64x64": ((4, 100, 68, 68), (100, 100, 5, 5), 1, 0, 1),
    # ordinary 3x3 layers, ImageNet-like sizes
    "64->64 3x3 56x56": ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1),
    "128->128 3x3 28x28": ((8, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1),
    "256->256 3x3 14x14": ((8, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1),
    "64->128 3x3 s2 56x56": ((8, 64, 56, 56), (128, 64, 3, 3), 2, 1, 1),
    # ResNet-18 on CIFAR-size inputs, batch 32
    "resnet 64->64 32x32": ((32, 64, 32, 32), (64, 64, 3, 3), 1, 1, 1),
    "resnet 128->128 16x16": ((32, 128, 16, 16), (128, 128, 3, 3), 1, 1, 1),
    "resnet 256->256 8x8": ((32, 256, 8, 8), (256, 256, 3, 3), 1, 1, 1),
    "resnet 1x1 s2 128->256": ((32, 128, 16, 16), (256, 128, 1, 1), 2, 0, 1),
    # MobileNet-v1, batch 32
    "mobilenet depthwise 128 16x16": ((32, 128, 16, 16), (128, 1, 3, 3), 1, 1, 128),
    "mobilenet 1x1 128->256 16x16": ((32, 128, 16, 16), (256, 128, 1, 1), 1, 0, 1),
}
IMPLS = ("xla", "auto", "autotune")


def _entries(x_shape, w_shape, stride, padding, groups):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(x_shape), jnp.float32)
    w = jnp.asarray(rng.standard_normal(w_shape), jnp.float32)
    entries = {}
    for mode in ("fwd", "fwd+bwd"):
        for impl in IMPLS:

            def apply(w, x, impl=impl):
                return jaxconv.conv2d(
                    x, w, stride=stride, padding=padding, groups=groups, impl=impl
                )

            run, compile_s, _ = compile_entry(apply, w, x, mode)
            entries[mode, impl] = (run, compile_s)
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--only", nargs="+", choices=sorted(SHAPES), metavar="NAME")
    args = parser.parse_args()
    worst = {(m, i): 0.0 for m in ("fwd", "fwd+bwd") for i in IMPLS[1:]}
    print(f"{jax.devices()[0].device_kind}, jax {jax.__version__}, jaxconv {jaxconv.__version__}")
    for name in args.only or SHAPES:
        x_shape, w_shape, stride, padding, groups = SHAPES[name]
        kw = dict(stride=stride, padding=padding, groups=groups, dtype="float32")
        auto = jaxconv.choose_plan(x_shape, w_shape, **kw)
        t0 = time.perf_counter()
        tuned = jaxconv.choose_plan(x_shape, w_shape, impl="autotune", **kw)
        tune_s = time.perf_counter() - t0
        entries = _entries(x_shape, w_shape, stride, padding, groups)
        for run, _ in entries.values():
            run()  # warm
        samples = {key: [] for key in entries}
        for _ in range(args.reps):
            for key, (run, _) in entries.items():
                t = time.perf_counter()
                run()
                samples[key].append(time.perf_counter() - t)
        med = {key: statistics.median(s) for key, s in samples.items()}
        plans = f"auto {'/'.join(auto)}, autotune {'/'.join(tuned)}"
        print(f"\n{name}: {plans} (tuned in {tune_s:.1f} s)")
        for mode in ("fwd", "fwd+bwd"):
            base = med[mode, "xla"]
            cells = []
            for impl in IMPLS:
                ratio = med[mode, impl] / base
                if impl != "xla":
                    worst[mode, impl] = max(worst[mode, impl], ratio)
                cells.append(f"{impl} {med[mode, impl] * 1e3:8.2f} ms ({ratio:.2f}x)")
            print(f"  {mode:8s} " + "  ".join(cells))
    print("\nworst ratio to xla: " + ", ".join(f"{i} {m} {r:.2f}x" for (m, i), r in worst.items()))


if __name__ == "__main__":
    main()
