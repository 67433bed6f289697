"""Flax Linen layers built on jaxconv's core."""

from .layers._linen import Conv2d as Conv2d
from .layers._linen import conv2d_kwargs_from_torch as conv2d_kwargs_from_torch
from .layers._linen import params_from_torch as params_from_torch

__all__ = ["Conv2d", "conv2d_kwargs_from_torch", "params_from_torch"]
