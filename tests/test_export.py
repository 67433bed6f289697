"""``jax.export`` with symbolic shapes: every public array function, every lowering.

A drawn case is exported with its batch size, its spatial size or both made symbolic,
then the exported program is called with the concrete arrays and compared to lax (and,
for ``conv2d``, its gradients to lax's). The plan of a symbolic call must not depend on
the unknown sizes (``lowering/_plan.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import export, lax

import jaxconv
from jaxconv.lowering import _eigen
from jaxconv.testing import strategies as S
from tests.helpers import RTOL, assert_close, conv_kwargs, lax_conv2d

SYMBOLIC = {"batch": "b", "spatial": "h, w", "both": "b, h, w"}


def _scope(case, which):
    """Symbolic sizes at least as large as the case needs (a user states the same)."""
    if which == "batch":
        return export.SymbolicScope()
    least = []
    for i, name in enumerate("hw"):
        span = (case.kernel[i] - 1) * case.dilation[i] + 1
        pads = sum(case.padding[i]) if isinstance(case.padding, tuple) else 0
        least.append(f"{name} >= {1 if case.padding == 'same' else max(1, span - pads)}")
    return export.SymbolicScope(least)


def _spec(shape, which: str, batched: bool, scope):
    """A ShapeDtypeStruct for the input ``shape`` with the ``which`` sizes made symbolic."""
    names = []
    for axis, size in enumerate(shape):
        spatial = axis >= len(shape) - 2
        if which in ("spatial", "both") and spatial:
            names.append("h" if axis == len(shape) - 2 else "w")
        elif which in ("batch", "both") and batched and axis == 0:
            names.append("b")
        else:
            names.append(str(size))
    return jax.ShapeDtypeStruct(export.symbolic_shape(", ".join(names), scope=scope), jnp.float32)


def _exported(fn, args, which, batched, case):
    scope = _scope(case, which)
    x, *rest = args
    specs = [_spec(x.shape, which, batched, scope)]
    specs += [jax.ShapeDtypeStruct(a.shape, jnp.float32) for a in rest]
    return export.export(jax.jit(fn))(*specs).call


@settings(max_examples=8)
@given(
    case=S.cases(batch=True, unbatched=False, max_channels=2),
    which=st.sampled_from(sorted(SYMBOLIC)),
    impl=st.sampled_from(["auto", "xla", "matmul", "gemm", "reference"]),
)
def test_conv2d_and_its_gradients_export_with_symbolic_shapes(case, which, impl):
    x, w = (jnp.asarray(np.asarray(a, np.float32)) for a in case.arrays())  # host cast
    kw = dict(conv_kwargs(case), impl=impl, precision=lax.Precision.HIGHEST)

    def loss(conv):
        return lambda x, w: 0.5 * jnp.sum(conv(x, w) ** 2)

    ours = lambda x, w: jaxconv.conv2d(x, w, **kw)
    oracle = lambda x, w: lax_conv2d(x, w, case)
    assert_close(_exported(ours, (x, w), which, True, case)(x, w), oracle(x, w), RTOL["float32"])
    if which != "batch" and impl in ("auto", "xla", "reference"):
        return  # lax's own transpose rules refuse symbolic spatial sizes (JAX 0.10)
    grads = _exported(jax.grad(loss(ours), (0, 1)), (x, w), which, True, case)(x, w)
    for got, want in zip(grads, jax.jit(jax.grad(loss(oracle), (0, 1)))(x, w)):
        assert_close(got, want, 1e-4)


def _nhwc(x, w, case):
    """The drop-in in NHWC/HWIO, lax's padding."""
    y = jaxconv.conv_general_dilated(
        jnp.transpose(x, (0, 2, 3, 1)),
        jnp.transpose(w, (2, 3, 1, 0)),
        case.stride,
        case.lax_padding,
        rhs_dilation=case.dilation,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=case.groups,
        precision=lax.Precision.HIGHEST,
    )
    return jnp.transpose(y, (0, 3, 1, 2))


# Each public array function, called on a case's (x, w): (function, batched input?)
FUNCTIONS = {
    "conv_general_dilated": (_nhwc, True),
    "corr2d": (
        lambda x, w, c: jaxconv.corr2d(x[0], w[0, 0], **_lesson_kwargs(c))[None, None],
        False,
    ),
    "corr2d_multi_in": (
        lambda x, w, c: jaxconv.corr2d_multi_in(x, w[0], **_lesson_kwargs(c))[None, None],
        False,
    ),
    "corr2d_multi_in_out": (
        lambda x, w, c: jaxconv.corr2d_multi_in_out(x, w, **_lesson_kwargs(c))[None],
        False,
    ),
    "channel_contributions": (
        lambda x, w, c: jnp.sum(jaxconv.channel_contributions(x, w, **_plain(c)), axis=1)[None],
        False,
    ),
}


def _plain(case):
    return dict(stride=case.stride, padding=case.padding, dilation=case.dilation)


def _lesson_kwargs(case):
    return dict(_plain(case), precision=lax.Precision.HIGHEST)


@settings(max_examples=8)
@given(
    case=S.cases(batch=True, unbatched=False, max_channels=2, max_groups=1),
    which=st.sampled_from(sorted(SYMBOLIC)),
    name=st.sampled_from(sorted(FUNCTIONS)),
)
def test_public_functions_export_with_symbolic_shapes(case, which, name):
    fn, batched = FUNCTIONS[name]
    x, w = (jnp.asarray(np.asarray(a, np.float32)) for a in case.arrays())  # host cast
    if not batched:  # the lesson's functions take one image
        x = x[0]
        which = "spatial"
        want = lax_conv2d(x[None], w, case)
        want = want[:, :1] if name in ("corr2d", "corr2d_multi_in") else want
        want = lax_conv2d(x[None, :1], w[:1, :1], case) if name == "corr2d" else want
    else:
        want = lax_conv2d(x, w, case)
    call = _exported(lambda x, w: fn(x, w, case), (x, w), which, batched, case)
    assert_close(call(x, w), want, RTOL["float32"])


def test_one_by_one_and_shape_functions_take_symbolic_sizes():
    b, h = export.symbolic_shape("b, h")
    assert jaxconv.output_shape((b, 3, h, h), (4, 3, 3, 3), padding="same") == (b, 4, h, h)
    assert jaxconv.choose_plan((b, 3, h, h), (4, 3, 3, 3), platform="cpu") == ("xla",) * 3
    x = np.random.default_rng(0).standard_normal((3, 5, 4)).astype(np.float32)
    k = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    call = export.export(jax.jit(jaxconv.corr2d_multi_in_out_1x1))(
        jax.ShapeDtypeStruct(export.symbolic_shape("3, h, w"), jnp.float32),
        jax.ShapeDtypeStruct(k.shape, jnp.float32),
    ).call
    assert_close(call(x, k), np.einsum("oc,chw->ohw", k, x), RTOL["float32"])


@pytest.mark.parametrize("impl", ["auto", "gemm"])
def test_symbolic_plan_does_not_depend_on_unknown_sizes(impl):
    """A 3x3 layer whose concrete plan uses gemm for the weight gradient exports with
    a symbolic batch (the issue's reproducer), and auto keeps only size-free rules."""
    spec = jax.ShapeDtypeStruct(export.symbolic_shape("b, 64, 56, 56"), jnp.float32)
    w = jax.ShapeDtypeStruct((64, 64, 3, 3), jnp.float32)
    g = jax.grad(lambda x, w: jnp.sum(jaxconv.conv2d(x, w, padding=1, impl=impl) ** 2), (0, 1))
    out = export.export(jax.jit(g))(spec, w).out_avals
    assert [a.shape[1:] for a in out] == [(64, 56, 56), (64, 3, 3)]
    hw = export.symbolic_shape("h, w")
    plan = jaxconv.choose_plan((8, 16, *hw), (16, 16, 3, 3), padding=1, platform="cpu")
    assert plan == ("xla", "xla", "xla")
    dw = jaxconv.choose_plan((8, 16, *hw), (16, 1, 3, 3), groups=16, platform="cpu")
    assert dw == ("matmul",) * 3  # depthwise does not depend on sizes


def test_a_symbolic_batch_keeps_the_rules_that_do_not_count_images(monkeypatch):
    """Exported with a symbolic batch, a layer keeps the rules that do not depend on the
    number of images (an unpadded forward pass on Eigen); the rules that count rows (a
    padded layer steered to Eigen, the image blocks, the row thresholds) give way to
    ``"xla"``, and the weight gradient to the rule that needs no count (``"gemm"``)."""
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: True)
    b = export.symbolic_shape("b")[0]
    for x_shape, w_shape, padding, plan in [
        ((64, 32, 32), (64, 64, 3, 3), 1, ("xla", "xla", "gemm")),  # static: eigen x 3
        ((64, 34, 34), (64, 64, 3, 3), 0, ("eigen", "xla", "gemm")),  # static: eigen x 3
        ((96, 16, 16), (96, 96, 3, 3), 1, ("xla", "xla", "xla")),  # static: matmul dw
    ]:
        symbolic = jaxconv.choose_plan((b, *x_shape), w_shape, padding=padding, platform="cpu")
        static = jaxconv.choose_plan((32, *x_shape), w_shape, padding=padding, platform="cpu")
        assert symbolic == plan and static != plan
