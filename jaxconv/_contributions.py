"""The terms of the lesson's sum, kept apart: one picture per (output, input) channel pair."""

from __future__ import annotations

import functools

import jax

from . import _checks
from ._checks import ConvParams
from ._corr2d import corr2d_impl
from ._typing import ArrayLike, Padding, Size2


def channel_contributions(
    X: ArrayLike, K: ArrayLike, *, stride: Size2 = 1, padding: Padding = 0, dilation: Size2 = 1
) -> jax.Array:
    """Every ``corr2d(X[c], K[o, c])``, before the sum over input channels ``c``.

    ``channel_contributions(X, K).sum(axis=1)`` equals ``corr2d_multi_in_out(X, K)``.
    Written as the lesson's two vmaps (over kernels, over channels) without the sum.

    Args:
      X: input, shape ``(ci, H, W)``.
      K: kernels, shape ``(co, ci, kh, kw)``.
      stride, padding, dilation: as in :func:`jaxconv.corr2d`.

    Returns:
      ``(co, ci, mh, mw)``.

    >>> import jax.numpy as jnp
    >>> channel_contributions(jnp.ones((3, 5, 5)), jnp.ones((2, 3, 3, 3))).shape
    (2, 3, 3, 3)
    """
    fn = "channel_contributions"
    X, K = _checks.operands(fn, X, K, ((3,), "(ci, H, W)"), ((4,), "(co, ci, kh, kw)"))
    _checks.check_channels(fn, X, K, k_axis=1)
    params = _checks.conv_params(
        fn, X.shape[1:], K.shape[2:], stride=stride, padding=padding, dilation=dilation
    )
    return _both_vmaps(params)(X, K)


@functools.lru_cache(maxsize=1024)
def _both_vmaps(params: ConvParams):
    """The lesson's two vmaps without the sum, jitted (an eager call compiles once)."""
    per_channel = jax.vmap(functools.partial(corr2d_impl, params=params))  # over c
    return jax.jit(jax.vmap(per_channel, in_axes=(None, 0)))  # over o
