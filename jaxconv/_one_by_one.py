"""A 1x1 convolution is a matmul over channels: a fully connected layer at every pixel."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks
from ._eager import once
from ._typing import ArrayLike, DTypeLike, PrecisionLike


def corr2d_multi_in_out_1x1(
    X: ArrayLike,
    K: ArrayLike,
    *,
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
) -> jax.Array:
    """1x1 multi-channel convolution computed as one ``(co, ci) @ (ci, H*W)`` matmul.

    Every output pixel is the same linear map of the ``ci`` input values at that pixel.
    Equal to ``corr2d_multi_in_out(X, K.reshape(co, ci, 1, 1))``.

    Args:
      X: input, shape ``(ci, H, W)``.
      K: kernels, shape ``(co, ci, 1, 1)`` or ``(co, ci)``.
      precision, preferred_element_type: passed to ``jnp.matmul``.

    Returns:
      ``(co, H, W)``.

    >>> import jax.numpy as jnp
    >>> X = jnp.ones((3, 2, 2))
    >>> K = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, -1.0]])
    >>> corr2d_multi_in_out_1x1(X, K)[:, 0, 0]
    Array([ 6., -1.], dtype=float32)
    """
    fn = "corr2d_multi_in_out_1x1"
    X, K = _checks.operands(fn, X, K, ((3,), "(ci, H, W)"), ((2, 4), "(co, ci) or (co, ci, 1, 1)"))
    if K.ndim == 4 and K.shape[2:] != (1, 1):
        raise ValueError(
            f"{fn}: `K` must be (co, ci, 1, 1) or (co, ci), got kernel size {K.shape[2:]} "
            f"(use corr2d_multi_in_out for larger kernels)"
        )
    _checks.check_channels(fn, X, K, k_axis=1)
    return once(
        _matmul_over_channels,
        X,
        K,
        precision=_checks.check_precision(fn, precision),
        preferred_element_type=_checks.check_preferred_element_type(
            fn, preferred_element_type, X.dtype
        ),
    )


def _matmul_over_channels(X, K, *, precision, preferred_element_type):
    """``(co, ci) @ (ci, H*W)``, reshaped back to ``(co, H, W)``."""
    ci, h, w = X.shape
    co = K.shape[0]
    Y = jnp.matmul(
        K.reshape(co, ci),
        X.reshape(ci, h * w),
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    return Y.reshape(co, h, w)
