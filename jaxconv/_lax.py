"""The one place jaxconv calls XLA's convolution: NCHW input, OIHW kernel, NCHW output."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._checks import ConvParams

NCHW = ("NCHW", "OIHW", "NCHW")
HALF = (np.dtype(jnp.float16), np.dtype(jnp.bfloat16))


def lax_conv(lhs: jax.Array, rhs: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """``lax.conv_general_dilated`` on ``(N, C, H, W)`` and ``(O, C/groups, kh, kw)``.

    Half-precision operands accumulate in float32 and the result is rounded back to their
    dtype, unless the caller chose a ``preferred_element_type``.
    """
    accumulate, out_dtype = params.preferred_element_type, None
    if accumulate is None and lhs.dtype in HALF:
        accumulate, out_dtype = np.dtype(np.float32), lhs.dtype
    y = lax.conv_general_dilated(
        lhs,
        rhs,
        window_strides=params.stride,
        padding=params.padding,
        rhs_dilation=params.dilation,
        dimension_numbers=NCHW,
        feature_group_count=groups,
        precision=params.precision,
        preferred_element_type=accumulate,
    )
    return y if out_dtype is None else y.astype(out_dtype)
