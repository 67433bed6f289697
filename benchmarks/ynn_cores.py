"""How many cores XLA's CPU convolution keeps busy, by input and output channels.

  python benchmarks/ynn_cores.py [--batch 32] [--sides 8 16 32] [--channels 64 128 256]
                                 [--calls 10] [--weight-grad]

For each 3x3 ``"same"`` layer (channels-last, float32) the forward pass (with
``--weight-grad``: JAX's weight gradient, lax's own form) is compiled alone and called
``--calls`` times; prints ms a call and the cores it kept busy (the
process's CPU time over the wall time). Run it once more under ``taskset -c 0``: a layer
whose time does not change there ran on one core already. On jaxlib 0.10.2, where XLA
hands these convolutions to YNNPACK, a layer of 64 output channels ran on one core at
every size measured (BENCHMARKS.md, 2026-12-07, sixth session; ``_plan._overlapped``),
and so did the weight gradient of 64 outputs (seventh session; ``_plan._paired``).
"""

from __future__ import annotations

import argparse
import resource
import time

import jax
import jax.numpy as jnp
from jax import lax


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def busy(fn, *args, calls: int) -> tuple[float, float]:
    """``(ms a call, cores busy)`` of ``calls`` calls after one warm call."""
    jax.block_until_ready(fn(*args))
    cpu, start = _cpu_seconds(), time.perf_counter()
    for _ in range(calls):
        jax.block_until_ready(fn(*args))
    wall = time.perf_counter() - start
    return wall / calls * 1e3, (_cpu_seconds() - cpu) / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--sides", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--channels", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--weight-grad", action="store_true", help="time the weight gradient")
    args = ap.parse_args()

    def forward(x, w):
        return lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    def weight_grad(x, w, g):  # the forward pass unused: XLA drops it
        return jax.vjp(lambda w: forward(x, w), w)[1](g)[0]

    conv = jax.jit(weight_grad if args.weight_grad else forward)
    what = "weight gradient" if args.weight_grad else "forward"
    print(f"{jax.devices()[0].device_kind}, jax {jax.__version__}, batch {args.batch}, {what}")
    for ci in args.channels:
        for co in args.channels:
            cells = []
            for side in args.sides:
                x = jnp.ones((args.batch, side, side, ci), jnp.float32)
                w = jnp.ones((3, 3, ci, co), jnp.float32)
                operands = (x, w, jnp.ones((args.batch, side, side, co), jnp.float32))
                ms, cores = busy(conv, *operands[: 3 if args.weight_grad else 2], calls=args.calls)
                cells.append(f"{side}x{side} {ms:8.2f} ms {cores:4.2f} busy")
            print(f"{ci:5d} -> {co:<5d}" + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
