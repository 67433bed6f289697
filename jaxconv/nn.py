"""Flax NNX layers built on jaxconv's core."""

from .layers._nnx import Conv2d as Conv2d

__all__ = ["Conv2d"]
