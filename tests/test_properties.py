"""Drawn cases: jaxconv equals lax.conv_general_dilated, and its lowerings agree."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax import lax

import jaxconv
from jaxconv._bilinear import bilinear
from jaxconv._checks import ConvParams
from jaxconv.lowering import _xla
from jaxconv.testing import strategies as S
from tests.helpers import (
    ON_GPU,
    RTOL,
    assert_close,
    conv_kwargs,
    count_convolutions,
    hlo_ops,
    lax_conv2d,
    lowered_ops,
)

HIGHEST = lax.Precision.HIGHEST


@given(S.cases(), st.sampled_from(["float64", "float32", "complex128"]), st.booleans())
def test_conv2d_equals_lax(case, dtype, with_bias):
    x, w, *b = case.arrays(np.dtype(dtype), bias=with_bias)
    y = jaxconv.conv2d(x, w, *b, **conv_kwargs(case), precision=HIGHEST)
    ref = lax_conv2d(x, w, case)
    if b:
        ref = ref + b[0].reshape((-1, 1, 1) if x.ndim == 3 else (1, -1, 1, 1))
    assert y.dtype == x.dtype
    assert_close(y, ref, RTOL[dtype])


@given(S.cases(batch=False, max_groups=1))
def test_corr2d_family_equals_lax(case):
    X, K = (np.asarray(a) for a in case.arrays())  # host slices: no program per shape
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation)
    ref = np.asarray(lax_conv2d(X, K, case))
    assert_close(jaxconv.corr2d_multi_in_out(X, K, **kw), ref, RTOL["float64"])
    assert_close(jaxconv.corr2d_multi_in(X, K[0], **kw), ref[0], RTOL["float64"])
    single = np.asarray(lax_conv2d(X[:1], K[:1, :1], case))[0]
    assert_close(jaxconv.corr2d(X[0], K[0, 0], **kw), single, RTOL["float64"])


@given(S.cases(max_channels=2, max_kernel=3))
def test_default_precision_float32_against_float64(case):
    """The tolerance table's TF32 row: default precision, checked against float64."""
    x64, w64 = case.arrays()
    y = jaxconv.conv2d(x64.astype(jnp.float32), w64.astype(jnp.float32), **conv_kwargs(case))
    assert_close(y, lax_conv2d(x64, w64, case), RTOL["float32-default"])


@given(S.cases(max_channels=2))
def test_custom_batching_equals_literal_vmap(case):
    x, w = case.arrays()
    fast = jaxconv.conv2d(x, w, **conv_kwargs(case))
    literal = jaxconv.conv2d(x, w, **conv_kwargs(case), impl="reference")
    assert_close(fast, literal, RTOL["float64"])


@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(1, 7),
    st.integers(1, 7),
    st.integers(0, 2**32 - 1),
)
def test_one_by_one_identity(ci, co, h, w, seed):
    rng = np.random.default_rng(seed)
    X = jnp.asarray(rng.standard_normal((ci, h, w)))
    K = jnp.asarray(rng.standard_normal((co, ci, 1, 1)))
    y = jaxconv.corr2d_multi_in_out_1x1(X, K)
    assert y.shape == (co, h, w)
    assert_close(y, jaxconv.corr2d_multi_in_out(X, K), RTOL["float64"])
    # the (co, ci) and (co, ci, 1, 1) forms compile to different programs: bitwise equal
    # on a CPU; on a GPU the library's matmul algorithm may differ by shape (an H200 gave
    # a 2.2e-16 difference), so there float64 rounding
    assert_close(
        jaxconv.corr2d_multi_in_out_1x1(X, K[:, :, 0, 0]), y, RTOL["float64"] if ON_GPU else 0.0
    )
    assert_close(y, jnp.einsum("oc,chw->ohw", K[:, :, 0, 0], X), RTOL["float64"])


@pytest.mark.parametrize("groups", [1, 4])
def test_vmap_structure_lowers_to_one_convolution(groups):
    """The custom batching rule removes the depthwise-plus-reduce lowering entirely.
    float32: in float64 on a CPU the literal lowering sums taps (see ``corr2d_impl``)."""
    x = jnp.ones((2, 8, 9, 9), jnp.float32)
    w = jnp.ones((8, 8 // groups, 3, 3), jnp.float32)
    fast = lowered_ops(lambda x, w: jaxconv.conv2d(x, w, groups=groups, impl="xla"), x, w)
    assert fast.count("convolution") == 1
    assert "reduce" not in fast
    literal = lowered_ops(lambda x, w: jaxconv.conv2d(x, w, groups=groups, impl="reference"), x, w)
    assert literal.count("convolution") == 1 and "reduce" in literal  # depthwise, then a sum


@pytest.mark.parametrize("groups", [1, 4])
def test_vmap_structure_compiles_like_lax(groups):
    """float32 (float64 on a CPU is grouped through the batch, ``lowering/_xla.py``)."""
    x = jnp.ones((2, 8, 9, 9), jnp.float32)
    w = jnp.ones((8, 8 // groups, 3, 3), jnp.float32)
    fast = hlo_ops(lambda x, w: jaxconv.conv2d(x, w, groups=groups, impl="xla"), x, w)
    ref = hlo_ops(
        lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "VALID", feature_group_count=groups),
        x,
        w,
    )
    assert fast.count("convolution") == 1
    assert sorted(fast) == sorted(ref)


def test_stack_over_kernels_is_one_dense_convolution():
    X = jnp.ones((5, 7, 7))
    K = jnp.ones((6, 5, 3, 3))
    stack = functools.partial(jaxconv.corr2d_multi_in_out, impl="xla")
    assert count_convolutions(stack, X, K) == 1
    # and the same stack, under vmap over images, keeps one convolution
    assert count_convolutions(jax.vmap(stack, (0, None)), X[None], K) == 1


def test_grad_of_vmap_structure_compiles_like_lax():
    """In float32, as a user runs it (the literal sums taps in float64 on a CPU): the
    program of lax's convolution differentiated with the ``"xla"`` lowering's own terms,
    whose forward pass and weight-gradient term read the input through one fence on a
    CPU (``lowering/_fence.py``); elsewhere the fence is nothing, and lax's gradient is
    it."""
    x = jnp.ones((2, 4, 9, 9), jnp.float32)
    w = jnp.ones((6, 4, 3, 3), jnp.float32)
    params = ConvParams((1, 1), ((1, 1), (1, 1)), (1, 1))
    loss = lambda f: jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), (0, 1))
    ours = hlo_ops(loss(lambda x, w: jaxconv.conv2d(x, w, padding=1, impl="xla")), x, w)
    conv = functools.partial(_xla.lax_conv, params=params)
    read = functools.partial(_xla.weight_input, params=params)
    terms = bilinear(conv, conv, functools.partial(_xla.read_weight_term, params=params), read)
    theirs = hlo_ops(loss(terms), x, w)
    plain = hlo_ops(loss(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), ((1, 1),) * 2)), x, w)
    assert ours.count("convolution") == theirs.count("convolution") == 3
    assert sorted(ours) == sorted(theirs)
    assert (sorted(theirs) == sorted(plain)) == (jax.default_backend() != "cpu")
