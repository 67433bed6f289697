"""What torch's weight layout costs a training step: jaxconv.nn.Conv2d against a
stand-in that stores its kernel as flax does (HWIO) and transposes it to OIHW at the call.

  python benchmarks/weight_layout.py [--model resnet18] [--layout NCHW] [--reps 41]
                                     [--compiles 2] [--batch 32] [--side 32]

Both steps and flax.nnx's (``jaxconv bench --model``'s, float32, batch 32) are compiled in
``--compiles`` rounds taken in turns and timed in interleaved runs; prints ms, the ratio
to flax.nnx's, the compile time's ratio (median) and the kernel count. XLA's CPU
convolution reads its kernel HWIO, so an OIHW parameter costs a transposing copy per use
and a transposed read in the update. On the Zen 5 EPYC (2026-12-07, sixth session) the
stand-in stepped level with jaxconv.nn: 0.863x against 0.857x flax's, 115 against 123
kernels (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import statistics

import jax
import jax.numpy as jnp

import jaxconv.nn
from jaxconv.cli.bench import _models
from jaxconv.cli.bench._timing import time_interleaved
from jaxconv.layers import _config


class HWIOConv2d(jaxconv.nn.Conv2d):
    """jaxconv.nn.Conv2d whose ``weight`` is stored ``(kh, kw, in, out)``."""

    def __init__(self, *args, **kwargs):
        from flax import nnx

        super().__init__(*args, **kwargs)
        self.weight = nnx.Param(jnp.transpose(self.weight[...], (2, 3, 1, 0)))

    def __call__(self, x):
        x = _config.check_input("Conv2d", self.config, x, self.config.in_channels)
        bias = self.bias[...] if self.bias is not None else None
        weight = jnp.transpose(self.weight[...], (3, 2, 0, 1))
        return _config.forward(
            "Conv2d", self.config, x, weight, bias, dtype=self.dtype, precision=self.precision
        )


def _hwio(net: _models.Net, layout: str):
    def conv(c: _models.Conv, rngs):
        kw = dict(groups=c.groups, data_format=layout, rngs=rngs)
        return HWIOConv2d(c.ci, c.co, c.k, c.stride, c.pad, **kw)

    spatial, channel = ((2, 3), 1) if layout == "NCHW" else ((1, 2), 3)
    return _models._nnx_model(net, conv, spatial, channel)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18", choices=sorted(_models.MODELS))
    ap.add_argument("--layout", default="NCHW", choices=("NCHW", "NHWC"))
    ap.add_argument("--reps", type=int, default=41)
    ap.add_argument("--compiles", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--side", type=int, default=_models.SIDE, help="the images' height and width")
    args = ap.parse_args()
    _models.SIDE = args.side
    net = _models.MODELS[args.model]()
    entries = _models.jax_entries(net, args.batch, equinox=False, autotune=False)
    ours = f"jaxconv.nn {args.layout}"
    apply, params = _hwio(net, args.layout)
    entries["HWIO stand-in"] = (_models.computed_in(apply, "float32"), params, *entries[ours][2:])
    names = ["HWIO stand-in", ours, "flax.nnx.Conv"]
    steps, compiles = {}, {name: [] for name in names}
    for _ in range(args.compiles):
        for name in names:
            jax.clear_caches()
            apply, params, x, labels = entries[name]
            steps[name] = _models.compile_step(apply, jax.tree.map(jnp.copy, params), x, labels)
            compiles[name].append(steps[name].compile_s)
    t = time_interleaved({name: step.run for name, step in steps.items()}, args.reps)
    base, base_compile = t["flax.nnx.Conv"], statistics.median(compiles["flax.nnx.Conv"])
    for name in names:
        print(
            f"{name:18s} {t[name] * 1e3:7.1f} ms  x flax.nnx {t[name] / base:.3f}  "
            f"compile x {statistics.median(compiles[name]) / base_compile:.2f}  "
            f"kernels {steps[name].kernels}",
            flush=True,
        )


if __name__ == "__main__":
    main()
