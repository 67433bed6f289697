"""Every autodiff path, at order 2, in forward and reverse mode, nested with vmap/jit."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from jax import lax
from jax.test_util import check_grads

import jaxconv
from jaxconv.testing import strategies as S
from tests.helpers import RTOL, assert_close, conv_kwargs, lax_conv2d

check2 = functools.partial(check_grads, order=2, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)
# "matmul" and "gemm" get the same order-2 checks, with stride, dilation and groups, in
# tests/test_plans.py; "auto" exercises them here through the default path.
IMPLS = ("auto", "xla", "reference")
SMALL = dict(max_groups=2, max_channels=2, max_kernel=3, max_stride=2, max_dilation=2, max_pad=2)


def _arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.standard_normal(s)) for s in shapes]


def test_check_grads_functions_without_an_impl():
    """The one-channel correlation, the 1x1 matmul and a vmap over pairs of images and
    kernels (a grouped convolution) in the default impl."""
    x, k = _arrays((5, 6), (2, 3))
    check2(lambda x, k: jaxconv.corr2d(x, k, padding=1, stride=(1, 2)), (x, k))
    X, K4 = _arrays((3, 5, 6), (4, 3, 2, 3))
    check2(lambda X, K: jaxconv.corr2d_multi_in_out_1x1(X, K), (X, K4[:, :, :1, :1]))
    X, K = _arrays((2, 4, 6, 5), (6, 2, 3, 3))
    paired = jax.vmap(jaxconv.corr2d_multi_in)  # both batched: a grouped convolution
    check2(paired, (X[:, :2], K[:2]))


@pytest.mark.parametrize("impl", IMPLS)
def test_check_grads_unbatched_functions(impl):
    X, K = _arrays((3, 5, 6), (3, 2, 3))
    check2(lambda X, K: jaxconv.corr2d_multi_in(X, K, padding="same", impl=impl), (X, K))
    K4 = _arrays((4, 3, 2, 3))[0]
    check2(lambda X, K: jaxconv.corr2d_multi_in_out(X, K, dilation=2, impl=impl), (X, K4))


@pytest.mark.parametrize("impl", IMPLS)
def test_check_grads_vmapped_functions(impl):
    X, K, b = _arrays((2, 4, 6, 5), (6, 2, 3, 3), (6,))
    check2(lambda X, K, b: jaxconv.conv2d(X, K, b, padding=1, groups=2, impl=impl), (X, K, b))
    per_image = jax.vmap(functools.partial(jaxconv.corr2d_multi_in, impl=impl), (0, None))
    check2(per_image, (X, K[0, :, :, :].repeat(2, 0)))


@settings(max_examples=10)
@given(S.cases(**SMALL))
def test_gradients_equal_lax(case):
    x, w = case.arrays()
    ours = lambda x, w: jaxconv.conv2d(x, w, **conv_kwargs(case))
    theirs = lambda x, w: lax_conv2d(x, w, case)
    shape = jax.eval_shape(theirs, x, w).shape
    ct = np.random.default_rng(case.seed + 1).standard_normal(shape)
    tangents = (ct.sum() * np.asarray(x), -np.asarray(w))

    @functools.partial(jax.jit, static_argnums=0)  # one program per function, not per op
    def derivatives(f, x, w):
        grads = jax.grad(lambda x, w: jnp.vdot(ct, f(x, w)), (0, 1))(x, w)
        return (*grads, jax.jvp(f, (x, w), tangents)[1])

    for a, b in zip(derivatives(ours, x, w), derivatives(theirs, x, w)):
        assert_close(a, b, RTOL["float64"])


def _loss_pair():
    X, K = _arrays((2, 3, 5, 5), (2, 3, 2, 2), seed=3)

    def ours(X, K):
        return jnp.sum(jnp.sin(jaxconv.conv2d(X, K, padding=1)))

    def theirs(X, K):
        lhs = X if X.ndim == 4 else X[None]
        return jnp.sum(
            jnp.sin(
                lax.conv_general_dilated(
                    lhs, K, (1, 1), ((1, 1), (1, 1)), precision=lax.Precision.HIGHEST
                )
            )
        )

    return ours, theirs, X, K


@pytest.mark.parametrize(
    "transform",
    [
        lambda f: jax.grad(f, (0, 1)),
        lambda f: jax.jacfwd(f, (0, 1)),
        lambda f: jax.jacrev(f, (0, 1)),
        lambda f: jax.hessian(f, 1),
        lambda f: jax.jacrev(jax.jacfwd(f, 1), 0),
        lambda f: jax.grad(lambda X, K: jnp.sum(jax.grad(f, 1)(X, K) ** 2), (0, 1)),
        lambda f: jax.jit(jax.vmap(jax.grad(f, 1), (0, None))),
        lambda f: jax.grad(lambda X, K: jnp.sum(jax.vmap(f, (None, 0))(X, K[None].repeat(2, 0)))),
    ],
    ids=[
        "grad",
        "jacfwd",
        "jacrev",
        "hessian",
        "jacrev-jacfwd",
        "grad-grad",
        "vmap-grad",
        "grad-vmap",
    ],
)
def test_transform_nesting_equals_lax(transform):
    ours, theirs, X, K = _loss_pair()
    a, b = (jax.jit(transform(f))(X, K) for f in (ours, theirs))  # one program each
    jax.tree.map(lambda p, q: assert_close(p, q, RTOL["float64"]), a, b)


def test_hessian_of_the_lesson_function():
    """Second derivatives through the custom-batched multi-input sum, outside any vmap."""
    X, K = _arrays((2, 4, 4), (2, 2, 2), seed=5)
    f = lambda K: jnp.sum(jaxconv.corr2d_multi_in(X, K) ** 2)
    g = lambda K: jnp.sum(jaxconv.corr2d_multi_in(X, K, impl="reference") ** 2)
    assert_close(jax.hessian(f)(K), jax.hessian(g)(K), RTOL["float64"])


LINEAR = {  # each public function as a function of (X, K) on one image
    "corr2d": lambda X, K, **kw: jaxconv.corr2d(X[0], K[0, 0], **kw),
    "corr2d_multi_in": lambda X, K, **kw: jaxconv.corr2d_multi_in(X, K[0], **kw),
    "corr2d_multi_in_out": jaxconv.corr2d_multi_in_out,
    "conv2d": jaxconv.conv2d,
}


@pytest.mark.parametrize(
    "name,impl",
    [(name, impl) for name in sorted(LINEAR) for impl in jaxconv.impls()
     if name != "corr2d" or impl == "auto"],  # corr2d (one channel) takes no impl
)  # fmt: skip
def test_linear_transpose_equals_the_vjp(name, impl):
    """A convolution is linear in each operand: jax.linear_transpose works with respect
    to X and K, directly and under vmap, and equals the VJP."""
    rng = np.random.default_rng(0)
    X, K = (
        jnp.asarray(rng.standard_normal((3, 6, 5))),
        jnp.asarray(rng.standard_normal((2, 3, 2, 3))),
    )
    kw = {} if name == "corr2d" else {"impl": impl}
    f = functools.partial(LINEAR[name], padding=1, **kw)
    ct = jnp.asarray(rng.standard_normal(f(X, K).shape))
    for arg, fixed in ((0, K), (1, X)):
        g = (lambda a: f(a, fixed)) if arg == 0 else (lambda a: f(fixed, a))
        point = (X, K)[arg]
        transpose = lambda c: jax.linear_transpose(g, point)(c)[0]

        @jax.jit  # one program, not one per operation
        def transposes(ct):
            batched = jax.vmap(transpose)(jnp.stack([ct, 2 * ct]))
            return transpose(ct), jax.vjp(g, point)[1](ct)[0], batched

        got, vjp, batched = transposes(ct)
        assert_close(got, vjp, RTOL["float64"])
        assert_close(batched[1], 2 * got, RTOL["float64"])
