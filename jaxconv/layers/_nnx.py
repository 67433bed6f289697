"""``jaxconv.nn.Conv2d``: a ``flax.nnx`` layer with torch's parameterisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import jax.numpy as jnp
from flax import nnx

from .._typing import DTypeLike, Impl, Padding, PaddingMode, PrecisionLike, Size2
from . import _config as _layer


class Conv2d(nnx.Module):
    """2-D convolution layer, ``torch.nn.Conv2d``'s arguments, built on :func:`jaxconv.conv2d`.

    Args:
      in_channels, out_channels: channel counts, both divisible by ``groups``.
      kernel_size, stride, dilation: an int (the same in both dims) or a pair.
      padding: int, pair, ``((top, bottom), (left, right))``, ``"valid"`` or ``"same"``.
      groups: channel groups. bias: whether to add a learned bias.
      padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
      data_format: ``"NCHW"`` (torch's; the default) or ``"NHWC"``.
      dtype: compute dtype (``None``: promote input and params). param_dtype: params' dtype.
      precision: passed to XLA. kernel_init, bias_init: flax initialisers; ``None``
        means torch's defaults (uniform in +-1/sqrt(fan_in) for both).
      impl: how :func:`jaxconv.conv2d` lowers it (default ``"auto"``; ``"autotune"``
        times the lowerings once per shape; a registered lowering's name plugs a kernel
        of one's own into the layer).
      rngs: ``nnx.Rngs`` for initialisation.

    Parameters: ``weight`` ``(out_channels, in_channels // groups, kh, kw)`` (torch's OIHW)
    and ``bias`` ``(out_channels,)`` or ``None``.

    Call: ``x`` ``(N, C, H, W)`` or ``(C, H, W)`` (NHWC: ``(N, H, W, C)`` or ``(H, W, C)``)
    -> the same layout with ``out_channels`` channels. Between channels-first layers, a
    normalisation (whatever reduces over the batch or the image) is cheaper through
    :func:`jaxconv.nn.channels_last` (on a CPU: 0.8x a ResNet-18 step).

    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> layer = Conv2d(3, 8, 3, padding=1, rngs=nnx.Rngs(0))
    >>> layer.weight.shape, layer.bias.shape
    ((8, 3, 3, 3), (8,))
    >>> layer(jnp.ones((2, 3, 16, 16))).shape
    (2, 8, 16, 16)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size2,
        stride: Size2 = 1,
        padding: Padding = 0,
        dilation: Size2 = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: PaddingMode | str = "zeros",
        *,
        data_format: str = "NCHW",
        dtype: DTypeLike | None = None,
        param_dtype: DTypeLike = jnp.float32,
        precision: PrecisionLike = None,
        kernel_init: Callable | None = None,
        bias_init: Callable | None = None,
        impl: Impl | str = "auto",
        rngs: nnx.Rngs,
    ):
        self.config = _layer.layer_config(
            "Conv2d",
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            data_format,
            impl,
        )
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.precision = precision
        shape = _layer.weight_shape(self.config, cast(int, self.config.in_channels))
        kernel_init = kernel_init or _layer.torch_weight_init
        self.weight = nnx.Param(kernel_init(rngs.params(), shape, param_dtype))
        bias_init = bias_init or _layer.torch_bias_init(shape)
        self.bias: nnx.Param | None = (
            nnx.Param(bias_init(rngs.params(), (shape[0],), param_dtype))
            if self.config.bias
            else None
        )

    def __call__(self, x):
        x = _layer.check_input("Conv2d", self.config, x, self.config.in_channels)
        bias = self.bias[...] if self.bias is not None else None
        return _layer.forward(
            "Conv2d",
            self.config,
            x,
            self.weight[...],
            bias,
            dtype=self.dtype,
            precision=self.precision,
        )

    @classmethod
    def from_torch(cls, module, *, data_format="NCHW", dtype=None, precision=None) -> Conv2d:
        """A layer equal to a live ``torch.nn.Conv2d``: hyperparameters and weights copied.

        Reads the module's tensors directly; nothing is unpickled or loaded from a file.
        ``param_dtype`` is the torch weight's dtype.
        """
        kwargs, weight, bias = _layer.from_torch_module("Conv2d.from_torch", module)
        return cls(  # the torch tensors as initialisers: no random draw to overwrite
            **kwargs,
            data_format=data_format,
            dtype=dtype,
            precision=precision,
            param_dtype=weight.dtype,
            kernel_init=lambda key, shape, dtype: jnp.asarray(weight, dtype),
            bias_init=lambda key, shape, dtype: jnp.asarray(bias, dtype),
            rngs=nnx.Rngs(0),
        )
