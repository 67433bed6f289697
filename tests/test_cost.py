"""output_shape, flops and channel_contributions: the lesson's arithmetic and its terms."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given

import jaxconv
from jaxconv.testing import strategies as S
from tests.helpers import RTOL, assert_close, conv_kwargs


@given(S.cases())
def test_output_shape_equals_conv2d_output(case):
    x, w = case.arrays()
    y = jax.eval_shape(lambda x, w: jaxconv.conv2d(x, w, **conv_kwargs(case)), x, w)
    assert jaxconv.output_shape(case.x_shape, case.w_shape, **conv_kwargs(case)) == y.shape


@given(S.cases(batch=False, max_groups=1))
def test_channel_contributions_sum_to_the_multi_in_out_correlation(case):
    X, K = (np.asarray(a) for a in case.arrays())  # host slices: no program per shape
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation)
    terms = np.asarray(jaxconv.channel_contributions(X, K, **kw))
    assert terms.shape[:2] == (case.co, case.ci)
    assert_close(terms.sum(axis=1), jaxconv.corr2d_multi_in_out(X, K, **kw), RTOL["float64"])
    # Each term is corr2d itself, up to rounding: the batched and the single program are
    # compiled differently (bitwise equal only in XLA's float64 CPU convolution loop,
    # which float64 no longer uses for its artefacts, README "Special values"; in
    # float32 they differed in the last bit already).
    assert_close(terms[0, 0], jaxconv.corr2d(X[0], K[0, 0], **kw), RTOL["float64"])


def test_flops_reproduces_the_lesson():
    cost = jaxconv.flops(100, 100, 5, 64)
    assert cost.multiply_adds == 1_024_000_000  # the lesson's "1 GFLOP" counts multiply-adds
    assert cost.flops == 2 * cost.multiply_adds
    assert jaxconv.flops(100, 100, 5, 64, batch=1_000_000).multiply_adds * 10 == 1.024e16
    assert jaxconv.flops(128, 128, 3, 28, groups=128).multiply_adds == 128 * 9 * 28 * 28


@pytest.mark.parametrize(
    "call,exc,message",
    [
        (lambda: jaxconv.flops(-1, 4, 3, 8), ValueError, "flops: `in_channels` (=-1) must be >= 1"),
        (
            lambda: jaxconv.flops(4, 4, 3, 8, groups=3),
            ValueError,
            "flops: `groups` (=3) must divide",
        ),
        (
            lambda: jaxconv.output_shape((3, 8, 8), (4, 2, 3, 3)),
            ValueError,
            "output_shape: `weight_shape` (4, 2, 3, 3) expects 2 input channels (2 per group "
            "(`weight_shape`[1]) x 1 groups) but `input_shape` (3, 8, 8) has 3 (`input_shape`[0])",
        ),
        (
            lambda: jaxconv.output_shape("abc", (4, 3, 3, 3)),
            TypeError,
            "output_shape: `input_shape` must be a tuple of ints, got str",
        ),
        (
            lambda: jaxconv.output_shape((3, 2, 2), (4, 3, 3, 3)),
            ValueError,
            "output_shape: the kernel height (=3, dilated span 3) is larger",
        ),
        (
            lambda: jaxconv.channel_contributions(jnp.ones((3, 5, 5)), jnp.ones((2, 4, 3, 3))),
            ValueError,
            "channel_contributions: `X` has 3 channels but `K` expects 4",
        ),
    ],
)
def test_bad_arguments(call, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        call()
