"""The one place jaxconv calls XLA's convolution: NCHW input, OIHW kernel, NCHW output
(or channels-last, for ``_eigen.py``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .._checks import ConvParams, is_static
from ._fence import fenced_channels_last
from ._registry import register_builtin

NCHW = ("NCHW", "OIHW", "NCHW")
NHWC = ("NHWC", "HWIO", "NHWC")
SWAPPED = ("NCHW", "OIHW", "CNHW")  # weights as the image, images as the window (swapped_term)


def naive_cpu_loop(dtype) -> bool:
    """XLA's CPU convolution of 64-bit elements (float64, complex128) is a generic loop
    that lets a grouped convolution read every group (with zero weights): a NaN in one
    group reaches all of them. float32, float16, bfloat16 and complex64 (Eigen), torch
    and the other lowerings keep groups apart."""
    return jax.default_backend() == "cpu" and jnp.dtype(dtype) in (jnp.float64, jnp.complex128)


def _groups_in_batch(lhs: jax.Array, groups: int) -> jax.Array:
    """``(N, G*C, H, W) -> (G*N, C, H, W)``, the layout of ``batch_group_count=G``, which
    XLA's generic CPU loop computes group by group."""
    n, c, h, w = lhs.shape
    stacked = jnp.swapaxes(lhs.reshape(n, groups, c // groups, h, w), 0, 1)
    return stacked.reshape(groups * n, c // groups, h, w)


def swap_breaks_input_grad(in_size, kernel, params: ConvParams) -> bool:
    """Whether XLA would abort the process compiling the input gradient that JAX derives
    from this ungrouped call (``lax``'s transpose), as jaxlib 0.10.2 does (a CHECK
    failure in ``algebraic_simplifier.cc``: "Window dimensions do not match RHS shape").

    XLA's simplifier swaps a convolution's operands where its kernel is larger than its
    input (``conv_operand_swapper.cc``), and copies unchanged the window of each axis it
    takes for a "group" axis: an unpadded window of 2 over an input dilated by 2, with
    stride 1. The input gradient of a kernel of 2 with stride 2, undilated, padded by 1
    on the low side and tiling the input exactly, is such an axis; the copied window is
    invalid unless the output gradient has 2 pixels there, and the swap happens when the
    kernel outweighs the output gradient along the other axis (a kernel longer than the
    output, as on small images). Written from XLA's source, and checked against XLA on
    480 drawn calls (80 that abort, 400 that compile; ``benchmarks/xla_swap_crash.py``)
    and 96 more that abort: no disagreement. With the zero padding applied before the
    convolution (``lax_conv`` does so here), the transposed convolution's window is
    padded on the low side, no such axis, and XLA compiles it."""
    kernel_size, swapped_size, breaks = 1, 1, False
    out = params.output_size(in_size, kernel)  # the output gradient's pixels
    axes = zip(in_size, kernel, out, params.stride, params.padding, params.dilation)
    for n, k, m, s, (lo, _), d in axes:
        before = (k - 1) * d - lo  # the transposed convolution's padding
        after = n + (k - 1) * d - ((m - 1) * s + 1) - before
        plain = before == 0 and after == 0 and d == 1
        group, contraction = plain and k == s == 2, plain and k == m and s == 1
        if group or contraction:  # axes the swap keeps as they are
            breaks |= group and m != k
            continue
        kernel_size *= k
        single = m == 1 and d == 1 and before == after == k - 1
        swapped_size *= k if single else m
    return breaks and kernel_size > swapped_size


def lax_conv(
    lhs: jax.Array,
    rhs: jax.Array,
    params: ConvParams,
    groups: int = 1,
    *,
    dimension_numbers: tuple[str, str, str] = NCHW,
) -> jax.Array:
    """``lax.conv_general_dilated`` on ``(N, C, H, W)`` and ``(O, C/groups, kh, kw)``
    (``dimension_numbers=NHWC``: ``(N, H, W, C)`` and ``(kh, kw, C/groups, O)``).

    Half-precision inputs are left to XLA, whose CPU and GPU (cuDNN) convolutions already
    accumulate them in float32 (tested in tests/test_dtypes.py). Asking for a float32
    output by default was measured: it changed no result and cost 1.13-1.66x on an H100
    (an extra float32 write and a cast). ``preferred_element_type`` still chooses one.

    Non-finite inputs follow one rule in every lowering (README, "Special values"): a
    group reads only its own channels. For 64-bit elements on a CPU, where XLA's own loop
    reads every group, the groups go through the batch (``naive_cpu_loop``): measured
    (2-core CPU, (4, 64, 28, 28), float64) 0.99x lax forward, 1.03x forward+backward at
    4 groups, 3.4x and 1.55x depthwise (where ``"auto"`` uses ``"matmul"``).
    """
    padding = params.padding
    axes = (1, 2) if dimension_numbers == NHWC else (2, 3)
    kernel = rhs.shape[:2] if dimension_numbers == NHWC else rhs.shape[2:]
    # lax refuses symbolic padding (jax.export; its batching rule too, even for "SAME"),
    # and XLA breaks some transposes of padded ones: pad first
    if not is_static(*sum(padding, ())) or (
        groups == 1
        and is_static(*lhs.shape, *kernel)
        and swap_breaks_input_grad([lhs.shape[a] for a in axes], kernel, params)
    ):
        config = [(0, 0, 0)] * 4
        for axis, p in zip(axes, padding):
            config[axis] = (*p, 0)
        lhs = lax.pad(lhs, jnp.zeros((), lhs.dtype), config)
        padding = ((0, 0), (0, 0))
    feature_groups, batch_groups = groups, 1
    if groups > 1 and naive_cpu_loop(lhs.dtype) and dimension_numbers == NCHW:
        lhs, feature_groups, batch_groups = _groups_in_batch(lhs, groups), 1, groups
    return lax.conv_general_dilated(
        lhs,
        rhs,
        window_strides=params.stride,
        padding=padding,
        rhs_dilation=params.dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=feature_groups,
        batch_group_count=batch_groups,
        precision=params.precision,
        preferred_element_type=params.preferred_element_type,
    )


SWAP_MIN_CHANNELS = 256  # a weight gradient with this many channels in and out swaps roles


def swaps_roles(x_shape, w_shape, params: ConvParams, groups: int, dtype) -> bool:
    """Whether the weight-gradient term is ``swapped_term``'s: a float32 CPU call without
    groups, stride or dilation, of at least ``SWAP_MIN_CHANNELS`` channels in and out,
    at static sizes, padded on each side by less than the kernel and by at least the
    kernel's excess over the input, so that neither swapped convolution's padding is
    negative, and along each axis by at least the kernel's length less one in all (an
    output as long as the input or longer). (Padded by more, some calls read garbage
    from XLA's CPU backend: 1x1 channel, 2x4 input, 2x2 kernel, padded ((2, 0), (1, 1)),
    values up to 1e22.)"""
    if jax.default_backend() != "cpu" or groups != 1 or jnp.dtype(dtype) != jnp.float32:
        return False
    if params.stride != (1, 1) or params.dilation != (1, 1) or not is_static(*x_shape, *w_shape):
        return False
    kernel, size = tuple(w_shape[2:]), tuple(x_shape[2:])
    within = all(
        k - n <= pad < k for n, k, pads in zip(size, kernel, params.padding) for pad in pads
    )
    # an output shorter than the input along an axis: the swapped convolution ran 50-100x
    # slower than XLA's own (see swapped_term)
    covered = all(sum(pads) >= k - 1 for k, pads in zip(kernel, params.padding))
    return min(w_shape[:2]) >= SWAP_MIN_CHANNELS and within and covered


def swapped_term(x: jax.Array, w: jax.Array, params: ConvParams) -> jax.Array:
    """The weight-gradient term whose transpose, the weight gradient, is XLA's convolution
    with the roles swapped: the output gradient the image (its output channels the
    batch, the images the features) and the input the window, spatially reversed.

    XLA's CPU convolution computes in channels-last order, so JAX's own weight gradient
    (the input the image, its channels the batch) comes out as ``(I, kh, kw, O)`` in
    memory, and an ``(O, I, kh, kw)`` weight's update reads it in a transposing copy.
    Swapped, it comes out ``(O, kh, kw, I)``, and the update reads each output channel's
    block transposed and reversed (``kh*kw*I`` elements). Measured (Zen 5 EPYC, float32,
    ms before / swapped, the weight gradient alone, then with an SGD-momentum update of
    the weight): 512->512 3x3 at 4x4, batch 32, 8.52 / 8.55 and 11.72 / 9.12; at 2x2
    1.97 / 1.78 and 5.08 / 2.28; at 7x7, batch 4, 6.27 / 6.16 and 9.56 / 7.45; at 28x28,
    batch 2, 27.13 / 27.11 and 30.51 / 27.76; 1024->1024 at 7x7, batch 1, 30.48 / 23.01
    and 59.08 / 37.61; 256->256 at 8x8, batch 32, 8.91 / 8.62 and 9.18 / 8.81; at 56x56,
    batch 2, 43.31 / 42.31 and 44.21 / 42.94; at 112x112, batch 1, 78.83 / 73.78 and
    74.86 / 76.73. Narrower, against lax's form, with the update: 128->128 at 16x16 10.70
    / 10.56, 64->64 at 32x32 16.91 / 17.48 (not swapped). In the ResNet-18 step
    (``jaxconv bench --model resnet18``'s, same-process A/Bs, time / flax.nnx's, swapped
    against JAX's form): from 256 channels, 0.901x / 0.914x channels-first and 0.893x / 0.909x
    channels-last (3 compiles, 31 interleaved runs each); earlier A/Bs read 0.854x / 0.891x
    and 0.899x / 0.917x channels-last, 0.861x / 0.873x and 0.895x / 0.894x channels-first;
    from 512 channels, 0.870x / 0.891x, 0.859x / 0.873x and 0.892x / 0.897x. Strided,
    the output gradient dilated, XLA ran it 46-71x slower (256->512 stride 2 at 8x8: 272
    against 5.9 ms): not swapped.

    Where an axis is padded by less than the kernel's length less one (an output shorter
    than the input: unpadded layers), XLA ran the swapped convolution 50-100x slower than
    its own (ms swapped / XLA's, the weight gradient alone, 3x3 unless named): 256->256
    at 18x18, batch 2, unpadded 150.3 / 2.6, padded (0, 1) 158.2 / 2.7, (0, 1) and (1, 1)
    191.7 / 3.3; 5x5 padded 1 413.6 / 4.7; 512->512 at 9x9, batch 4, unpadded 314.8 / 6.3;
    at 7x7, batch 8, 341.1 / 6.4; 256->256 at 8x8, batch 32, unpadded 492.7 / 7.1, padded
    (1, 1) and (0, 0) 586.8 / 7.9. Those keep XLA's arrangement (it read ((2, 2), (0, 1))
    at 6.4 / 731.5, where XLA's own is slow: not swapped, as lax). Padded by the kernel's
    length less one or more it held: (1, 1) 2.9 / 2.9, (0, 2) 2.8 / 2.9, (2, 2) 4.0 /
    202.1; 5x5 (2, 2) 5.6 / 5.5 (2026-12-07, sixth session; earlier sessions had
    measured "same" padding only).

    As a forward pass (forward-mode derivatives) it slides the input over the padded,
    reversed weights: correct, and not the fast way there.
    """
    size, kernel = x.shape[2:], w.shape[2:]
    axes = zip(size, kernel, params.output_size(size, kernel), params.padding)
    rows, cols = ((n - k + lo, m - 1 - lo) for n, k, m, (lo, _) in axes)
    swapped = params._replace(padding=(rows, cols))
    return lax_conv(lax.rev(w, (2, 3)), lax.rev(x, (2, 3)), swapped, dimension_numbers=SWAPPED)


def weight_input(x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """``x`` as the weight-gradient term reads it: through a channels-last fence
    (``_fence.py``) unless the roles are swapped (``swaps_roles``), so that on a CPU the
    transposing copy of the activation that the weight gradient's convolution reads is
    taken from a buffer, not fused with the activation's producer.
    A ResNet-18 training step (``jaxconv bench --model resnet18``'s, batch 32; with
    ``"eigen"``'s blocked weight gradients fenced too; ``benchmarks/fence_ab.py``, 3
    compile rounds, 21 interleaved runs, a 2-core Emerald-Rapids Xeon) took 587 against
    629 ms channels-first and 588 against 647 ms channels-last (flax.nnx 758 ms),
    compiling in the same time.

    A plan of XLA's forward pass and weight gradient reads the fenced input in both
    (``shared_input`` below), so the fence's buffer is the forward convolution's
    channels-last input too. Before, an input with no producer (a program's parameter)
    was transposed twice, for the forward pass and into the fence. A layer alone,
    forward+backward, shared / before (Zen 5 EPYC, float32, 31 interleaved rounds, two
    runs): 96->16 1x1 at 55x55, batch 8, 0.85x and 0.85x; 352->128 1x1 at 28x28, batch
    16, 0.95x and 0.93x; 192->384 1x1 stride 2 at 32x32, batch 2, 0.96x and 0.97x;
    256->8 3x3 at 28x28, batch 32, 0.95x and 0.99x; 64->64, 128->128 and 3->64 3x3
    layers 0.92-0.99x. What is left against lax's own program (1.00-1.02x on the 3x3
    layers of 64 channels and more, 1.14x, 1.32x and 1.59x on the first, second and
    fourth) is the weight gradient's transposing copy, read from the channels-last
    buffer rather than from the channels-first input. ResNet-18's step (batch 32, 2-3
    compiles, 11-21 rounds, five runs): 0.8-2.5% faster in eight of ten comparisons, both
    layouts (0.6% and 0.3% slower in the others); MobileNet-v1's level (BENCHMARKS.md,
    2026-12-07, ninth session)."""
    if swaps_roles(x.shape, w.shape, params, groups, x.dtype):
        return x
    return fenced_channels_last(x)


def read_weight_term(x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """The weight-gradient term of an input read by ``weight_input``: ``swapped_term``
    where ``swaps_roles``, else XLA's convolution."""
    if swaps_roles(x.shape, w.shape, params, groups, x.dtype):
        return swapped_term(x, w, params)
    return lax_conv(x, w, params, groups)


def weight_term(x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """The weight-gradient term: ``read_weight_term`` of ``weight_input``. Alone, a
    layer whose input is a program's parameter has no producer to keep apart, and pays
    the fence's copy: forward+backward 1.02x by median over the 20 dense layers of
    ``auto_sweep.py`` whose plan has the fence (0.92-1.20x; its 31 layers without one
    read 0.88-1.11x in the same run, the machine's noise)."""
    return read_weight_term(weight_input(x, w, params, groups), w, params, groups)


register_builtin(
    "xla",
    lax_conv,
    input_grad_conv=lax_conv,
    gradient_conv=weight_term,
    shared_input=(weight_input, read_weight_term),
    transposable=True,
    description="XLA's convolution (cuDNN on GPUs, Eigen on CPUs)",
)
