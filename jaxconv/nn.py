"""Flax NNX layers built on jaxconv's core (needs the ``flax`` extra)."""

from ._extras import require

require("jaxconv.nn", "flax")

from ._layout import channels_last as channels_last  # noqa: E402
from .layers._nnx import Conv2d as Conv2d  # noqa: E402

__all__ = ["Conv2d", "channels_last"]
