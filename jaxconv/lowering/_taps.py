"""A kernel tap's view of the input: the strided window each kernel position sees.

For a ``kh x kw`` kernel the output is the sum, over taps ``(i, j)``, of the weight at
that tap times the padded input shifted by ``(i*dh, j*dw)`` and subsampled by the
stride. The matmul and im2col plans both start from these windows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

from .._checks import ConvParams, is_static

HALF = (jnp.bfloat16, jnp.float16)


def taps(
    x: jax.Array, kernel, params: ConvParams, spatial=(-2, -1)
) -> Iterator[tuple[int, int, jax.Array]]:
    """``(i, j, window)`` for every tap of ``kernel``, zero padding ``x`` once.

    ``spatial`` names the height and width axes of ``x``; ``window`` has the shape of
    ``x`` with those axes cut to the output size ``(mh, mw)``.
    """
    axes = [a % x.ndim for a in spatial]
    config = [(0, 0, 0)] * x.ndim
    for a, (lo, hi) in zip(axes, params.padding):
        config[a] = (lo, hi, 0)
    x = pad_zeros(x, config)
    unpadded = params._replace(padding=((0, 0), (0, 0)))
    mh, mw = unpadded.output_size(tuple(x.shape[a] for a in axes), kernel)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            start, limit, step = [0] * x.ndim, list(x.shape), [1] * x.ndim
            for a, t, m, s, d in zip(axes, (i, j), (mh, mw), params.stride, params.dilation):
                start[a], limit[a], step[a] = t * d, t * d + (m - 1) * s + 1, s
            yield i, j, slice_of(x, start, limit, step)


def pad_zeros(x: jax.Array, config) -> jax.Array:
    """``lax.pad`` with zeros, or ``x`` itself where ``config`` pads nothing: a no-op pad
    or slice is still an operation to trace, differentiate and lower, and transposed it
    becomes a no-op of the other kind (a depthwise layer's training step held 20 of them)."""
    if all(_is_zero(v) for c in config for v in c):
        return x
    return lax.pad(x, jnp.zeros((), x.dtype), config)


def slice_of(x: jax.Array, start, limit, strides) -> jax.Array:
    """``lax.slice``, or ``x`` itself where the slice takes all of ``x``."""
    whole = all(_is_zero(a) for a in start) and all(s == 1 for s in strides)
    if whole and all(is_static(end, n) and end == n for end, n in zip(limit, x.shape)):
        return x
    return lax.slice(x, start, limit, strides)


def _is_zero(v) -> bool:
    return is_static(v) and v == 0


def tap_offsets(kernel, params: ConvParams) -> jax.Array:
    """``(kh*kw, 2)`` int32: each tap's row and column offset into the padded input.

    Loops over taps read these as data rather than computing them from the loop counter:
    XLA's GPU emitter failed to compile a fused dynamic slice whose start was ``t % kw``.
    """
    ij = np.indices(kernel).reshape(2, -1).T * np.array(params.dilation)
    return jnp.asarray(ij, jnp.int32)


def strided_window(x: jax.Array, start, size, strides, axes) -> jax.Array:
    """``x[start : start + size]`` (``start`` traced, never negative), then every
    ``strides``-th element along ``axes``: one ``dynamic_slice`` and at most one strided
    ``slice`` (``jnp``'s indexing and negative-index handling traced a dozen operations
    more per loop body)."""
    window = lax.dynamic_slice(x, start, size, allow_negative_indices=False)
    if all(s == 1 for s in strides):
        return window
    steps = [1] * x.ndim
    for a, s in zip(axes, strides):
        steps[a] = s
    return lax.slice(window, [0] * x.ndim, window.shape, steps)


def accumulator(dtype, params: ConvParams):
    """The dtype partial sums are kept in: ``preferred_element_type``, or float32 for
    half-precision inputs (as XLA's convolution accumulates them), else ``dtype``."""
    if params.preferred_element_type is not None:
        return params.preferred_element_type
    return jnp.float32 if dtype in HALF else dtype


def summed_in_accumulator(conv):
    """``conv`` for gradient terms of half-precision operands: computed on operands widened
    to the accumulator, the result narrowed back.

    JAX transposes a lowering's loop (over taps, over blocks) by summing the cotangent of
    a reused operand in that operand's dtype, once per iteration. In bfloat16 the matmul
    plan's input gradient then drifted to 1.4-1.9% of its largest value and the gemm
    plan's weight gradient to 2-5.8% (lax: 0.4-0.6%; the realistic shapes of
    tests/test_realistic.py). Widened, the sums run in float32 and the casts' transposes
    narrow once at the end.
    """

    def widened(x, w, params: ConvParams, groups: int = 1):
        acc = jnp.dtype(accumulator(x.dtype, params))
        if x.dtype not in HALF or acc.itemsize <= x.dtype.itemsize:
            return conv(x, w, params, groups)
        y = conv(x.astype(acc), w.astype(acc), params, groups)
        return y.astype(result_dtype(x.dtype, params))

    return widened


def result_dtype(dtype, params: ConvParams):
    return params.preferred_element_type if params.preferred_element_type is not None else dtype


def padded_copy_bytes(x_shape, w_shape, params: ConvParams, groups: int, itemsize: int) -> int:
    """Bytes of a zero-padded copy of the input, the temporary that the matmul and
    gemm lowerings make (huge paddings and dilations make it far larger than the input)."""
    n, c, h, w = x_shape
    (top, bottom), (left, right) = params.padding
    return n * c * (h + top + bottom) * (w + left + right) * itemsize


def spread_cotangent(ct: jax.Array, kernel, params: ConvParams, in_size, spatial=(-2, -1)):
    """``(spread, unit)``: an output cotangent spread by the stride (zeros between its
    pixels) and padded, so that its stride-1 correlation with the flipped kernel under
    ``unit`` (no padding, no stride, the call's dilation) has the input's size
    ``in_size``: the input gradient written as a forward pass. ``spatial`` names the
    cotangent's height and width axes."""
    axes = [a % ct.ndim for a in spatial]
    config = [(0, 0, 0)] * ct.ndim
    out = [ct.shape[a] for a in axes]
    for a, size, m, k, (lo, _), s, d in zip(
        axes, in_size, out, kernel, params.padding, params.stride, params.dilation
    ):
        config[a] = ((k - 1) * d - lo, size - 1 + lo - (m - 1) * s, s - 1)
    unit = ConvParams((1, 1), ((0, 0), (0, 0)), params.dilation, params.precision)
    return pad_zeros(ct, config), unit


def shared_one_by_one(x, w, params: ConvParams, acc):
    """``(N, C, H, W) x (O, C) -> (N, O, mh, mw)``: an ungrouped 1x1 convolution as one
    matmul shared by the batch, contracting the input's channel axis where it lies and
    transposing the ``(N, mh, mw, O)`` result, with no reshape between.

    XLA moves the channels last for the matmul and so cancels a channels-last layer's
    own transposes (``data_format="NHWC"``) around it; a reshape of the input to
    ``(N, G, C, H*W)`` first had kept both transposes as copies, in the forward pass
    and in both gradients. Measured against that form (2-core Emerald-Rapids Xeon,
    float32, medians of 15 interleaved runs, forward+backward / forward): channels-last
    layers 0.61-1.10x / 0.30-1.03x (seven layers, batch 4-32, 2x2 to 28x28);
    channels-first ones 0.77-1.07x / 0.80-1.25x (1.3x forward+backward where the input
    is the program's own argument), all far under XLA's convolution (forward
    0.47-0.66x, forward+backward 0.37-0.59x); a ConvNeXt training step 0.94x
    channels-last and 0.91x channels-first, MobileNet-v1's level (BENCHMARKS.md).
    Grouped layers keep ``one_by_one``'s batched matmul."""
    ((_, _, window),) = taps(x, (1, 1), params)
    y = lax.dot_general(  # (N, C, mh, mw) x (O, C) -> (N, mh, mw, O)
        window, w, (((1,), (1,)), ((), ())), precision=params.precision, preferred_element_type=acc
    )
    return lax.transpose(y, (0, 3, 1, 2))


def lax_primitive(name: str, lax_form, aval) -> Primitive:
    """A primitive computed, lowered and batched as ``lax_form``; ``aval`` gives its
    result's shape and dtype (without tracing ``lax_form`` at every bind). Its transposes
    are the caller's to state (``ad.defbilinear``): that is what it is for."""
    prim = Primitive(name)
    prim.def_impl(lax_form)

    def abstract(a, b, **kw):
        return jax.core.ShapedArray(*aval(a, b, **kw))

    def batched(args, dims, **kw):  # a caller's vmap: the lax form, batched by JAX
        args = [a if d is None else jnp.moveaxis(a, d, 0) for a, d in zip(args, dims)]
        in_axes = tuple(None if d is None else 0 for d in dims)
        return jax.vmap(functools.partial(lax_form, **kw), in_axes=in_axes)(*args), 0

    prim.def_abstract_eval(abstract)
    mlir.register_lowering(prim, mlir.lower_fun(lax_form, multiple_results=False))
    batching.primitive_batchers[prim] = batched
    return prim
