"""One channel: the 2-D cross-correlation every other function is built from."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from . import _checks
from ._checks import ConvParams
from ._eager import once
from ._typing import ArrayLike, DTypeLike, Padding, PrecisionLike, Size2
from .lowering._taps import accumulator, result_dtype, taps
from .lowering._xla import lax_conv, naive_cpu_loop


def corr2d_impl(x: jax.Array, k: jax.Array, params: ConvParams) -> jax.Array:
    """``(H, W) x (kh, kw) -> (mh, mw)``: XLA's convolution on a one-channel view.

    For 64-bit elements on a CPU it is the definition itself, a sum over the kernel's
    taps of weight times shifted window: ``jax.vmap`` would batch XLA's convolution into
    a grouped one, which XLA's generic CPU loop computes reading every group
    (``lowering/_xla.py``), so a NaN in one channel would reach the others.
    """
    if naive_cpu_loop(x.dtype):
        acc = accumulator(x.dtype, params)
        terms = (k[i, j].astype(acc) * win.astype(acc) for i, j, win in taps(x, k.shape, params))
        return functools.reduce(jnp.add, terms).astype(result_dtype(x.dtype, params))
    return lax_conv(x[None, None], k[None, None], params)[0, 0]


def corr2d(
    x: ArrayLike,
    k: ArrayLike,
    *,
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
) -> jax.Array:
    """Single-channel 2-D cross-correlation (what deep learning calls convolution).

    ``y[i, j] = sum_{a, b} x_pad[i*sh + a*dh, j*sw + b*dw] * k[a, b]``: the kernel is
    not flipped.

    Args:
      x: input, shape ``(H, W)``.
      k: kernel, shape ``(kh, kw)``, same dtype as ``x``.
      stride: int or ``(sh, sw)``.
      padding: int, ``(ph, pw)``, ``((top, bottom), (left, right))``, ``"valid"`` or
        ``"same"`` (lax's SAME rule: output ``ceil(H / sh)``, also for stride > 1).
        Zero padding.
      dilation: int or ``(dh, dw)``: spacing between kernel taps.
      precision, preferred_element_type: passed to ``lax.conv_general_dilated``.

    Returns:
      ``(mh, mw)`` with ``mh = (H + top + bottom - dh*(kh-1) - 1) // sh + 1``, likewise ``mw``.

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(9.0).reshape(3, 3)
    >>> corr2d(x, jnp.array([[0.0, 1.0], [2.0, 3.0]]))
    Array([[19., 25.],
           [37., 43.]], dtype=float32)
    """
    fn = "corr2d"
    x, k = _checks.operands(fn, x, k, ((2,), "(H, W)"), ((2,), "(kh, kw)"), names=("x", "k"))
    params = _checks.conv_params(
        fn,
        x.shape,
        k.shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        precision=precision,
        preferred_element_type=preferred_element_type,
        dtype=x.dtype,
    )
    return once(corr2d_impl, x, k, params=params)
