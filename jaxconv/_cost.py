"""The lesson's arithmetic: output shapes and the cost O(ci * co * kh * kw * mh * mw)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from . import _checks
from ._typing import Padding, Size2


def output_shape(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    groups: int = 1,
) -> tuple[int, ...]:
    """The shape :func:`jaxconv.conv2d` returns, computed from shapes alone.

    ``mh = (H + top + bottom - dh * (kh - 1) - 1) // sh + 1``, likewise ``mw``; ``"same"``
    gives ``ceil(H / sh)``.

    Args:
      input_shape: ``(N, C, H, W)`` or ``(C, H, W)``.
      weight_shape: ``(O, C // groups, kh, kw)``.
      stride, padding, dilation, groups: as in :func:`jaxconv.conv2d`.

    Returns:
      ``(N, O, mh, mw)`` or ``(O, mh, mw)``, a tuple of ints.

    >>> output_shape((8, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)
    (8, 64, 112, 112)
    >>> output_shape((100, 68, 68), (100, 100, 5, 5))
    (100, 64, 64)
    """
    fn = "output_shape"
    input_shape = _checks.as_shape(fn, "input_shape", input_shape, (3, 4))
    weight_shape = _checks.as_shape(fn, "weight_shape", weight_shape, (4,))
    _checks.check_weight_shape(
        fn, input_shape, weight_shape, groups, ("input_shape", "weight_shape"), of_shapes=True
    )
    params = _checks.conv_params(
        fn, input_shape[-2:], weight_shape[2:], stride=stride, padding=padding, dilation=dilation
    )
    mh, mw = _checks.output_size(fn, input_shape[-2:], weight_shape[2:], params)
    return (*input_shape[:-3], weight_shape[0], mh, mw)


class ConvCost(NamedTuple):
    """Cost of a convolution. ``multiply_adds`` is what the lesson calls FLOPs (its "1 GFLOP"
    for 100 -> 100 channels, 5x5, 64x64); ``flops`` counts a multiply and an add as two."""

    multiply_adds: int
    flops: int


def flops(in_channels, out_channels, kernel_size, out_size, *, groups=1, batch=1) -> ConvCost:
    """Multiply-adds and FLOPs of a 2-D convolution: ``batch*ci/groups*co*kh*kw*mh*mw``.

    Args:
      in_channels, out_channels: ``ci`` and ``co``.
      kernel_size: int or ``(kh, kw)``.
      out_size: int or ``(mh, mw)``: the output's spatial size.
      groups: each output channel sees ``ci / groups`` input channels.
      batch: number of images.

    Returns:
      ``ConvCost(multiply_adds, flops)`` with ``flops = 2 * multiply_adds`` (bias excluded).

    >>> flops(100, 100, 5, 64)
    ConvCost(multiply_adds=1024000000, flops=2048000000)
    """
    fn = "flops"
    ci = _checks.as_int(fn, "in_channels", in_channels, minimum=1)
    co = _checks.as_int(fn, "out_channels", out_channels, minimum=1)
    kh, kw = _checks.as_pair(fn, "kernel_size", kernel_size)
    mh, mw = _checks.as_pair(fn, "out_size", out_size)
    groups = _checks.check_groups(fn, groups, {"`in_channels`": ci, "`out_channels`": co})
    batch = _checks.as_int(fn, "batch", batch, minimum=0)
    macs = batch * (ci // groups) * co * kh * kw * mh * mw
    return ConvCost(macs, 2 * macs)
