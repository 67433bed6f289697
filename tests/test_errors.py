"""Bad input: a clear ValueError/TypeError at trace time naming function, argument, value."""

import re

import jax
import jax.numpy as jnp
import pytest

import jaxconv

x4 = jnp.ones((2, 3, 8, 8))
w4 = jnp.ones((4, 3, 3, 3))
X3 = jnp.ones((3, 5, 5))
K3 = jnp.ones((3, 2, 2))

C = jaxconv.conv2d
BAD = [
    # (function, args, kwargs, exception, message pattern)
    (C, ("abc", w4), {}, TypeError, "conv2d: `input` must be an array, got str"),
    (C, (None, w4), {}, TypeError, "conv2d: `input` must be an array, got NoneType"),
    (C, ({"a": 1}, w4), {}, TypeError, "conv2d: `input` must be an array or nested sequence"),
    (C, (jnp.ones((8, 8)), w4), {}, ValueError,
     r"conv2d: `input` must have rank 3 or 4 \(\(N, C, H, W\) or \(C, H, W\)\), got shape \(8, 8\)"),
    (C, (x4, jnp.ones((4, 3, 3))), {}, ValueError, "conv2d: `weight` must have rank 4"),
    (C, (x4, jnp.ones((4, 2, 3, 3))), {}, ValueError,
     r"conv2d: `weight` \(4, 2, 3, 3\) expects 2 input channels .* `input` \(2, 3, 8, 8\) has 3"),
    (C, (x4, w4), {"groups": 2}, ValueError,
     re.escape("conv2d: `groups` (=2) must divide the input channels (=3)")),
    (C, (jnp.ones((1, 4, 8, 8)), jnp.ones((3, 2, 3, 3))), {"groups": 2}, ValueError,
     re.escape("conv2d: `groups` (=2) must divide the output channels of `weight` (=3)")),
    (C, (x4, w4), {"groups": 0}, ValueError, re.escape("conv2d: `groups` (=0) must be >= 1")),
    (C, (x4, w4), {"stride": 0}, ValueError, re.escape("conv2d: `stride` (=0) must be >= 1")),
    (C, (x4, w4), {"stride": (1, -2)}, ValueError,
     re.escape("conv2d: `stride[1]` (=-2) must be >= 1")),
    (C, (x4, w4), {"dilation": -1}, ValueError, re.escape("conv2d: `dilation` (=-1) must be >= 1")),
    (C, (x4, w4), {"padding": -1}, ValueError, re.escape("conv2d: `padding` (=-1) must be >= 0")),
    (C, (x4, w4), {"stride": 1.5}, TypeError, "conv2d: `stride` must be an int, got float 1.5"),
    (C, (x4, w4), {"groups": True}, TypeError, "conv2d: `groups` must be an int, got bool True"),
    (C, (x4, w4), {"dilation": (1, 2, 3)}, ValueError,
     re.escape("conv2d: `dilation` (=(1, 2, 3)) must be an int or a pair of ints")),
    (C, (x4, jnp.ones((4, 3, 9, 3))), {}, ValueError,
     re.escape("conv2d: the kernel height (=9, dilated span 9) is larger than the padded input "
               "height (=8 = 8 + 0 + 0)")),
    (C, (x4, w4), {"dilation": 5}, ValueError, "conv2d: the kernel height .*dilated span 11"),
    (C, (x4, w4), {"padding": 8, "padding_mode": "reflect"}, ValueError,
     re.escape("conv2d: reflect padding (8, 8) must be smaller than the input height (=8)")),
    (C, (x4, w4), {"padding": "full"}, ValueError, "conv2d: `padding` \\(='full'\\) must be"),
    (C, (x4, w4), {"padding": ((1, 2), (3,))}, ValueError, "conv2d: `padding` .* must be"),
    (C, (x4, w4), {"padding_mode": "mirror"}, ValueError,
     re.escape("conv2d: `padding_mode` (='mirror') must be one of ('zeros', 'reflect', "
               "'replicate', 'circular')")),
    (C, (x4, w4, jnp.ones(3)), {}, ValueError,
     re.escape("conv2d: `bias` must have shape (4,) to match `weight` (4, 3, 3, 3), got (3,)")),
    (C, (x4.astype(jnp.int32), w4), {}, TypeError,
     "conv2d: `input` has dtype int32; jaxconv computes in floating or complex dtypes"),
    (C, (x4 > 0, w4), {}, TypeError, "conv2d: `input` has dtype bool"),
    (C, (x4, w4.astype(jnp.bfloat16)), {}, TypeError,
     re.escape("conv2d: `input` (dtype float32) and `weight` (dtype bfloat16) must have the "
               "same dtype")),
    (C, (x4, w4, jnp.ones(4, jnp.float16)), {}, TypeError, "conv2d: `input` .* and `bias`"),
    (C, (x4, w4), {"impl": "fast"}, ValueError,
     re.escape("conv2d: `impl` (='fast') must be one of ('auto', 'xla', 'matmul', 'gemm', 'reference')")),
    (jaxconv.corr2d, (jnp.ones((3, 3)), jnp.ones((2, 2, 2))), {}, ValueError,
     re.escape("corr2d: `k` must have rank 2 ((kh, kw)), got shape (2, 2, 2)")),
    (jaxconv.corr2d, (jnp.ones((3, 3)), jnp.ones((0, 2))), {}, ValueError,
     re.escape("corr2d: the kernel's spatial size (=(0, 2)) must be positive")),
    (jaxconv.corr2d_multi_in, (X3, jnp.ones((2, 2, 2))), {}, ValueError,
     re.escape("corr2d_multi_in: `X` has 3 channels but `K` has 2")),
    (jaxconv.corr2d_multi_in, (X3[0], K3), {}, ValueError, "corr2d_multi_in: `X` must have rank 3"),
    (jaxconv.corr2d_multi_in_out, (X3, K3), {}, ValueError,
     re.escape("corr2d_multi_in_out: `K` must have rank 4 ((co, ci, kh, kw)), got shape (3, 2, 2)")),
    (jaxconv.corr2d_multi_in_out, (X3, jnp.ones((2, 4, 1, 1))), {}, ValueError,
     re.escape("corr2d_multi_in_out: `X` has 3 channels but `K` expects 4")),
    (jaxconv.corr2d_multi_in_out_1x1, (X3, jnp.ones((2, 3, 3, 3))), {}, ValueError,
     re.escape("corr2d_multi_in_out_1x1: `K` must be (co, ci, 1, 1) or (co, ci), got kernel size "
               "(3, 3)")),
    (jaxconv.corr2d_multi_in_out_1x1, (X3, jnp.ones((2, 4))), {}, ValueError,
     re.escape("corr2d_multi_in_out_1x1: `X` has 3 channels but `K` expects 4")),
    (jaxconv.conv_general_dilated, (x4, jnp.ones((4, 2, 3, 3)), (1, 1), "SAME"), {}, ValueError,
     r"conv_general_dilated: `rhs` .* expects 2 input channels"),
    (jaxconv.conv_general_dilated, ("abc", w4, (1, 1), "SAME"), {}, TypeError,
     "conv_general_dilated: `lhs` must be an array, got str 'abc'"),
    (jaxconv.conv_general_dilated, (x4, None, (1, 1), "SAME"), {}, TypeError,
     "conv_general_dilated: `rhs` must be an array, got NoneType"),
    (jaxconv.conv_general_dilated, (x4, w4, (1, 0), "SAME"), {}, ValueError,
     re.escape("conv_general_dilated: `window_strides[1]` (=0) must be >= 1")),
    (jaxconv.conv_general_dilated, (x4, w4, (1, 1), "SAME", None, (2, -1)), {}, ValueError,
     re.escape("conv_general_dilated: `rhs_dilation[1]` (=-1) must be >= 1")),
    (jaxconv.choose_plan, ((8, 3, 9, 9), (4, 3, 3)), {}, ValueError,
     re.escape("choose_plan: `weight_shape` (4, 3, 3) must have 4 entries")),
    (jaxconv.choose_plan, ("abc", (4, 3, 3, 3)), {}, TypeError,
     re.escape("choose_plan: `input_shape` must be a tuple of ints, got str 'abc'")),
    (jaxconv.choose_plan, ((8, 3, 9.7, 9), (4, 3, 3, 3)), {}, TypeError,
     re.escape("choose_plan: `input_shape[2]` must be an int, got float 9.7")),
    (jaxconv.choose_plan, ((8, 3, 9, 9), (4, 3, 3, 3)), {"groups": 3}, ValueError,
     re.escape("choose_plan: `groups` (=3) must divide the output channels of "
               "`weight_shape` (=4)")),
    (jaxconv.choose_plan, ((8, 3, 9, 9), (4, 3, 3, 3)), {"platform": "cuda"}, ValueError,
     re.escape("choose_plan: `platform` (='cuda') must be one of ('cpu', 'gpu', 'tpu')")),
    (jaxconv.choose_plan, ((8, 3, 9, 9), (4, 3, 3, 3)), {"impl": "reference"}, ValueError,
     re.escape("choose_plan: `impl` (='reference') has no plan")),
    (jaxconv.choose_plan, ((8, 3, 9, 9), (4, 3, 3, 3)), {"impl": "fast"}, ValueError,
     re.escape("choose_plan: `impl` (='fast') must be one of")),
    (jaxconv.choose_plan, ((8, 3, 9, 9), (4, 3, 3, 3)), {"dtype": "float33"}, TypeError,
     re.escape("choose_plan: `dtype` (='float33') is not a dtype")),
    (jaxconv.choose_plan, ((8, 3, 2, 2), (4, 3, 3, 3)), {}, ValueError,
     re.escape("choose_plan: the kernel height (=3, dilated span 3) is larger than the padded")),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,pattern", BAD,
                         ids=[f"{b[0].__name__}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_raises_clear_error(fn, args, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fn(*args, **kwargs)


@pytest.mark.parametrize("fn,args,kwargs,exc,pattern", BAD[3:10])
def test_errors_fire_at_trace_time_under_jit(fn, args, kwargs, exc, pattern):
    arrays = [a for a in args if isinstance(a, jax.Array)]
    rest = [a for a in args if not isinstance(a, jax.Array)]
    jitted = jax.jit(lambda *arr: fn(*arr, *rest, **kwargs))
    with pytest.raises(exc, match=pattern):
        jitted.trace(*arrays)
