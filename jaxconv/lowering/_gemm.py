"""The ``"gemm"`` plan: im2col, then one matrix multiplication.

Every output pixel's receptive field (``kh*kw`` taps of ``C/groups`` channels) is
copied into one row of a patch matrix, and the convolution becomes
``patches (N*mh*mw, C*kh*kw) @ weights (C*kh*kw, O)``, batched over groups. For a 1x1
kernel the patch matrix is the (subsampled) input itself: one matmul (``one_by_one``).

Larger kernels make the patch matrix ``kh*kw`` times the input, so it is built in
blocks of whole images (or, when one image's patches are still too big, of its output
rows) inside a ``lax.map``: each block gathers the input rows it needs, zero padding
included, so no padded copy of the whole input exists either. Blocks are
rematerialised (``jax.checkpoint``), so the backward pass does not keep all patches
alive.

Within a block the patches are written one tap at a time by a loop. Stacked instead
(``kh*kw`` windows and a concatenation), each window became a kernel of its own, and
XLA's CPU backend spends about 20 ms compiling each kernel: a 64->64 3x3 layer's weight
gradient (batch 32, 32x32) compiled in 541 ms stacked against 357 ms looped (all-``"xla"``:
163 ms), and ran in the same time (79 against 84 ms; 15 interleaved runs, min of 5
compiles). The input gradient keeps the stacked windows: JAX's transpose of the loop
(each tap's window added back into the input one at a time) ran 1.8x slower on a 3->64
7x7 stride-2 stem (302 against 168 ms).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._checks import ConvParams, is_static
from ._registry import register_builtin
from ._taps import (
    accumulator,
    pad_zeros,
    padded_copy_bytes,
    result_dtype,
    shared_one_by_one,
    strided_window,
    summed_in_accumulator,
    tap_offsets,
    taps,
)


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, n + 1) if n % d == 0 and d <= max(at_most, 1))


def blocks(n: int, mh: int, row_bytes: int, budget_bytes: int) -> tuple[int, int]:
    """``(images, rows)`` per block, whose patches (``row_bytes`` per output row of one
    image) fit ``budget_bytes``: whole images first (fewer, larger blocks; a divisor of
    ``n``), rows of one image only when one image does not fit: as few blocks as fit,
    of equal rows, the last one running past the image's ``mh`` rows by fewer rows than
    there are blocks (``_in_blocks`` crops them). Rows that had to divide ``mh`` cut a
    prime height into one-row blocks: 24->144 3x3 at 73x73, batch 4, in bfloat16, 292
    blocks, its weight gradient 1.24-1.38x XLA's forward+backward.

    The budget is proportional to the batch, so the choice stays sound when the vmap
    structure calls this per image and ``jax.vmap`` batches the blocks afterwards.
    """
    if n == 0 or mh == 0:
        return max(n, 1), max(mh, 1)
    images = budget_bytes // max(mh * row_bytes, 1)
    if images >= 1:
        return _largest_divisor(n, images), mh
    count = -(-mh // max(budget_bytes // max(row_bytes, 1), 1))  # the fewest blocks that fit
    return 1, -(-mh // count)


def _matmul(patches, w_mat, params: ConvParams, acc, tap_minor: bool = False):
    """``(b, mh, mw, T, G, C) x (T, G, C, O) -> (G, b, mh, mw, O)``; with ``tap_minor``,
    ``(b, mh, mw, G, C, T) x (G, O, C, T)``, the weights' own memory order. One
    ``dot_general`` batched over groups (``jnp.einsum`` traced the same dot in several
    times the operations)."""
    dims = (((4, 5), (2, 3)), ((3,), (0,))) if tap_minor else (((3, 5), (0, 2)), ((4,), (1,)))
    return lax.dot_general(
        patches, w_mat, dims, precision=params.precision, preferred_element_type=acc
    )


PER_IMAGE_WEIGHTS = 0.1
"""A 1x1 layer multiplies per image while its weights are at most this fraction of one
image's input and output (``one_by_one``)."""


def per_image(c: int, o: int, p: int) -> bool:
    """Whether ``one_by_one`` multiplies each image of ``p`` pixels on its own (``c`` to
    ``o`` channels): otherwise one matmul shares the weights across the batch, and XLA
    moves the input's channels (and the result's) around it (``shared_one_by_one``)."""
    return o * c <= PER_IMAGE_WEIGHTS * (c + o) * p


def one_by_one(x, w, params: ConvParams, acc):
    """``(N, G, C, P) x (G, O, C) -> (N, G, O, P)``: a 1x1 convolution over ``P`` pixels,
    channels first, with no copy of the input.

    While the weights are small against one image's activations (``PER_IMAGE_WEIGHTS``)
    each image is its own matmul, the weights broadcast to every image: the forward pass
    and the weight gradient transpose nothing, and the input gradient only its result
    (JAX's transpose of the dot). Otherwise one matmul shares the weights across the
    batch and transposes its output to ``(N, G, O, P)``. Measured on a 2-core
    Sapphire-Rapids-class CPU (forward+backward, batch 32, medians of 15 interleaved
    runs, against the channels-last matmul this replaced; forward alone in brackets):

    ==================  ====================  ========  ===========
    layer (N, C, HxW)   weights / activations  per image  shared
    ==================  ====================  ========  ===========
    32->64, 32x32       0.021                 0.75x     0.95x
    96->96, 32x32       0.047                 0.71x     0.58x
    128->128, 32x32     0.062                 0.68x     0.82x
    128->128, 24x24     0.111                 0.94x     0.79x
    128->128, 20x20     0.160                 1.16x     0.92x
    128->128, 16x16     0.250                 1.20x     0.99x
    512->1024, 2x2      85                    48x       1.00x
    256->64, 56x56, N 8 0.016                 0.64x     0.80x
                                              (0.43x)   (0.52x)
    ==================  ====================  ========  ===========

    So per image up to 0.1, shared above (also 512->128, 28x28, N 8, at 0.13: 1.05x,
    per image 1.14x): at most 1.07x the channels-last matmul's time in these runs, and
    compiled temporaries at most its (the 256->64 layer's: 25 MiB against 37 MiB). On an
    H200 the channels-last matmul's forward+backward had needed 2.2x lax's temporaries
    for that layer, for transposed copies of the input and its gradient.

    The per-image matmul has one batch axis, ``N*G``. JAX transposes it into a dot giving
    each image's input gradient as ``(P, C)`` and a transpose to ``(C, P)``; XLA folds
    that pair into one dot writing ``(C, P)`` where the batch is one axis, and kept both
    with two (``N``, ``G``). That dot reads the output gradient across its rows, and on
    rows of 1024 and 4096 pixels it ran 2-10x slower (a Zen 5 EPYC, float32, batch 8,
    ms before / after: 3->64 at 32x32 1.02 / 0.10, 16->160 2.14 / 0.37, 64->256 3.71 /
    1.49; forward+backward 1.05 / 0.16, 2.10 / 0.61, 4.86 / 2.54).
    """
    n, g, c, p = x.shape
    o = w.shape[1]
    if is_static(p) and per_image(c, o, p):
        # one batch axis of N*G: (N*G, O, C) x (N*G, C, P)
        w = jnp.broadcast_to(w, (n, g, o, c)).reshape(n * g, o, c)
        y = lax.dot_general(
            w,
            x.reshape(n * g, c, p),
            (((2,), (1,)), ((0,), (0,))),
            precision=params.precision,
            preferred_element_type=acc,
        )
        return y.reshape(n, g, o, p)
    y = lax.dot_general(  # (G, O, C) x (N, G, C, P) -> (G, O, N, P)
        w, x, (((2,), (2,)), ((0,), (1,))), precision=params.precision, preferred_element_type=acc
    )
    return jnp.transpose(y, (2, 0, 1, 3))


def tiles(kernel, params: ConvParams, out=(None, None)) -> bool:
    """Whether the windows of ``kernel`` tile the input: along each axis the stride is the
    kernel's size, or the output (``out``, its size where known) is one pixel, and a
    kernel longer than 1 is not dilated. (One window over the image, a classifier written
    as a convolution, is the patch embedding of one patch.)"""
    one = all(is_static(m) and m == 1 for m in out)
    return all(
        (s == k or one) and (k == 1 or d == 1)
        for k, s, d in zip(kernel, params.stride, params.dilation)
    )


def tiled(x, w, params: ConvParams, acc):
    """``(N, G, C, H, W) x (G, O, C, kh, kw) -> (N, G, O, mh, mw)`` where the windows
    tile the input (``tiles``): the padded input, cropped to ``(mh*kh, mw*kw)``, is
    reshaped to ``(N, G, C, mh, kh, mw, kw)`` and contracted with the weights over
    ``(C, kh, kw)``: no patch is copied, and each gradient is a matmul and a reshape.

    Measured against ``"xla"``'s passes (2-core Emerald-Rapids Xeon, float32, medians of 7
    interleaved runs, forward / input gradient / weight gradient, time / ``"xla"``'s;
    ``benchmarks/plan_passes.py passes patches``): ViT's 3->768 16x16 patches at
    224x224, batch 8, 0.83x / 0.05x / 0.58x (XLA's input gradient took 182 ms, this
    9 ms); ConvNeXt's 3->96 4x4 stem 0.83x / 0.80x / 0.41x, its 96->192 and 384->768 2x2
    downsamplings 0.59-0.72x / 0.66-0.76x / 0.36-0.53x.
    """
    n, g, c, h, wd = x.shape
    kh, kw = w.shape[3:]
    mh, mw = params.output_size((h, wd), (kh, kw))
    (top, _), (left, _) = params.padding
    config = [(0, 0, 0)] * 3 + [(top, mh * kh - h - top, 0), (left, mw * kw - wd - left, 0)]
    cut = pad_zeros(x, config)
    if (mh, mw) == (1, 1) and g == 1:  # one window: (O, C*kh*kw) x (N, C*kh*kw) -> (O, N)
        y = lax.dot_general(
            w.reshape(-1, c * kh * kw),
            cut.reshape(n, c * kh * kw),
            (((1,), (1,)), ((), ())),
            precision=params.precision,
            preferred_element_type=acc,
        )
        return jnp.transpose(y).reshape(n, 1, -1, 1, 1)
    cut = cut.reshape(n, g, c, mh, kh, mw, kw)
    y = lax.dot_general(  # (G, O, C, kh, kw) x (N, G, C, mh, kh, mw, kw) -> (G, O, N, mh, mw)
        w,
        cut,
        (((2, 3, 4), (2, 4, 6)), ((0,), (1,))),
        precision=params.precision,
        preferred_element_type=acc,
    )
    return jnp.transpose(y, (2, 0, 1, 3, 4))


def _looped_patches(xb, kernel, params: ConvParams):
    """``(b, span, W, G, C) -> (b, rows, mw, kh*kw, G, C)``: the windows of every tap,
    each written into the patch matrix by one step of a loop (padding on ``W`` only)."""
    (left, right) = params.padding[1]
    config = [(0, 0, 0)] * xb.ndim
    config[2] = (left, right, 0)
    xp = pad_zeros(xb, config)
    b, span_h, span_w, g, c = xp.shape
    unpadded = params._replace(padding=((0, 0), (0, 0)))
    rows, mw = unpadded.output_size((span_h, span_w), kernel)
    sh, sw = params.stride
    window_span = ((rows - 1) * sh + 1, (mw - 1) * sw + 1)

    def put(patches, tap):
        t, offsets = tap
        zero = jnp.zeros((), offsets.dtype)
        start = (zero, offsets[0], offsets[1], zero, zero)
        window = strided_window(xp, start, (b, *window_span, g, c), (sh, sw), (1, 2))
        at = (zero, zero, zero, t, zero, zero)
        update = lax.expand_dims(window, (3,))
        return lax.dynamic_update_slice(patches, update, at, allow_negative_indices=False), None

    n_taps = kernel[0] * kernel[1]
    patches = jnp.zeros((b, rows, mw, n_taps, g, c), xb.dtype)
    tap_index = jnp.arange(n_taps, dtype=jnp.int32)
    return lax.scan(put, patches, (tap_index, tap_offsets(kernel, params)))[0]


def _in_blocks(
    x, w_mat, kernel, params: ConvParams, acc, b: int, rows: int, tap_minor: bool, looped: bool
):
    """``lax.map`` over blocks of ``b`` images and ``rows`` output rows of ``x``
    ``(N, G, C, H, W)``. Each block gathers its input rows (zero padding included) and
    turns only them channels-last, so no whole-input copy is made."""
    n, g, cg, h, wd = x.shape
    mh, mw = params.output_size((h, wd), kernel)
    (top, _), (left, right) = params.padding
    (sh, _), (dh, _) = params.stride, params.dilation
    span = (rows - 1) * sh + (kernel[0] - 1) * dh + 1  # input rows one block reads
    row_blocks = -(-mh // rows)  # the last block may run past the image: cropped below
    inner = params._replace(padding=((0, 0), (left, right)))

    @jax.checkpoint
    def block(k):
        if row_blocks == 1:  # whole images: their rows, zero padded (or cropped) to span
            images = lax.dynamic_slice_in_dim(x, k * b, b, allow_negative_indices=False)
            config = [(0, 0, 0)] * 3 + [(top, span - h - top, 0), (0, 0, 0)]
            xb = pad_zeros(images, config)
        else:
            images = lax.dynamic_slice_in_dim(x, (k // row_blocks) * b, b, axis=0)
            index = (k % row_blocks) * rows * sh - top + jnp.arange(span)
            index = jnp.where(index < 0, h, index)  # above the image: out of range, so zero
            xb = jnp.take(images, index, axis=3, mode="fill", fill_value=0)
        xb = jnp.transpose(xb, (0, 3, 4, 1, 2))  # (b, span, W, G, C)
        if looped and not tap_minor:
            patches = _looped_patches(xb, kernel, inner)
        else:  # tap-minor patches would be written one element per tap: stacked
            windows = [win for _, _, win in taps(xb, kernel, inner, spatial=(1, 2))]
            patches = jnp.stack(windows, axis=-1 if tap_minor else 3)
        y = _matmul(patches, w_mat, params, acc, tap_minor)  # (G, b, rows, mw, O)
        return jnp.transpose(y, (1, 0, 4, 2, 3))  # (b, G, O, rows, mw)

    if (b, rows) == (n, mh):
        return block(0)
    ys = lax.map(block, jnp.arange((n // b) * row_blocks))  # (blocks, b, G, O, rows, mw)
    ys = ys.reshape(n // b, row_blocks, b, g, -1, rows, mw)
    ys = jnp.transpose(ys, (0, 2, 3, 4, 1, 5, 6)).reshape(n, g, -1, row_blocks * rows, mw)
    return ys[..., :mh, :]


def gemm_conv(
    x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1, input_grad: bool = False
) -> jax.Array:
    """``(N, C, H, W) x (O, C/groups, kh, kw) -> (N, O, mh, mw)`` by im2col and a GEMM.

    ``input_grad``: the call computes an input-gradient term, which JAX transposes with
    respect to ``x``; the patches are then stacked rather than looped (module notes).
    """
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    mh, mw = params.output_size((h, wd), (kh, kw))
    acc = accumulator(x.dtype, params)
    itemsize = x.dtype.itemsize
    in_out_bytes = n * (c * h * wd + o * mh * mw) * itemsize
    static = is_static(n, h, wd)
    xg = x.reshape(n, groups, cg, h, wd)
    if static and n * mh * mw == 0:  # nothing to compute (a loop over zero blocks cannot be built)
        y = jnp.zeros((n, o, mh, mw), acc)
    elif kh * kw == 1 and groups == 1 and not (is_static(mh, mw) and per_image(c, o, mh * mw)):
        y = shared_one_by_one(x, w.reshape(o, c), params, acc)
    elif kh * kw == 1:  # the patches are the (subsampled) input: one matmul
        ((_, _, window),) = taps(xg, (1, 1), params)
        w_groups = w.reshape(groups, o // groups, cg)
        y = one_by_one(window.reshape(n, groups, cg, mh * mw), w_groups, params, acc)
        y = y.reshape(n, o, mh, mw)
    elif tiles((kh, kw), params, (mh, mw)) and is_static(h, wd):  # the input, reshaped
        y = tiled(xg, w.reshape(groups, o // groups, cg, kh, kw), params, acc)
        y = y.reshape(n, o, mh, mw)
    else:
        # Tap-major weights stack the patches faster, but are a copy of the weights: when
        # those outweigh the activations (deep layers, small images) keep their own order.
        tap_minor = static and w.size * itemsize > in_out_bytes // 2
        w_mat = w.reshape(groups, o // groups, cg, kh * kw)
        if not tap_minor:
            w_mat = jnp.transpose(w_mat, (3, 0, 2, 1))
        row_bytes = 2 * mw * kh * kw * c * itemsize  # the windows, then the patches
        # patches up to half the activations, or as large as the weights: each block
        # multiplies all of them, and wide layers on small images would otherwise run
        # one image at a time (symbolic sizes, jax.export: one block, size unknown here)
        if static:
            budget = max(in_out_bytes // 2, w.size * itemsize)
            b, rows = blocks(n, mh, row_bytes, budget)
        else:
            b, rows = n, mh
        looped = not input_grad
        y = _in_blocks(xg, w_mat, (kh, kw), params, acc, b, rows, tap_minor, looped)
        y = y.reshape(n, o, mh, mw)
    return y.astype(result_dtype(x.dtype, params))


register_builtin(
    "gemm",
    gemm_conv,
    transposable=True,
    gradient_conv=summed_in_accumulator(gemm_conv),
    input_grad_conv=summed_in_accumulator(functools.partial(gemm_conv, input_grad=True)),
    workspace=padded_copy_bytes,
    description="im2col in blocks of images or output rows, then one GEMM",
)
