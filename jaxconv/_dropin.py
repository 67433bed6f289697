"""``jaxconv.conv_general_dilated``: a drop-in for ``jax.lax.conv_general_dilated``.

Calls that the lesson's structure expresses (two spatial dimensions, no input
dilation, no batch groups, non-negative padding, matching inexact dtypes) are
transposed to NCHW/OIHW, computed by the vmap core and transposed back; XLA folds the
transposes into the convolution's dimension numbers. Everything else goes to lax.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _checks
from ._conv2d import check_weight, conv2d_nchw
from ._typing import ArrayLike, Impl
from .lowering._registry import check_impl


def _core_padding(padding):
    """The core's form of lax's ``padding``, or ``None`` if the core does not take it."""
    if isinstance(padding, str):
        return padding.lower() if padding.upper() in ("SAME", "VALID") else None
    try:
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    except (TypeError, ValueError):
        return None
    if len(pads) != 2 or min(min(p) for p in pads) < 0:
        return None
    return pads


def _output_is_nonempty(in_size, kernel, padding, rhs_dilation) -> bool:
    """Whether the dilated kernel fits the padded input (lax returns an empty array if not)."""
    if padding == "same":
        return True
    pads = ((0, 0), (0, 0)) if padding == "valid" else padding
    dilation = rhs_dilation if rhs_dilation is not None else (1, 1)
    return all(
        (k - 1) * d + 1 <= n + lo + hi for n, k, d, (lo, hi) in zip(in_size, kernel, dilation, pads)
    )


def conv_general_dilated(
    lhs: ArrayLike,
    rhs: ArrayLike,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count=1,
    batch_group_count=1,
    precision=None,
    preferred_element_type=None,
    out_sharding=None,
    *,
    impl: Impl | str = "auto",
) -> jax.Array:
    """Same signature and results as ``jax.lax.conv_general_dilated``.

    Usable wherever lax's function is, e.g. ``flax.linen.Conv(...,
    conv_general_dilated=jaxconv.conv_general_dilated)`` or the same argument of
    ``flax.nnx.Conv``. Layouts follow ``dimension_numbers`` (default NCHW/OIHW/NCHW).

    >>> import jax.numpy as jnp
    >>> x = jnp.ones((1, 5, 5, 3))  # NHWC
    >>> k = jnp.ones((3, 3, 3, 8))  # HWIO
    >>> conv_general_dilated(x, k, (1, 1), "SAME",
    ...                      dimension_numbers=("NHWC", "HWIO", "NHWC")).shape
    (1, 5, 5, 8)
    """
    fn = "conv_general_dilated"
    impl = check_impl(fn, impl)
    lhs = _checks.as_any_array(fn, "lhs", lhs)  # any dtype: lax's rules apply beyond floats
    rhs = _checks.as_any_array(fn, "rhs", rhs)
    core_padding = _core_padding(padding)
    routable = (
        lhs.ndim == 4
        and rhs.ndim == 4
        and core_padding is not None
        and batch_group_count == 1
        and (lhs_dilation is None or all(d == 1 for d in lhs_dilation))
        and out_sharding is None
        and lhs.dtype == rhs.dtype
        and jnp.issubdtype(lhs.dtype, jnp.inexact)
    )
    if routable:
        dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
        x = jnp.transpose(lhs, dn.lhs_spec)
        w = jnp.transpose(rhs, dn.rhs_spec)
        routable = _output_is_nonempty(x.shape[2:], w.shape[2:], core_padding, rhs_dilation)
    if not routable:  # lax's semantics, including its empty outputs and its errors
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            dimension_numbers,
            feature_group_count,
            batch_group_count,
            precision,
            preferred_element_type,
            out_sharding=out_sharding,
        )
    groups = check_weight(fn, x, w, feature_group_count, names=("lhs", "rhs"))
    params = _checks.conv_params(  # lax's argument names in the messages
        fn,
        x.shape[2:],
        w.shape[2:],
        stride=_checks.as_pair(fn, "window_strides", tuple(window_strides)),
        padding=core_padding,
        dilation=_checks.as_pair(fn, "rhs_dilation", tuple(rhs_dilation or (1, 1))),
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    y = conv2d_nchw(fn, x, w, None, params, groups, impl)
    return jnp.transpose(y, tuple(int(a) for a in np.argsort(dn.out_spec)))
