"""MobileNet-v1 training steps with the depthwise layers' passes on other lowerings.

  python benchmarks/depthwise_plans.py [--reps 20] [--batch N] [--tiny]

An experiment for ``impl="auto"``'s depthwise rule: each entry is ``jaxconv.nn.Conv2d``
with ``auto``'s rules, except that the depthwise layers (one input channel per group)
take the plan named in the entry; flax.nnx is the base. All are compiled once and timed
in interleaved rounds in one run (``jaxconv bench --model``'s harness). Prints the median
step time, its ratio to flax.nnx, the compile time and the temporaries of each entry.
"""

from __future__ import annotations

import argparse
import contextlib

import jax
import jax.numpy as jnp

from jaxconv.cli.bench import _models, _networks
from jaxconv.cli.bench._timing import time_interleaved
from jaxconv.lowering import _plan

VARIANTS = {  # depthwise (forward, input gradient, weight gradient)
    "auto": None,
    "xla": ("xla", "xla", "xla"),
    "matmul": ("matmul", "matmul", "matmul"),
    "matmul fwd": ("matmul", "xla", "xla"),
    "matmul fwd+dx": ("matmul", "matmul", "xla"),
    "matmul dx+dw": ("xla", "matmul", "matmul"),
    "matmul dw": ("xla", "xla", "matmul"),
}


@contextlib.contextmanager
def depthwise_plan(plan):
    """``auto``'s rules, with ``plan`` for depthwise layers, while tracing."""
    rules = _plan.auto_plan

    def patched(input_shape, weight_shape, *rest):
        if plan is not None and weight_shape[1] == 1:
            return _plan.Plan(*plan)
        return rules(input_shape, weight_shape, *rest)

    _plan.auto_plan = patched
    try:
        yield
    finally:
        _plan.auto_plan = rules


def traced_with(plan, apply):
    def run(params, x):
        with depthwise_plan(plan):
            return apply(params, x)

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--layouts", nargs="+", default=["NHWC", "NCHW"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--tiny", action="store_true", help="a harness check (width 4)")
    args = parser.parse_args()
    on_gpu = jax.default_backend() == "gpu"
    batch = args.batch or (2 if args.tiny else 128 if on_gpu else 32)
    net = _models.mobilenet(4) if args.tiny else _models.mobilenet()
    base = _models.jax_entries(net, batch, equinox=False, autotune=False)
    entries = {"flax.nnx.Conv": base["flax.nnx.Conv"]}
    for layout in args.layouts:
        apply, params, x, labels = base[f"jaxconv.nn {layout}"]
        for name in args.variants:
            own = jax.tree.map(jnp.copy, params)  # each step donates its parameters
            entries[f"{layout} {name}"] = (traced_with(VARIANTS[name], apply), own, x, labels)
    print(jax.devices()[0].device_kind, f"batch {batch}", flush=True)
    failures: list[dict] = []
    runs, info = _networks._compiled(entries, 1, net.name, failures)
    for f in failures:
        print("FAILED", f["entry"], f["error"], flush=True)
    medians = time_interleaved(runs, args.reps)
    flax = medians.get("flax.nnx.Conv")
    for name, t in medians.items():
        temp = info[name].get("temp")
        print(
            f"{name:24s} {t * 1e3:9.2f} ms  {t / flax if flax else float('nan'):5.2f}x  "
            f"compile {info[name]['compile_s']:6.2f} s  "
            f"temp {(temp or 0) / 2**20:8.1f} MiB  kernels {info[name]['kernels']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
