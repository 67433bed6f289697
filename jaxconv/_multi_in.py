"""Several input channels: the sum over channels of single-channel cross-correlations.

The lesson's statement is one line (``_sum_over_channels``). Written that way and left
to ``jax.vmap``'s generic rules, a stack of such sums over kernels becomes a depthwise
convolution with ``co * ci`` outputs followed by a reduction: 4-10x slower than XLA's
convolution on a CPU, 12-130x on a GPU. So the function carries two rules:

* a batching rule (``jax.custom_batching.custom_vmap``) that says what a *batch* of
  channel sums is: a batch of kernels is one dense convolution with that many output
  channels, a batch of images is a convolution with that many images, and a batch of
  both (as under a vmap over channel groups) is a grouped convolution. The dense
  convolution is computed by the lowering the caller picked (``_dispatch.py``);
* a JVP rule (``jax.custom_jvp``). ``custom_vmap`` cannot be linearised, so the rule
  states that the sum is bilinear, ``d f(X, K) = f(dX, K) + f(X, dK)``, and computes
  the tangents with the equal dense convolution, which XLA can transpose. The primal
  value is ``f`` itself, so higher derivatives reuse the rule at every order.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

from . import _checks
from ._bilinear import bilinear
from ._checks import ConvParams
from ._corr2d import corr2d_impl
from .lowering._plan import forward_lowering, lower
from .lowering._registry import check_impl

MultiIn = Callable[[jax.Array, jax.Array], jax.Array]


def _sum_over_channels(X: jax.Array, K: jax.Array, params: ConvParams) -> jax.Array:
    """The lesson, literally: correlate channel by channel (a vmap), then add up."""
    per_channel = jax.vmap(functools.partial(corr2d_impl, params=params))(X, K)
    return jnp.sum(per_channel, axis=0)


def _dense(X: jax.Array, K: jax.Array, params: ConvParams, lowering: str) -> jax.Array:
    """The same sum as one convolution with ``ci`` inputs and one output channel."""
    return lower(lowering, X[None], K[None], params, gradient=True)[0, 0]


@functools.lru_cache(maxsize=1024)
def multi_in_fn(params: ConvParams, impl: str = "xla") -> MultiIn:
    """``(ci, H, W) x (ci, kh, kw) -> (mh, mw)`` for fixed hyperparameters.

    ``impl`` is ``"reference"`` or the name of a lowering (``_dispatch.LOWERINGS``).
    """
    literal = functools.partial(_sum_over_channels, params=params)
    if impl == "reference":
        return literal

    batched = custom_vmap(literal)

    @batched.def_vmap
    def _batching_rule(axis_size, in_batched, X, K):
        x_batched, k_batched = in_batched
        if x_batched and k_batched:  # pairs (X[b], K[b]): a grouped convolution
            b, ci, h, w = X.shape
            return lower(impl, X.reshape(1, b * ci, h, w), K, params, groups=b)[0], True
        if k_batched:  # a stack over kernels: K is (co, ci, kh, kw), one dense convolution
            return lower(impl, X[None], K, params)[0], True
        if x_batched:  # a batch of images
            return lower(impl, X, K[None], params)[:, 0], True
        return literal(X, K), False

    dense = functools.partial(_dense, params=params, lowering=impl)
    return bilinear(batched, dense, dense)


def corr2d_multi_in(
    X, K, *, stride=1, padding=0, dilation=1, precision=None, preferred_element_type=None,
    impl="auto",
):
    """Multi-input-channel cross-correlation: ``sum_c corr2d(X[c], K[c])``.

    Written as ``jax.vmap(corr2d)`` over the channel axis followed by a sum. Under
    ``jax.vmap`` (over kernels, images or channel groups) it compiles to a single
    convolution, lowered as ``impl`` says; ``impl="reference"`` keeps JAX's generic
    batching instead.

    Args:
      X: input, shape ``(ci, H, W)``.
      K: kernel, shape ``(ci, kh, kw)``, same dtype as ``X``.
      stride, padding, dilation, precision, preferred_element_type: as in :func:`corr2d`.
      impl: one of :data:`jaxconv.IMPLS`, default ``"auto"``.

    Returns:
      ``(mh, mw)``.

    >>> import jax.numpy as jnp
    >>> X = jnp.stack([jnp.arange(9.0).reshape(3, 3), jnp.arange(1.0, 10.0).reshape(3, 3)])
    >>> K = jnp.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    >>> corr2d_multi_in(X, K)
    Array([[ 56.,  72.],
           [104., 120.]], dtype=float32)
    """
    fn = "corr2d_multi_in"
    impl = check_impl(fn, impl)
    X, K = _checks.operands(fn, X, K, ((3,), "(ci, H, W)"), ((3,), "(ci, kh, kw)"))
    _checks.check_channels(fn, X, K, k_axis=0)
    params = _checks.conv_params(
        fn, X.shape[1:], K.shape[1:], stride=stride, padding=padding, dilation=dilation,
        precision=precision, preferred_element_type=preferred_element_type,
    )
    lowering = forward_lowering(impl, (1, *X.shape), (1, *K.shape), params, 1, X.dtype)
    return multi_in_fn(params, lowering)(X, K)
