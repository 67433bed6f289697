"""The one place jaxconv calls XLA's convolution: NCHW input, OIHW kernel, NCHW output."""

from __future__ import annotations

import jax
from jax import lax

from ._checks import ConvParams

NCHW = ("NCHW", "OIHW", "NCHW")


def lax_conv(lhs: jax.Array, rhs: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """``lax.conv_general_dilated`` on ``(N, C, H, W)`` and ``(O, C/groups, kh, kw)``."""
    return lax.conv_general_dilated(
        lhs,
        rhs,
        window_strides=params.stride,
        padding=params.padding,
        rhs_dilation=params.dilation,
        dimension_numbers=NCHW,
        feature_group_count=groups,
        precision=params.precision,
        preferred_element_type=params.preferred_element_type,
    )
