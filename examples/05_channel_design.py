"""The lesson's design rule: when height and width halve, double the channels.

Builds a small CNN of jaxconv.nn.Conv2d layers that follows the rule and prints, per layer,
the output shape (jaxconv.output_shape), the parameters and the cost (jaxconv.flops).
Halving H and W divides mh*mw by 4 while doubling ci and co multiplies ci*co by 4, so each
stage costs about the same: compute is spread evenly over depth.

  python examples/05_channel_design.py [--size 64] [--quick]
"""

import argparse

import jax.numpy as jnp
from flax import nnx

import jaxconv
import jaxconv.nn


def design(size: int, stages: int, width: int = 16):
    """(in, out, stride) per layer: a 3x3 stem, then stride-2 stages doubling channels."""
    layers = [(3, width, 1)]
    for _ in range(stages):
        layers.append((width, 2 * width, 2))
        width *= 2
    return layers


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64, help="input side (a power of two)")
    ap.add_argument("--quick", action="store_true", help="a 32x32 input")
    args = ap.parse_args(argv)
    size = 32 if args.quick else args.size
    stages = 3
    rngs = nnx.Rngs(0)
    model = [
        jaxconv.nn.Conv2d(ci, co, 3, stride=s, padding=1, rngs=rngs)
        for ci, co, s in design(size, stages)
    ]
    shape = (1, 3, size, size)
    x = jnp.ones(shape)
    print(f"{'layer':28s} {'output (N, C, H, W)':22s} {'params':>9s} {'multiply-adds':>15s}")
    total = 0
    for layer in model:
        w = layer.weight.shape
        shape = jaxconv.output_shape(shape, w, stride=layer.config.stride, padding=1)
        x = layer(x)
        assert x.shape == shape
        params = layer.weight.size + layer.bias.size
        cost = jaxconv.flops(w[1], w[0], 3, shape[-2:])
        total += cost.multiply_adds
        print(
            f"Conv2d({w[1]:3d} -> {w[0]:3d}, stride {layer.config.stride[0]})"
            f"{'':4s} {str(shape):22s} {params:9,d} {cost.multiply_adds:15,d}"
        )
    print(
        f"total: {total:,} multiply-adds per image; each stride-2 stage (H, W halved, "
        f"channels doubled) costs the same."
    )


if __name__ == "__main__":
    main()
