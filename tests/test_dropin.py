"""jaxconv.conv_general_dilated is a drop-in for lax's, standalone and inside flax."""

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import given
from hypothesis import strategies as st
from jax import lax

import jaxconv
from jaxconv.testing import strategies as S
from tests.helpers import RTOL, assert_close, count_convolutions

HIGHEST = lax.Precision.HIGHEST


@st.composite
def dropin_calls(draw):
    case = draw(S.cases(unbatched=False))
    x, w = case.arrays()
    lhs_spec = "".join(draw(st.permutations("NCHW")))
    rhs_spec = "".join(draw(st.permutations("OIHW")))
    out_spec = "".join(draw(st.permutations("NCHW")))
    x = jnp.transpose(x, ["NCHW".index(c) for c in lhs_spec])
    w = jnp.transpose(w, ["OIHW".index(c) for c in rhs_spec])
    padding = case.lax_padding
    variant = draw(st.sampled_from(["plain", "same_lower", "negative", "lhs_dilation"]))
    lhs_dilation = None
    if variant == "same_lower":
        padding = "SAME_LOWER"
    elif variant == "negative":  # crops the input: lax allows it, the core does not
        padding = ((-1, 0), (0, 1)) if min(case.in_size) > 8 else padding
    elif variant == "lhs_dilation":  # a transposed convolution: goes to lax
        lhs_dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    kwargs = dict(
        window_strides=case.stride,
        padding=padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=case.dilation,
        dimension_numbers=(lhs_spec, rhs_spec, out_spec),
        feature_group_count=case.groups,
        precision=HIGHEST,
    )
    return x, w, kwargs


@given(dropin_calls())
def test_dropin_equals_lax(call):
    x, w, kwargs = call
    try:
        expected = lax.conv_general_dilated(x, w, **kwargs)
    except (TypeError, ValueError) as err:  # e.g. a negative output size: lax refuses,
        with pytest.raises(type(err)):  # and so must the drop-in
            jaxconv.conv_general_dilated(x, w, **kwargs)
        return
    assert_close(jaxconv.conv_general_dilated(x, w, **kwargs), expected, RTOL["float64"])


def test_dropin_batch_groups_and_3d_go_to_lax():
    rng = np.random.default_rng(0)
    x, w = (
        jnp.asarray(rng.standard_normal((4, 3, 6, 6))),
        jnp.asarray(rng.standard_normal((4, 3, 3, 3))),
    )
    kw = dict(window_strides=(1, 1), padding="VALID", batch_group_count=2, precision=HIGHEST)
    assert_close(
        jaxconv.conv_general_dilated(x, w, **kw),
        lax.conv_general_dilated(x, w, **kw),
        RTOL["float64"],
    )
    x3, w3 = x[..., None], w[..., None]
    kw3 = dict(window_strides=(1, 1, 1), padding="SAME", precision=HIGHEST)
    assert_close(
        jaxconv.conv_general_dilated(x3, w3, **kw3),
        lax.conv_general_dilated(x3, w3, **kw3),
        RTOL["float64"],
    )


def test_nhwc_dropin_is_one_convolution():
    x, w = jnp.ones((2, 9, 9, 4)), jnp.ones((3, 3, 4, 8))
    dn = ("NHWC", "HWIO", "NHWC")
    f = lambda x, w: jaxconv.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=dn, impl="xla"
    )
    assert count_convolutions(f, x, w) == 1


@pytest.mark.parametrize("groups", [1, 2])
def test_flax_linen_conv_with_dropin_equals_default(groups):
    kw = dict(
        features=6,
        kernel_size=(3, 3),
        strides=(2, 1),
        padding="SAME",
        kernel_dilation=(1, 2),
        feature_group_count=groups,
        precision=HIGHEST,
        param_dtype=jnp.float64,
    )
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 9, 8, 4)))
    default = linen.Conv(**kw)
    ours = linen.Conv(**kw, conv_general_dilated=jaxconv.conv_general_dilated)
    params = default.init(jax.random.key(0), x)
    assert_close(ours.apply(params, x), default.apply(params, x), RTOL["float64"])


def test_flax_nnx_conv_with_dropin_equals_default():
    kw = dict(
        in_features=4,
        out_features=6,
        kernel_size=(3, 3),
        padding=((1, 2), (0, 1)),
        precision=HIGHEST,
        param_dtype=jnp.float64,
    )
    default = nnx.Conv(**kw, rngs=nnx.Rngs(0))
    ours = nnx.Conv(**kw, conv_general_dilated=jaxconv.conv_general_dilated, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(2).standard_normal((3, 7, 7, 4)))
    assert_close(ours(x), default(x), RTOL["float64"])
    grads = [nnx.grad(lambda m: jnp.sum(m(x) ** 2))(m) for m in (ours, default)]
    jax.tree.map(lambda a, b: assert_close(a, b, RTOL["float64"]), *grads)


def test_empty_inputs_go_to_lax():
    """H = 0 with "SAME" (and a zero batch) give lax's empty results, not an error."""
    x = jnp.ones((1, 0, 5, 4))
    w = jnp.ones((3, 3, 4, 6))
    dn = ("NHWC", "HWIO", "NHWC")
    for lhs in (x, jnp.ones((0, 5, 5, 4))):
        ours = jaxconv.conv_general_dilated(lhs, w, (1, 1), "SAME", dimension_numbers=dn)
        theirs = jax.lax.conv_general_dilated(lhs, w, (1, 1), "SAME", dimension_numbers=dn)
        assert ours.shape == theirs.shape and ours.size == 0
