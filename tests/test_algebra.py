"""Algebraic properties any correct convolution has."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxconv
from jaxconv.testing import strategies as S
from tests.helpers import RTOL, assert_close, conv_kwargs

TOL = RTOL["float64"]


def _conv(case, **extra):
    return lambda x, w: jaxconv.conv2d(x, w, **conv_kwargs(case), **extra)


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _host(f):
    """``f`` returning a NumPy array; the tests' own arithmetic runs on the host, where it
    compiles nothing (an eager device operation compiles a program for each drawn shape)."""
    return lambda *args: np.asarray(f(*args))


@given(S.cases(), st.floats(-3, 3), st.floats(-3, 3))
def test_linear_in_input_and_kernel(case, a, b):
    f = _host(_conv(case))
    x, w = (np.asarray(v) for v in case.arrays())
    x2, w2 = _rand(x.shape, case.seed + 1), _rand(w.shape, case.seed + 2)
    assert_close(f(a * x + b * x2, w), a * f(x, w) + b * f(x2, w), TOL)
    assert_close(f(x, a * w + b * w2), a * f(x, w) + b * f(x, w2), TOL)


@given(S.cases())
def test_adjoint_identity(case):
    """<A x, y> = <x, A^T y> with A^T from jax.vjp, for the input and for the kernel."""
    f = _conv(case)
    x, w = case.arrays()
    y = _rand(jax.eval_shape(f, x, w).shape, case.seed + 3)

    def value_and_vjp(x, w, y):
        out, vjp = jax.vjp(f, x, w)
        return out, *vjp(y)

    out, gx, gw = (np.asarray(a) for a in jax.jit(value_and_vjp)(x, w, y))
    lhs = float(np.vdot(out, y))
    scale = max(abs(lhs), 1.0)
    assert abs(lhs - float(np.vdot(x, gx))) <= 1e-9 * scale
    assert abs(lhs - float(np.vdot(w, gw))) <= 1e-9 * scale


@given(S.cases(max_stride=1, same=False), st.integers(-4, 4), st.integers(-4, 4))
def test_translation_equivariance_with_circular_padding(case, dy, dx):
    """With circular 'same' padding and stride 1, shifting the input shifts the output."""
    x, w = case.arrays()
    f = lambda x: jaxconv.conv2d(
        x, w, padding="same", dilation=case.dilation, groups=case.groups, padding_mode="circular"
    )
    shift = lambda a: jnp.roll(a, (dy, dx), axis=(-2, -1))
    assert_close(f(shift(x)), shift(f(x)), TOL)


@settings(max_examples=10)
@given(S.cases())
def test_jit_equals_eager(case):
    x, w = case.arrays()
    f = _conv(case)
    assert_close(jax.jit(f)(x, w), f(x, w), 1e-14)


@settings(max_examples=10)
@given(
    S.cases(batch=False, max_channels=2, max_kernel=3),
    st.integers(0, 3),
    st.integers(0, 4),
    st.sampled_from(["input", "weight", "both"]),
)
def test_vmap_over_any_axis_equals_a_loop(case, x_axis, w_axis, which):
    f = _conv(case)
    x, w = (np.asarray(v) for v in case.arrays())
    b = 3
    xs = np.stack([x * (i + 1) for i in range(b)], axis=x_axis)
    ws = np.stack([w - i for i in range(b)], axis=w_axis)
    in_axes = {"input": (x_axis, None), "weight": (None, w_axis), "both": (x_axis, w_axis)}[which]
    args = (xs if in_axes[0] is not None else x, ws if in_axes[1] is not None else w)
    got = jax.vmap(f, in_axes)(*args)
    take = lambda a, axis, i: a if axis is None else np.take(a, i, axis=axis)
    loop = np.stack(
        [f(take(args[0], in_axes[0], i), take(args[1], in_axes[1], i)) for i in range(b)]
    )
    assert_close(got, loop, TOL)
