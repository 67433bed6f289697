"""Flax Linen layers built on jaxconv's core."""

from ._linen_conv import Conv2d as Conv2d
from ._linen_conv import conv2d_kwargs_from_torch as conv2d_kwargs_from_torch
from ._linen_conv import params_from_torch as params_from_torch

__all__ = ["Conv2d", "conv2d_kwargs_from_torch", "params_from_torch"]
