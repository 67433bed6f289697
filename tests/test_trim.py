"""Kernel taps that only meet padding are dropped before planning (``jaxconv/_trim.py``)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxconv
from jaxconv import _trim
from jaxconv._checks import ConvParams, conv_params
from tests.helpers import assert_close

F32 = 2e-5  # float32 against lax's at HIGHEST precision: different kernels, different sums


def _meets(n, m, s, d, lo, t) -> bool:
    """Whether tap ``t`` reads an input pixel for some output pixel (brute force)."""
    return any(0 <= i * s + t * d - lo < n for i in range(m))


def test_spans_drop_exactly_taps_that_meet_no_pixel_and_keep_the_output():
    """Every axis of up to 6 pixels, 5 taps, stride and dilation 3, padding 6 a side:
    a dropped tap meets no pixel, unstrided the first and last kept ones meet one (or the
    padding could not shrink by more), the padding stays non-negative and the output size and
    position are unchanged."""
    checked = 0
    for n, k, s, d, lo, hi in itertools.product(
        range(1, 7), range(1, 6), range(1, 4), range(1, 4), range(7), range(7)
    ):
        span = (k - 1) * d + 1
        if n + lo + hi < span:
            continue
        m = (n + lo + hi - span) // s + 1
        params = ConvParams((s, 1), ((lo, hi), (0, 0)), (d, 1))
        ((first, stop), _) = _trim.spans((n, 1), (k, 1), params)
        (k2, _), trimmed = _trim.trimmed((n, 1), (k, 1), params)
        (lo2, hi2), _ = trimmed.padding
        met = [t for t in range(k) if _meets(n, m, s, d, lo, t)]
        assert all(first <= t < stop for t in met), (n, k, s, d, lo, hi, first, stop)
        if s == 1 and met:  # (strided, a tap may straddle the image between its pixels)
            assert first == met[0] or lo - (first + 1) * d < 0, (n, k, s, d, lo, hi, first)
            assert stop - 1 == met[-1] or hi - (k - stop + 1) * d < 0, (n, k, s, d, lo, hi, stop)
        elif s == 1:
            assert (first, stop) == (0, k)  # nothing meets the image: left as it is
        assert k2 == stop - first and lo2 >= 0 and hi2 >= 0
        assert trimmed.output_size((n, 1), (k2, 1))[0] == m
        assert lo2 == lo - first * d  # the first output pixel reads from where it did
        assert trimmed.dilation[0] == (d if k2 > 1 else 1)
        checked += 1
    assert checked > 10_000


@pytest.mark.parametrize(
    "x_shape,w_shape,kw,kernel",
    [
        ((4, 8, 2, 2), (6, 8, 7, 7), dict(padding=3), (3, 3)),  # "same" 7x7 on 2x2
        ((2, 4, 9, 9), (3, 4, 3, 3), dict(padding=12, dilation=12), (1, 1)),  # an atrous rate
        ((2, 4, 5, 5), (3, 4, 5, 5), dict(padding=4, stride=2), (5, 5)),  # every tap meets
        ((2, 4, 2, 3), (4, 2, 5, 3), dict(padding=((2, 2), (1, 1)), groups=2), (3, 3)),
        ((2, 4, 3, 3), (3, 4, 7, 7), dict(padding=((5, 1), (3, 3))), (4, 5)),  # lopsided
        ((3, 4, 1, 6), (5, 4, 3, 3), dict(padding=1), (1, 3)),  # a one-pixel-high image
    ],
)
@pytest.mark.parametrize("impl", ["auto", "xla", "matmul", "gemm"])
def test_a_trimmed_call_equals_lax_in_values_and_gradients(x_shape, w_shape, kw, kernel, impl):
    """The call with the taps off the image dropped equals lax's untrimmed convolution,
    forward and both gradients (a dropped tap's weight gradient is zero), on every
    lowering; ``kernel`` is the size it runs at."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(x_shape), jnp.float32)
    w = jnp.asarray(rng.standard_normal(w_shape), jnp.float32)
    ours = lambda x, w: jaxconv.conv2d(x, w, impl=impl, **kw)  # noqa: E731
    pads = kw["padding"]
    pads = ((pads, pads), (pads, pads)) if isinstance(pads, int) else pads
    theirs = lambda x, w: lax.conv_general_dilated(  # noqa: E731
        x,
        w,
        (kw.get("stride", 1),) * 2,
        pads,
        rhs_dilation=(kw.get("dilation", 1),) * 2,
        feature_group_count=kw.get("groups", 1),
        precision=lax.Precision.HIGHEST,
    )
    assert_close(ours(x, w), theirs(x, w), F32)
    loss = lambda f: jax.grad(lambda x, w: 0.5 * jnp.sum(f(x, w) ** 2), (0, 1))  # noqa: E731
    for mine, ref in zip(loss(ours)(x, w), loss(theirs)(x, w)):
        assert_close(mine, ref, F32)
    params = conv_params(
        "t",
        x_shape[2:],
        w_shape[2:],
        stride=kw.get("stride", 1),
        padding=kw["padding"],
        dilation=kw.get("dilation", 1),
    )
    trimmed, _ = _trim.trim(x_shape, w, params)
    assert trimmed.shape[2:] == kernel


def test_the_plan_is_chosen_for_the_trimmed_call():
    """``choose_plan`` plans the call as it runs: a 3x3 kernel of dilation 36 on a 33x33
    map is a 1x1 layer (its plan ``"gemm"`` on a CPU), a 7x7 "same" kernel on 2x2 images
    a 3x3 one."""
    one = jaxconv.choose_plan(
        (8, 256, 33, 33), (256, 256, 3, 3), padding=36, dilation=36, platform="cpu"
    )
    assert one == jaxconv.choose_plan((8, 256, 33, 33), (256, 256, 1, 1), platform="cpu")
    seven = jaxconv.choose_plan((64, 128, 2, 2), (48, 128, 7, 7), padding=3, platform="cpu")
    assert seven == jaxconv.choose_plan((64, 128, 2, 2), (48, 128, 3, 3), padding=1, platform="cpu")
