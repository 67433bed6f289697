"""Flax Linen layers built on jaxconv's core (needs the ``flax`` extra)."""

from ._extras import require

require("jaxconv.linen", "flax")

from ._layout import channels_last as channels_last  # noqa: E402
from .layers._linen import Conv2d as Conv2d  # noqa: E402
from .layers._linen import conv2d_kwargs_from_torch as conv2d_kwargs_from_torch  # noqa: E402
from .layers._linen import params_from_torch as params_from_torch  # noqa: E402

__all__ = ["Conv2d", "channels_last", "conv2d_kwargs_from_torch", "params_from_torch"]
