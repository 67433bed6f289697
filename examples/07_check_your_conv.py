"""Run jaxconv's property suite on convolutions that are not jaxconv's own.

check_conv(fn, convention) draws cases, compares fn with lax.conv_general_dilated and
checks named properties (values, shape, 1x1 = matmul, linearity, derivatives, jit,
vmap, ...). Here it checks lax itself, flax.linen.Conv and equinox.nn.Conv2d (each wrapped
to torch's signature), jaxconv's lowerings, and a deliberately wrong convolution, whose
failure is printed with its minimal case.

  python examples/07_check_your_conv.py [--quick]
"""

from __future__ import annotations

import argparse
import functools

import equinox as eqx
import flax.linen as linen
import jax
import jax.numpy as jnp
from jax import lax

import jaxconv
from jaxconv.testing import ConvCheckError, check_conv


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _flax_padding(padding):
    if isinstance(padding, str):
        return padding.upper()
    return [(p, p) for p in _pair(padding)]


def flax_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """flax.linen.Conv (channels-last, HWIO kernel) behind torch's signature."""
    layer = linen.Conv(
        w.shape[0],
        w.shape[2:],
        strides=_pair(stride),
        padding=_flax_padding(padding),
        kernel_dilation=_pair(dilation),
        feature_group_count=groups,
        use_bias=b is not None,
        precision="highest",
        dtype=x.dtype,
        param_dtype=x.dtype,
    )
    params = {"kernel": jnp.transpose(w, (2, 3, 1, 0))}
    if b is not None:
        params["bias"] = b
    y = layer.apply({"params": params}, jnp.moveaxis(x, -3, -1))
    return jnp.moveaxis(y, -1, -3)


def equinox_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """equinox.nn.Conv2d (unbatched CHW) behind torch's signature, vmapped over a batch."""
    pad = padding.upper() if isinstance(padding, str) else _pair(padding)
    layer = eqx.nn.Conv2d(
        w.shape[1] * groups,
        w.shape[0],
        w.shape[2:],
        stride=_pair(stride),
        padding=pad,
        dilation=_pair(dilation),
        groups=groups,
        use_bias=b is not None,
        dtype=x.dtype,
        key=jax.random.key(0),
    )
    layer = eqx.tree_at(lambda m: m.weight, layer, w)
    if b is not None:
        layer = eqx.tree_at(lambda m: m.bias, layer, b.reshape(-1, 1, 1))
    return layer(x) if x.ndim == 3 else jax.vmap(layer)(x)


def wrong_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """A classic porting bug: the kernel flipped (true convolution, not correlation)."""
    return jaxconv.conv2d(x, w[..., ::-1, ::-1], b, stride, padding, dilation, groups)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="2 cases each instead of 25, and impl='auto' only"
    )
    args = ap.parse_args(argv)
    n = 2 if args.quick else 25
    impls = ("auto",) if args.quick else jaxconv.impls()
    subjects = [
        ("jax.lax.conv_general_dilated", lax.conv_general_dilated, "lax"),
        ("flax.linen.Conv", flax_conv, "torch"),
        ("equinox.nn.Conv2d", equinox_conv, "torch"),
        *[
            (
                f"jaxconv.conv2d(impl={impl!r})",
                functools.partial(jaxconv.conv2d, impl=impl),
                "torch",
            )
            for impl in impls
        ],
    ]
    for name, fn, convention in subjects:
        report = check_conv(fn, convention, max_examples=n)
        print(f"{name}: OK, {len(report.checked)} properties on {report.cases} cases")
    try:
        check_conv(wrong_conv, "torch", max_examples=n)
    except ConvCheckError as err:
        print("a flipped kernel is caught:")
        print("  " + str(err).split("\nFailing test case")[0].replace("\n", "\n  "))
    else:
        raise SystemExit("the wrong convolution passed: the checks are broken")


if __name__ == "__main__":
    main()
