"""Oracles and tolerances used across the suite."""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxconv import _conv2d, _eager
from jaxconv.lowering import _cpu, _eigen

ON_GPU = jax.default_backend() == "gpu"

# Relative tolerance (max abs error / max abs reference) per dtype, against a
# float64/complex128 reference. float32 is computed with precision=HIGHEST; the
# "float32-default" row is lax's default precision, which is TF32 on NVIDIA GPUs.
RTOL = {
    "float64": 1e-10,
    "complex128": 1e-10,
    "float32": 1e-5,
    "complex64": 1e-5,
    "float32-default": 5e-3 if ON_GPU else 1e-5,
}


def fusions_with(text: str, *ops: str) -> list[str]:
    """Names of the fused computations of an optimised program that hold all of ``ops``."""
    found = []
    for name, body in re.findall(r"^%(\S+) [^\n]*\{\n(.*?)\n\}", text, re.S | re.M):
        held = set(re.findall(r" = \S+ ([a-z][\w-]*)\(", body))
        if all(op in held for op in ops):
            found.append(name)
    return found


def max_error(actual, expected) -> tuple[float, float]:
    """``(largest absolute error, scale)``: the scale is ``max(|expected|)``, at least 1."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    return float(np.max(np.abs(actual - expected), initial=0.0)), scale


def assert_close(actual, expected, rtol):
    err, scale = max_error(actual, expected)
    assert err <= rtol * scale, f"max error {err:.3e} > {rtol:.1e} x {scale:.3e}"


def lax_conv2d(x, w, case, precision=lax.Precision.HIGHEST):
    """The oracle: lax.conv_general_dilated on (N, C, H, W) or unbatched (C, H, W)."""
    return _lax_conv2d(x, w, case.stride, case.lax_padding, case.dilation, case.groups, precision)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6))
def _lax_conv2d(x, w, stride, padding, dilation, groups, precision):
    """One program per shape (each eager operation would compile one of its own)."""
    batched = x.ndim == 4
    y = lax.conv_general_dilated(
        x if batched else x[None],
        w,
        stride,
        padding,
        rhs_dilation=dilation,
        feature_group_count=groups,
        precision=precision,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
    )
    return y if batched else y[0]


def hlo_ops(fn, *args):
    """The op names in the optimised HLO of ``jax.jit(fn)(*args)``, on any platform.

    A convolution that XLA hands to cuDNN appears as a ``custom-call``; it is named
    ``convolution`` here, so that CPU and GPU programs read alike.
    """
    text = jax.jit(fn).lower(*args).compile().as_text()
    ops = []
    for line in text.splitlines():
        m = re.search(r"^\s*(?:ROOT )?%\S+ = .*? ([a-z][\w-]*)\(", line)
        if m:
            is_cudnn_conv = 'custom_call_target="__cudnn$conv' in line
            ops.append("convolution" if is_cudnn_conv else m.group(1))
    return ops


def lowered_ops(fn, *args):
    """The StableHLO ops jaxconv's rules produce for ``fn``, before XLA optimises them."""
    return re.findall(r"stablehlo\.(\w+)", jax.jit(fn).lower(*args).as_text())


def count_convolutions(fn, *args):
    return hlo_ops(fn, *args).count("convolution")


def conv_kwargs(case):
    return dict(
        stride=case.stride,
        padding=case.padding,
        dilation=case.dilation,
        groups=case.groups,
    )


def tree_max_abs(tree):
    return max(float(jnp.max(jnp.abs(leaf))) for leaf in jax.tree.leaves(tree))


def import_torch():
    """torch, or a skip of the calling test alone when it is not installed."""
    return pytest.importorskip("torch", reason="the torch oracle needs torch==2.13.0 (test extra)")


def torch_reference(c):
    """A float64 ``torch.nn.Conv2d`` for a ``strategies.torch_cases`` draw, run forward and
    backward on a random input and cotangent: (layer, x, y, cotangent, grads)."""
    torch = import_torch()

    layer = torch.nn.Conv2d(
        c["ci"],
        c["co"],
        c["kernel"],
        stride=c["stride"],
        padding=c["padding"],
        dilation=c["dilation"],
        groups=c["groups"],
        bias=c["bias"],
        padding_mode=c["mode"],
        dtype=torch.float64,
    )
    rng = np.random.default_rng(c["seed"])
    x_np = rng.standard_normal(((c["n"],) if c["n"] else ()) + (c["ci"], *c["size"]))
    xt = torch.tensor(x_np, requires_grad=True)
    yt = layer(xt)
    ct_np = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(ct_np))
    grads = {"x": xt.grad.numpy(), "weight": layer.weight.grad.numpy()}
    if c["bias"]:
        grads["bias"] = layer.bias.grad.numpy()
    return layer, jnp.asarray(x_np), yt.detach().numpy(), jnp.asarray(ct_np), grads


def on_each_vendor(monkeypatch, plans_of) -> list:
    """``[plans_of() with Intel's rules, with AMD's]``: ``_cpu.amd`` patched, XLA's CPU
    convolutions on YNNPACK (the rules' premise). AMD's rules stay on afterwards."""
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: True)
    found = []
    for vendor in (False, True):
        monkeypatch.setattr(_cpu, "amd", lambda vendor=vendor: vendor)
        found.append(plans_of())
    return found


def fresh_traces() -> None:
    """Forget jaxconv's traces: the planned functions (``_conv2d.planned_fn``) and the
    eager calls' jitted programs (``_eager``), so that a later call traces again under
    patched rules. Unlike ``jax.clear_caches()`` this leaves other tests' compiled
    programs alone."""
    _conv2d.planned_fn.cache_clear()
    _eager._jitted.cache_clear()
