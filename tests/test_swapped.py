"""The weight gradient with its roles swapped (``jaxconv/lowering/_xla.py``,
``swapped_term``): the output gradient as the image, the input as the window, so that
XLA's CPU convolution writes it output channel by output channel."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings

import jaxconv
from jaxconv._checks import ConvParams
from jaxconv.cli.bench._timing import equations
from jaxconv.lowering import _xla
from jaxconv.testing import strategies as S
from tests.helpers import ON_GPU, RTOL, assert_close, conv_kwargs, fresh_traces, lax_conv2d

UNSTRIDED = dict(max_groups=1, max_channels=3, max_kernel=4, max_stride=1, max_dilation=1)


def _derivatives(f, x, w, ct):
    """The input and weight gradients of ``<ct, f(x, w)>`` and ``f``'s forward-mode
    derivative along ``(x, w)``."""
    grads = jax.grad(lambda x, w: jnp.vdot(ct, f(x, w)), (0, 1))(x, w)
    return (*grads, jax.jvp(f, (x, w), (x, -w))[1])


@pytest.mark.skipif(ON_GPU, reason="a CPU form: swaps_roles is False elsewhere (tested below)")
@settings(max_examples=40)
@given(S.cases(**UNSTRIDED, max_pad=3))
def test_the_swapped_weight_gradient_is_laxs(case):
    """Taken on every layer (``SWAP_MIN_CHANNELS`` 1), the swapped weight gradient, and
    the forward-mode derivative through the same term, equal lax's in float32, at every
    padding it is taken for (asymmetric, beyond half the kernel, none)."""
    x, w = case.arrays(np.float32)
    used = []
    swapped_term = _xla.swapped_term

    def spy(*args):
        used.append(True)
        return swapped_term(*args)

    with pytest.MonkeyPatch.context() as patch:
        fresh_traces()  # (a trace of these shapes made before would not swap)
        patch.setattr(_xla, "SWAP_MIN_CHANNELS", 1)
        patch.setattr(_xla, "swapped_term", spy)
        ours = functools.partial(jaxconv.conv2d, **conv_kwargs(case), impl="xla")
        ct = np.random.default_rng(case.seed + 1).standard_normal(jax.eval_shape(ours, x, w).shape)
        got = jax.jit(functools.partial(_derivatives, ours))(x, w, jnp.asarray(ct, jnp.float32))
    fresh_traces()  # no swapped trace left to later tests
    assume(used)
    x64, w64 = (a.astype(jnp.float64) for a in (x, w))
    want = _derivatives(lambda x, w: lax_conv2d(x, w, case), x64, w64, jnp.asarray(ct))
    for a, b in zip(got, want):
        assert_close(a, b, RTOL["float32"])


P = functools.partial(ConvParams, stride=(1, 1), dilation=(1, 1))
PAD1 = ((1, 1), (1, 1))


@pytest.mark.parametrize(
    "x_shape, w_shape, params, groups, dtype, swaps",
    [
        # ResNet-18's 512- and 256-channel layers on CIFAR-size images
        ((32, 512, 4, 4), (512, 512, 3, 3), P(padding=PAD1), 1, "float32", True),
        ((32, 256, 8, 8), (256, 256, 3, 3), P(padding=PAD1), 1, "float32", True),
        ((32, 256, 8, 8), (512, 256, 3, 3), P(padding=PAD1), 1, "float32", True),
        ((32, 512, 2, 2), (512, 512, 3, 3), P(padding=PAD1), 1, "float32", True),
        ((32, 256, 8, 8), (256, 256, 3, 3), P(padding=((0, 2), (2, 0))), 1, "float32", True),
        # narrower (128 channels: 0.99x, 64: 1.03x, measured), strided (46-71x slower),
        # dilated, grouped, half precision: XLA's own arrangement
        ((32, 128, 16, 16), (128, 128, 3, 3), P(padding=PAD1), 1, "float32", False),
        ((32, 256, 8, 8), (128, 256, 3, 3), P(padding=PAD1), 1, "float32", False),
        ((32, 256, 8, 8), (512, 256, 3, 3), P(padding=PAD1, stride=(2, 2)), 1, "float32", False),
        ((32, 256, 8, 8), (256, 256, 3, 3), P(padding=PAD1, dilation=(1, 2)), 1, "float32", False),
        ((32, 512, 8, 8), (512, 256, 3, 3), P(padding=PAD1), 2, "float32", False),
        ((32, 256, 8, 8), (256, 256, 3, 3), P(padding=PAD1), 1, "bfloat16", False),
        # a negative padding in a swapped convolution: a kernel longer than the padded
        # input
        ((32, 256, 3, 3), (256, 256, 5, 5), P(padding=PAD1), 1, "float32", False),
        ((32, 256, 2, 2), (256, 256, 3, 3), P(padding=((2, 0), (1, 1))), 1, "float32", False),
        # ... or padded by the kernel or more (XLA read garbage in one such call)
        ((32, 256, 8, 8), (256, 256, 3, 3), P(padding=((0, 0), (3, 2))), 1, "float32", False),
        ((32, 256, 8, 8), (256, 256, 3, 3), P(padding=((2, 2), (1, 1))), 1, "float32", True),
        # ... or by less than the kernel's length less one along an axis (unpadded: an
        # output shorter than the input), where XLA ran the swapped form 50-100x slower
        ((8, 512, 7, 7), (512, 512, 3, 3), P(padding=((0, 0), (0, 0))), 1, "float32", False),
        ((32, 256, 8, 8), (256, 256, 3, 3), P(padding=((1, 1), (0, 0))), 1, "float32", False),
        ((2, 256, 18, 18), (256, 256, 3, 3), P(padding=((0, 1), (1, 1))), 1, "float32", False),
        ((2, 256, 18, 18), (256, 256, 5, 5), P(padding=((1, 1), (1, 1))), 1, "float32", False),
        ((2, 256, 18, 18), (256, 256, 5, 5), P(padding=((2, 2), (2, 2))), 1, "float32", True),
    ],
)
def test_the_weight_gradient_swaps_roles_where_measured(
    x_shape, w_shape, params, groups, dtype, swaps
):
    """Wide unstrided float32 layers on a CPU (on other platforms none)."""
    got = _xla.swaps_roles(x_shape, w_shape, params, groups, dtype)
    assert got == (swaps and jax.default_backend() == "cpu")


def test_resnets_wide_layers_take_it_through_auto():
    """``impl="auto"`` keeps XLA's weight gradient on ResNet-18's 512-channel layer on a
    CPU, and that gradient is the swapped convolution: the weight's reversal is in it."""
    x = jax.ShapeDtypeStruct((32, 512, 4, 4), jnp.float32)
    w = jax.ShapeDtypeStruct((512, 512, 3, 3), jnp.float32)
    assert jaxconv.choose_plan(x.shape, w.shape, padding=1, platform="cpu").weight_grad == "xla"
    conv = functools.partial(jaxconv.conv2d, padding=1)
    weight_grad = lambda x, w: jax.grad(lambda w: jnp.sum(conv(x, w)))(w)  # noqa: E731
    prims = {e.primitive.name for e in equations(jax.make_jaxpr(weight_grad)(x, w))}
    assert ("rev" in prims) == (jax.default_backend() == "cpu")
