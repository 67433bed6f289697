"""The entries of a benchmark case: each peer and each jaxconv lowering and layer.

An entry is ``(apply(params, x), params, x)`` in its library's own layout; torch's is
a zero-argument callable, timed apart from the JAX entries.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv

from ._suite import Case


def jax_entries(case: Case, n: int, dtype, impls, with_module: bool) -> dict[str, tuple]:
    from flax import linen, nnx

    s, p, g, k = case.stride, case.pad, case.groups, case.k
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (n, case.ci, case.side, case.side), dtype)
    w = (
        jax.random.normal(kw, (case.co, case.ci // g, k, k), dtype) / np.sqrt(case.ci // g * k * k)
    ).astype(dtype)
    x_nhwc, w_hwio = jnp.transpose(x, (0, 2, 3, 1)), jnp.transpose(w, (2, 3, 1, 0))
    pads = ((p, p), (p, p))

    def lax_apply(dims):
        return lambda w, x: lax.conv_general_dilated(
            x, w, (s, s), pads, dimension_numbers=dims, feature_group_count=g
        )

    out: dict[str, tuple] = {
        "lax": (lax_apply(("NCHW", "OIHW", "NCHW")), w, x),
        "lax NHWC": (lax_apply(("NHWC", "HWIO", "NHWC")), w_hwio, x_nhwc),
    }
    conv = linen.Conv(
        case.co,
        (k, k),
        strides=s,
        padding=p,
        feature_group_count=g,
        use_bias=False,
        dtype=dtype,
        param_dtype=dtype,
    )
    out["flax.linen.Conv"] = (conv.apply, conv.init(jax.random.key(0), x_nhwc), x_nhwc)
    out["flax.nnx.Conv"] = _nnx(
        nnx.Conv(
            case.ci,
            case.co,
            (k, k),
            strides=s,
            padding=p,
            feature_group_count=g,
            use_bias=False,
            dtype=dtype,
            param_dtype=dtype,
            rngs=nnx.Rngs(0),
        ),
        x_nhwc,
    )
    try:
        import equinox as eqx
    except ImportError:
        pass
    else:
        model = eqx.nn.Conv2d(
            case.ci,
            case.co,
            k,
            stride=s,
            padding=p,
            groups=g,
            use_bias=False,
            dtype=dtype,
            key=jax.random.key(0),
        )
        out["equinox.nn.Conv2d"] = (lambda m, x: jax.vmap(m)(x), model, x)
    for impl in impls:
        out[f"jaxconv {impl}"] = (
            lambda w, x, impl=impl: jaxconv.conv2d(x, w, stride=s, padding=p, groups=g, impl=impl),
            w,
            x,
        )
    if with_module:
        import jaxconv.nn as nn

        for fmt, arr in (("NCHW", x), ("NHWC", x_nhwc)):
            name = "jaxconv.nn.Conv2d" + (" NHWC" if fmt == "NHWC" else "")
            out[name] = _nnx(
                nn.Conv2d(
                    case.ci,
                    case.co,
                    k,
                    stride=s,
                    padding=p,
                    groups=g,
                    bias=False,
                    data_format=fmt,
                    dtype=dtype,
                    param_dtype=dtype,
                    rngs=nnx.Rngs(0),
                ),
                arr,
            )
    return out


def _nnx(module, x):
    from flax import nnx

    graphdef, state = nnx.split(module)
    return (lambda state, x: nnx.merge(graphdef, state)(x)), state, x


def torch_entry(case: Case, n: int, dtype: str, mode: str, on_gpu: bool):
    try:
        import torch
    except ImportError:
        return None
    device = "cuda" if on_gpu and torch.cuda.is_available() else "cpu"
    if on_gpu and device == "cpu":
        return None  # a CPU torch next to a GPU JAX would not be a comparison
    tdtype = getattr(torch, dtype)
    layer = torch.nn.Conv2d(
        case.ci,
        case.co,
        case.k,
        stride=case.stride,
        padding=case.pad,
        groups=case.groups,
        bias=False,
    ).to(device=device, dtype=tdtype)
    x = torch.randn(n, case.ci, case.side, case.side, device=device, dtype=tdtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def fwd():
        with torch.no_grad():
            layer(x)
        sync()

    def fwd_bwd():
        xg = x.detach().requires_grad_(True)
        layer.weight.grad = None
        y = layer(xg).float()
        (0.5 * (y * y).sum()).backward()
        sync()

    return fwd if mode == "fwd" else fwd_bwd
