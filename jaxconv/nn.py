"""Flax NNX layers built on jaxconv's core."""

from ._nnx_conv import Conv2d as Conv2d

__all__ = ["Conv2d"]
