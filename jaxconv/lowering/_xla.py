"""The one place jaxconv calls XLA's convolution: NCHW input, OIHW kernel, NCHW output."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .._checks import ConvParams, is_static
from ._registry import register_builtin

NCHW = ("NCHW", "OIHW", "NCHW")


def lax_conv(lhs: jax.Array, rhs: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """``lax.conv_general_dilated`` on ``(N, C, H, W)`` and ``(O, C/groups, kh, kw)``.

    Half-precision inputs are left to XLA, whose CPU and GPU (cuDNN) convolutions already
    accumulate them in float32 (tested in tests/test_dtypes.py). Asking for a float32
    output by default was measured: it changed no result and cost 1.13-1.66x on an H100
    (an extra float32 write and a cast). ``preferred_element_type`` still chooses one.
    """
    padding = params.padding
    if not is_static(*sum(padding, ())):  # jax.export's symbolic sizes
        # lax refuses symbolic padding (its batching rule too, even for "SAME"): pad first.
        lhs = lax.pad(lhs, jnp.zeros((), lhs.dtype), [(0, 0, 0)] * 2 + [(*p, 0) for p in padding])
        padding = ((0, 0), (0, 0))
    return lax.conv_general_dilated(
        lhs,
        rhs,
        window_strides=params.stride,
        padding=padding,
        rhs_dilation=params.dilation,
        dimension_numbers=NCHW,
        feature_group_count=groups,
        precision=params.precision,
        preferred_element_type=params.preferred_element_type,
    )


register_builtin(
    "xla",
    lax_conv,
    transposable=True,
    description="XLA's convolution (cuDNN on GPUs, Eigen on CPUs)",
)
