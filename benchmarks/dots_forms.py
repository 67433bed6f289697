"""``"dots"``'s two forms, and XLA's convolution, per pass of 3x3 layers in bfloat16.

  python benchmarks/dots_forms.py [--reps 9] [--layers N,C,SIDE,O ...]

For each layer (batch N, C -> O channels, SIDE x SIDE images, 3x3, stride 1, padding 1):
the forward pass, the input gradient and the weight gradient of ``impl="dots"`` in its
im2col form and its row-stacked form (``_dots.stacks_rows`` forced each way, its
thresholds aside), and of
``"eigen"`` and ``"xla"`` (XLA's convolution, which jaxlib 0.10.2 runs in float32 on a
CPU), each compiled once and timed in interleaved rounds; prints medians in ms. The
numbers behind ``ROWS_MIN_CHANNELS``, ``ROWS_MIN_WIDTH`` (``_dots.py``) and ``auto``'s
row-stacked rules (``_plan.py``, ``DOTS_ROWS_*``).
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv.cli.bench._timing import time_interleaved
from jaxconv.lowering import _dots

# (batch, in channels, side, out channels): ResNet-18's (CIFAR, batch 32), wider and
# larger images, and thin layers
LAYERS = [
    (32, 64, 32, 64), (32, 128, 16, 128), (32, 256, 8, 256), (32, 512, 4, 512),
    (32, 64, 16, 64), (32, 64, 8, 64), (32, 128, 8, 128), (32, 256, 16, 256),
    (32, 512, 8, 512), (32, 128, 4, 128), (32, 256, 4, 256),
    (8, 64, 32, 64), (32, 96, 32, 96), (32, 128, 32, 128), (8, 256, 32, 256),
    (32, 32, 32, 32), (32, 32, 16, 32), (32, 16, 32, 16),
    (32, 8, 32, 64), (32, 8, 16, 32), (32, 3, 32, 64), (32, 3, 16, 32),
]  # fmt: skip
FORMS = ("im2col", "rows", "eigen", "xla")
PASSES = ("fwd", "dx", "dw")


def _compiled(form: str, x, w, g) -> dict[str, functools.partial]:
    """Each pass of ``form``, compiled now (the form is chosen at trace time)."""
    impl = form if form in ("eigen", "xla") else "dots"
    conv = functools.partial(jaxconv.conv2d, padding=1, impl=impl)
    fns = {
        "fwd": (lambda x, w: conv(x, w), (x, w)),
        "dx": (lambda g, x, w: jax.vjp(lambda x: conv(x, w), x)[1](g)[0], (g, x, w)),
        "dw": (lambda g, x, w: jax.vjp(lambda w: conv(x, w), w)[1](g)[0], (g, x, w)),
    }
    return {p: functools.partial(jax.jit(f).lower(*a).compile(), *a) for p, (f, a) in fns.items()}


def _forced(kernel, params, cg=None, mw=None) -> bool:
    """The row-stacked form wherever it computes the layer, thresholds aside."""
    return tuple(kernel) != (1, 1) and params.stride[1] == 1


def main(layers, reps: int) -> None:
    rng = np.random.default_rng(0)
    rows = _dots.stacks_rows
    print(f"{jax.default_backend()}, jax {jax.__version__}, bfloat16, ms")
    for n, c, side, o in layers:
        x = jnp.asarray(rng.standard_normal((n, c, side, side)), jnp.bfloat16)
        w = jnp.asarray(rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c), jnp.bfloat16)
        g = jnp.asarray(rng.standard_normal((n, o, side, side)), jnp.bfloat16)
        runs = {}
        try:
            for form in FORMS:
                _dots.stacks_rows = _forced if form == "rows" else (lambda *a, **k: False)
                for p, fn in _compiled(form, x, w, g).items():
                    runs[p, form] = lambda fn=fn: jax.block_until_ready(fn())
        finally:
            _dots.stacks_rows = rows
        ms = {k: 1e3 * t for k, t in time_interleaved(runs, reps).items()}
        print(
            f"{n}x{c}->{o} at {side}x{side}: "
            + " | ".join(p + " " + " ".join(f"{f} {ms[p, f]:.2f}" for f in FORMS) for p in PASSES),
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--layers", nargs="+", help="N,C,SIDE,O each")
    args = parser.parse_args()
    chosen = [tuple(int(v) for v in s.split(",")) for s in args.layers] if args.layers else LAYERS
    main(chosen, args.reps)
