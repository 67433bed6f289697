"""Channels-first and channels-last: the axis orders, and ``channels_last``, which runs a
channels-last layer (a normalisation, say) inside a channels-first network of
:func:`jaxconv.conv2d` calls or ``data_format="NCHW"`` layers.

Why a layer needs it: XLA's CPU backend computes convolutions channels-last and keeps
every other array in its logical order, so a channels-first layer is a transpose either
side of a channels-last convolution. Between two such layers XLA cancels the transposes
through elementwise work (a bias, a ReLU, a residual sum), but not through a reduction
over the batch and the image: a batch normalisation on axis 1 made it copy each
activation into channels-first order and back, forward and backward. Given the
normalisation's channels-last view instead, its transposes meet the convolutions' and
cancel. ResNet-18 with batch normalisation after every convolution (``jaxconv bench
--model resnet18 --batchnorm``'s step, batch 32, 32x32 images; a 2-core Zen 4 EPYC,
float32, one compile each, 9 interleaved steps): channels-first 984 ms with the
normalisation on axis 1, 790 ms through ``channels_last``, channels-last 782 ms;
compiled in 3.1 s against 3.8 s (150 kernels against 163, channels-last 149).
MobileNet-v1 with it: 176 against 195 ms (channels-last 212 ms); ConvNeXt, whose
depthwise 7x7 layers jaxconv computes channels-first, level (230 against 231 ms). On GPUs XLA picks
the convolutions' layouts itself; the wrapper is correct there but was not timed (no GPU
was lent to this work).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from jax import lax

from . import _checks

_RANKS = (3, 4)
_FIRST = "(N, C, H, W) or unbatched (C, H, W)"
_LAST = "(N, H, W, C) or unbatched (H, W, C)"


def to_channels_first(ndim: int) -> tuple[int, ...]:
    """The axes of ``(..., H, W, C)`` in ``(..., C, H, W)`` order, for one
    ``lax.transpose`` (``jnp.moveaxis`` is a jitted function: a nested trace per call)."""
    return (*range(ndim - 3), ndim - 1, ndim - 3, ndim - 2)


def to_channels_last(ndim: int) -> tuple[int, ...]:
    """The axes of ``(..., C, H, W)`` in ``(..., H, W, C)`` order."""
    return (*range(ndim - 3), ndim - 2, ndim - 1, ndim - 3)


def channels_last(layer: Callable[..., Any]) -> Callable[..., jax.Array]:
    """``layer``, a function of channels-last arrays, applied to channels-first ones.

    ``channels_last(layer)(x, *args, **kwargs)`` is ``layer`` on ``x`` transposed from
    ``(N, C, H, W)`` to ``(N, H, W, C)`` (or ``(C, H, W)`` to ``(H, W, C)``), with
    ``*args`` and ``**kwargs`` passed on, its result transposed back: the same values
    as the channels-first layer, computed where a channels-first network's convolutions
    compute (on a CPU, XLA's are channels-last), so the transposes cancel between them.

    Use it for what reduces over the batch or the image between channels-first
    convolutions: ``nnx.BatchNorm`` (whose default feature axis is the last),
    ``GroupNorm``, a squeeze-and-excitation block. Elementwise work needs none. A
    channels-first ResNet-18 with batch normalisation trained a step on a CPU in 0.80x
    the time of the normalisation on axis 1, level with a channels-last network (module
    notes). ``layer`` may be an NNX module (its state stays its own, updated in place), a
    Linen submodule called inside ``@compact``, or any function; its output may change
    the channel count but must keep rank 3 or 4. Also ``jaxconv.nn.channels_last`` and
    ``jaxconv.linen.channels_last``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> def norm(y):  # (N, H, W, C): over the images and pixels, per channel
    ...     centred = y - y.mean((0, 1, 2), keepdims=True)
    ...     return centred / jnp.sqrt(jnp.mean(centred**2, (0, 1, 2), keepdims=True) + 1e-5)
    >>> x = jnp.arange(2 * 3 * 5 * 4.0).reshape(2, 3, 5, 4)  # (N, C, H, W)
    >>> y = jaxconv.channels_last(norm)(jaxconv.conv2d(x, jnp.ones((8, 3, 3, 3)), padding=1))
    >>> y.shape
    (2, 8, 5, 4)
    >>> per_channel = (0, 2, 3)  # normalised per channel, axis 1 of the result
    >>> bool(jnp.allclose(y.mean(per_channel), 0, atol=1e-4) & jnp.allclose(y.var(per_channel), 1))
    True

    With Flax, ``nnx.BatchNorm(8, rngs=rngs)`` in place of ``norm`` gives what
    ``nnx.BatchNorm(8, axis=1, rngs=rngs)`` gives without it.
    """
    if not callable(layer):
        raise TypeError(
            f"channels_last: `layer` must be callable (a module or a function), got "
            f"{type(layer).__name__} {layer!r:.60}"
        )

    def apply(x: Any, *args: Any, **kwargs: Any) -> jax.Array:
        x = _checks.as_any_array("channels_last", "x", x)
        _checks.check_rank("channels_last", "x", x, _RANKS, _FIRST)
        y = layer(lax.transpose(x, to_channels_last(x.ndim)), *args, **kwargs)
        y = _checks.as_any_array("channels_last", "layer(x)", y)
        _checks.check_rank("channels_last", "layer(x)", y, _RANKS, _LAST)
        return lax.transpose(y, to_channels_first(y.ndim))

    return apply
