"""What the NNX and Linen ``Conv2d`` modules share: hyperparameters, torch's
initialisation, the forward pass (which is :func:`jaxconv.conv2d`) and torch import."""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax.nnx.nn.dtypes import promote_dtype
from jax import lax

from .. import _checks
from .._conv2d import checked_conv2d
from .._layout import to_channels_first, to_channels_last
from ..lowering._registry import check_impl

DATA_FORMATS = ("NCHW", "NHWC")


class LayerConfig(NamedTuple):
    """Checked, canonical hyperparameters of a Conv2d layer."""

    in_channels: int | None  # None: inferred from the input (Linen)
    out_channels: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: Any  # "same", "valid" or ((top, bottom), (left, right))
    dilation: tuple[int, int]
    groups: int
    bias: bool
    padding_mode: str
    data_format: str
    impl: str = "auto"


def layer_config(
    name,
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
    impl="auto",
) -> LayerConfig:
    """Checks a module's constructor arguments; an int size means the same in both dims."""
    if in_channels is not None:
        in_channels = _checks.as_int(name, "in_channels", in_channels, minimum=1)
    out_channels = _checks.as_int(name, "out_channels", out_channels, minimum=1)
    kernel_size = _checks.as_pair(name, "kernel_size", kernel_size)
    stride = _checks.as_pair(name, "stride", stride)
    dilation = _checks.as_pair(name, "dilation", dilation)
    if isinstance(padding, str):
        _checks.as_padding(name, padding, (1, 1), kernel_size, stride, dilation)
        padding = padding.lower()
    else:
        padding = _checks.as_padding(name, padding, (1, 1), kernel_size, stride, dilation)
    channels = {"`in_channels`": in_channels} if in_channels is not None else {}
    groups = _checks.check_groups(name, groups, {**channels, "`out_channels`": out_channels})
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"{name}: `bias` must be a bool, got {type(bias).__name__} {bias!r:.40}")
    _checks.check_padding_mode(name, padding_mode)
    if data_format not in DATA_FORMATS:
        raise ValueError(f"{name}: `data_format` (={data_format!r}) must be one of {DATA_FORMATS}")
    impl = check_impl(name, impl)
    return LayerConfig(
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding,
        dilation,
        groups,
        bool(bias),
        padding_mode,
        data_format,
        impl,
    )


def weight_shape(cfg: LayerConfig, in_channels: int) -> tuple[int, int, int, int]:
    return (cfg.out_channels, in_channels // cfg.groups, *cfg.kernel_size)


def fan_in(shape) -> int:
    """``C/groups * kh * kw`` for an OIHW weight shape, as torch counts it."""
    return math.prod(shape[1:])


def symmetric_uniform(key, shape, dtype, bound: float) -> jax.Array:
    """``jax.random.uniform(key, shape, dtype, -bound, bound)``, drawn as one flat vector.

    The values are the same (JAX numbers a draw's elements by their flat index). An
    eager draw still compiles one program per new shape and dtype, but XLA's CPU backend
    compiled the 1-D draw in 0.22-0.36 s where a 4-D weight's took 0.7-1.4 s: building
    ResNet-18's convolutions eagerly took 14.8 s, and 5.5 s drawn flat (BENCHMARKS.md,
    whole networks).
    """
    return _flat_uniform(key, bound, shape=tuple(shape), dtype=jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnames=("shape", "dtype"))
def _flat_uniform(key, bound, *, shape: tuple[int, ...], dtype) -> jax.Array:
    flat = jax.random.uniform(key, (math.prod(shape),), dtype, -bound, bound)
    return flat.reshape(shape)


def torch_weight_init(key, shape, dtype=jnp.float32):
    """torch's default: kaiming-uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in)).

    ``shape`` is ``(O, C/groups, kh, kw)``.
    """
    gain = math.sqrt(2.0 / (1 + 5.0))  # leaky-relu gain for a = sqrt(5)
    return symmetric_uniform(key, shape, dtype, gain * math.sqrt(3.0 / fan_in(shape)))


def torch_bias_init(weight_shape):
    """torch's default bias: U(+-1/sqrt(fan_in)), fan_in of the layer's weight."""
    n = fan_in(weight_shape)
    bound = 1.0 / math.sqrt(n) if n > 0 else 0.0

    def init(key, shape, dtype=jnp.float32):
        return symmetric_uniform(key, shape, dtype, bound)

    return init


def channel_axis(cfg: LayerConfig) -> int:
    return -3 if cfg.data_format == "NCHW" else -1


def check_input(name: str, cfg: LayerConfig, x, in_channels: int | None):
    """Checks a call's input rank and channel count against the layer. Any numeric
    dtype is taken: the forward pass promotes it as flax does (uint8 images included)."""
    layout = cfg.data_format
    x = _checks.as_any_array(name, "x", x)
    _checks.check_rank(
        name,
        "x",
        x,
        (3, 4),
        f"({', '.join(layout)}) or unbatched ({', '.join(layout[1:])}) for data_format={layout!r}",
    )
    c = x.shape[channel_axis(cfg)]
    if in_channels is not None and c != in_channels:
        raise ValueError(
            f"{name}: expected {in_channels} input channels (in_channels) on axis "
            f"{channel_axis(cfg)} of a {cfg.data_format} input, got shape {tuple(x.shape)}"
        )
    return x


def forward(name: str, cfg: LayerConfig, x, weight, bias, *, dtype, precision):
    """The layer: :func:`jaxconv.conv2d` in the layer's layout and compute dtype."""
    x, weight, bias = promote_dtype((x, weight, bias), dtype=dtype)  # flax's rule
    if cfg.data_format == "NHWC":
        x = lax.transpose(x, to_channels_first(x.ndim))
    y = checked_conv2d(
        name,
        x,
        weight,
        bias,
        cfg.stride,
        cfg.padding,
        cfg.dilation,
        cfg.groups,
        cfg.padding_mode,
        precision,
        None,
        cfg.impl,
    )
    if cfg.data_format == "NHWC":
        return lax.transpose(y, to_channels_last(y.ndim))
    return y


def _tensor_to_numpy(name: str, what: str, tensor) -> np.ndarray:
    """A torch tensor's values as NumPy, bfloat16 included (as ``jnp.bfloat16``)."""
    import torch

    if tensor.device.type == "meta":
        raise ValueError(
            f"{name}: the module's `{what}` is on the 'meta' device (no values yet); "
            f"materialise it first, e.g. module.to_empty(device='cpu') and load its state"
        )
    t = tensor.detach().cpu().resolve_conj().resolve_neg()
    try:
        if t.dtype == torch.bfloat16:  # NumPy has no bfloat16: widen exactly, then narrow
            return t.to(torch.float32).numpy().astype(jnp.bfloat16)
        return t.numpy().copy()
    except (RuntimeError, TypeError) as err:
        raise TypeError(
            f"{name}: cannot read the module's `{what}` ({t.dtype}, {t.layout}): {err}"
        ) from None


def from_torch_module(name: str, module) -> tuple[dict, np.ndarray, np.ndarray | None]:
    """Constructor kwargs and weights of a live ``torch.nn.Conv2d`` (no file, no pickle)."""
    import torch  # lazily: torch is never a runtime dependency

    if not isinstance(module, torch.nn.Conv2d):
        raise TypeError(f"{name}: expected a torch.nn.Conv2d, got {type(module).__name__}")
    if isinstance(module.weight, torch.nn.parameter.UninitializedParameter):
        raise ValueError(
            f"{name}: the {type(module).__name__} is not initialised yet (its in_channels "
            f"are inferred on the first call); run it on one input first"
        )
    padding = module.padding
    if not isinstance(padding, str):
        padding = tuple(int(p) for p in padding)
    kwargs = dict(
        in_channels=module.in_channels,
        out_channels=module.out_channels,
        kernel_size=tuple(module.kernel_size),
        stride=tuple(module.stride),
        padding=padding,
        dilation=tuple(module.dilation),
        groups=module.groups,
        bias=module.bias is not None,
        padding_mode=module.padding_mode,
    )
    weight = _tensor_to_numpy(name, "weight", module.weight)
    bias = None if module.bias is None else _tensor_to_numpy(name, "bias", module.bias)
    return kwargs, weight, bias
