"""``jaxconv.linen.Conv2d``: a ``flax.linen`` layer with torch's parameterisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from .. import _checks
from .._typing import Impl, Padding, Size2
from . import _config as _layer


class Conv2d(nn.Module):
    """2-D convolution layer, torch's arguments, ``in_channels`` inferred from the input.

    Same hyperparameters, parameter shapes, initialisation and call convention as
    :class:`jaxconv.nn.Conv2d`. Params: ``{"weight": (out_channels, in_channels // groups,
    kh, kw), "bias": (out_channels,)}`` (no ``"bias"`` when ``bias=False``).

    >>> import jax, jax.numpy as jnp
    >>> layer = Conv2d(8, 3, padding="same")
    >>> variables = layer.init(jax.random.key(0), jnp.ones((1, 3, 16, 16)))
    >>> jax.tree.map(jnp.shape, variables["params"])
    {'bias': (8,), 'weight': (8, 3, 3, 3)}
    """

    out_channels: int
    kernel_size: Size2
    stride: Size2 = 1
    padding: Padding = 0
    dilation: Size2 = 1
    groups: int = 1
    bias: bool = True
    padding_mode: str = "zeros"
    data_format: str = "NCHW"
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None
    kernel_init: Callable | None = None
    bias_init: Callable | None = None
    impl: Impl | str = "auto"

    @nn.compact
    def __call__(self, x):
        cfg = _layer.layer_config(
            "Conv2d",
            None,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.bias,
            self.padding_mode,
            self.data_format,
            self.impl,
        )
        x = _layer.check_input("Conv2d", cfg, x, None)
        in_channels = x.shape[_layer.channel_axis(cfg)]
        _checks.check_groups(
            "Conv2d", cfg.groups, {f"the channels of `x` {tuple(x.shape)}": in_channels}
        )
        shape = _layer.weight_shape(cfg, in_channels)
        weight = self.param(
            "weight", self.kernel_init or _layer.torch_weight_init, shape, self.param_dtype
        )
        bias = None
        if cfg.bias:
            bias = self.param(
                "bias",
                self.bias_init or _layer.torch_bias_init(shape),
                (cfg.out_channels,),
                self.param_dtype,
            )
        return _layer.forward(
            "Conv2d", cfg, x, weight, bias, dtype=self.dtype, precision=self.precision
        )


def params_from_torch(module) -> dict:
    """``{"params": {"weight", "bias"}}`` for :class:`Conv2d` from a live ``torch.nn.Conv2d``.

    Use with a ``Conv2d`` built from the same hyperparameters (see
    :func:`conv2d_kwargs_from_torch`). Reads tensors directly; nothing is unpickled.
    """
    _, weight, bias = _layer.from_torch_module("params_from_torch", module)
    params = {"weight": jnp.asarray(weight)}
    if bias is not None:
        params["bias"] = jnp.asarray(bias)
    return {"params": params}


def conv2d_kwargs_from_torch(module) -> dict:
    """The :class:`Conv2d` constructor arguments equal to a ``torch.nn.Conv2d``'s."""
    kwargs, weight, _ = _layer.from_torch_module("conv2d_kwargs_from_torch", module)
    del kwargs["in_channels"]
    return {**kwargs, "param_dtype": weight.dtype}
