"""The ``"matmul"`` plan: a ``kh x kw`` convolution is ``kh*kw`` 1x1 convolutions, summed.

Each tap's 1x1 convolution is a matmul over channels (the lesson's "1x1 = a fully
connected layer at every pixel") applied to the tap's shifted window. A 1x1 kernel is
therefore exactly one matmul. With groups, each matmul is batched over the groups; with
one input channel per group (depthwise) it is an elementwise product, and in a forward
pass all taps fuse into one elementwise loop (beyond 5x5, one loop per kernel row:
``MAX_FUSED_TAPS``).

Otherwise the taps run in a ``lax.scan`` whose body is rematerialised
(``jax.checkpoint``): one shifted window exists at a time, forward and backward, so the
plan needs about as much temporary memory as XLA's convolution. JAX differentiates the
plan by itself: every step is linear in each operand, and the transposed steps are
matmuls again (the weight gradient of a tap is one ``(co, N*mh*mw) @ (N*mh*mw, ci)``
matmul), which is what makes it fast on a CPU.

One exception: the depthwise input gradient. JAX's transpose of either form above (the
scan, or the fused taps as a sum of nine zero-padded windows) ran 2-3x slower than the
same gradient written as a forward pass (the cotangent spread by the stride, padded, and
correlated with the flipped kernel in one fused loop). So input-gradient terms bind a
primitive whose transpose with respect to the input is that forward pass
(``matmul_input_grad``, below).

The depthwise weight gradient is the other exception: JAX's transpose sums each tap's
products in a reduction of its own, where one variadic reduction computes all taps in
one pass (up to 5x5; beyond, one per kernel row, in a loop over the rows). No
transposable lax form says that, so weight-gradient terms bind a primitive whose
transpose rule is that reduction (``matmul_weight_grad``, below).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.interpreters import ad

from .._checks import ConvParams
from ._fence import fence, pays
from ._registry import register_builtin
from ._taps import (
    accumulator,
    lax_primitive,
    pad_zeros,
    padded_copy_bytes,
    result_dtype,
    shared_one_by_one,
    spread_cotangent,
    strided_window,
    summed_in_accumulator,
    tap_offsets,
    taps,
)

# Depthwise forward taps are unrolled into one fused loop up to 9x9. Measured on the
# 2-core CPU, (8, 64, 56, 56), float32, compile / run: 9x9 unrolled 0.84 s / 9.3 ms,
# looped 0.36 s / 16.7 ms; 15x15 2.43 s / 29 ms against 0.39 s / 53 ms; 31x31 9.8 s /
# 1043 ms against 0.35 s / 329 ms (lax: 0.34 s / 2841 ms). Larger kernels (of more than
# one row) loop over the kernel's rows, each row's taps fused (``_fused_rows``), in
# every dtype, and their gradients are rows too (``_tap_sums``,
# ``_transposed_depthwise``). Against the loop over taps (Emerald-Rapids Xeon, 2 cores,
# medians of 5 interleaved runs, forward / forward+backward): float32 13x13 on
# (8, 64, 56, 56) 0.19x / 0.22x, 11x11 on (4, 96, 56, 56) 0.17x / 0.17x, 31x31 on
# (8, 128, 28, 28) 0.19x / 0.22x and on (8, 256, 14, 14) 0.14x / 0.15x, compiling in
# 0.3-0.6 / 0.4-1.1 s against 0.2 / 0.6 s; bfloat16 0.11-0.19x / 0.13-0.24x, compiling
# in 0.6-1.4 / 0.7-1.4 s against 0.2-0.3 / 0.6-0.7 s.
MAX_UNROLLED_TAPS = 81
# Beyond 5x5, float32 and float64 taps run in a loop over the kernel's rows, each row's
# taps fused (``_fused_rows``). XLA's CPU fusion computes a fused depthwise forward pass
# again inside each of its consumers (the next layer's input layout, the activation's
# mask, a weight gradient's operand); a loop's result is computed once. A ConvNeXt
# training step (``jaxconv bench --model convnext``: ten 7x7 depthwise layers, batch 32;
# 4 compile rounds, 11 interleaved runs, an Emerald-Rapids Xeon) took 217 against 276 ms
# (flax.nnx 797 ms) and compiled in 4.1 against 5.7 s (flax.nnx 2.7 s). Alone, forward /
# forward+backward, rows / unrolled: 7x7 0.88-1.27x / 0.96-1.11x over six layers (batch
# 4-32, 4x4 to 56x56, one of stride 2), 9x9 0.65x / 0.90x. 5x5 lost alone (1.10-2.22x /
# 1.06-1.43x, compiling slower too) and was level in networks (the same ConvNeXt and
# MobileNet-v1 with 5x5 depthwise kernels: steps 0.98x and 1.00x, compile 0.93x and
# 1.04x), so it stays unrolled, as does half precision: 7x7 read 0.29-2.04x /
# 0.57-1.53x alone (2.04x of stride 2), and the ConvNeXt step in bfloat16 190.8 against
# 193.2 ms, compile 5.57 against 5.51 s.
MAX_FUSED_TAPS = 25


def _one_by_one(window, w_tap, acc, precision):
    """``(N, G, C, mh, mw) x (G, O, C) -> (N, G, O, mh, mw)``: a matmul over ``C``.

    With one input channel per group (depthwise) it is a product, written in ``lax``
    operations: each operation is traced, linearised, transposed and lowered again in
    every derivative, and ``jnp``'s indexing and broadcasting took 66 operations for a
    fused 3x3 kernel where 41 do (its trace: 8.1 -> 5.5 ms).
    """
    if w_tap.shape[2] != 1:
        return jnp.einsum(
            "goc,ngchw->ngohw", w_tap, window, precision=precision, preferred_element_type=acc
        )
    n, g, _, mh, mw = window.shape
    shape = (n, g, w_tap.shape[1], mh, mw)
    window = lax.convert_element_type(window, acc)
    if shape[2] > 1:  # a channel multiplier: each input channel feeds several outputs
        window = lax.broadcast_in_dim(window, shape, (0, 1, 2, 3, 4))
    return lax.mul(
        window, lax.broadcast_in_dim(lax.convert_element_type(w_tap, acc), shape, (1, 2, 3))
    )


def _fused_products(xg, wg, params: ConvParams, acc):
    """Depthwise: ``(N, G, 1, H, W) x (G, O, 1, kh, kw) -> (N, G, O, mh, mw)``, the sum over
    taps of each window times its weight, which XLA fuses into one loop."""
    g, o, _, kh, kw = wg.shape
    w_taps = lax.split(wg.reshape(g, o, kh * kw), [1] * (kh * kw), 2)  # (G, O, 1) each
    terms = (
        _one_by_one(window, w_tap, acc, params.precision)
        for (_, _, window), w_tap in zip(taps(xg, (kh, kw), params), w_taps)
    )
    return functools.reduce(lax.add, terms)


def _fused_rows(xg, wg, params: ConvParams, acc):
    """Depthwise, as ``_fused_products``: a ``lax.scan`` over the kernel's rows, whose
    body fuses one row's taps, each window and each weight sliced where it lies
    (``MAX_FUSED_TAPS``).

    The loop's state has no axis of size 1 (``(N, G, H, W)`` input, ``(G*O, kh, kw)``
    weights, ``(N, G*O, mh, mw)`` sums) and counts its own rows. XLA's CPU layouts may
    order an axis of size 1 anywhere, and each operand entering the loop in another
    order than the loop's, though the same bytes, was copied by a kernel of its own; the
    weights' rows moved to the front for the scan were a transposed copy too, and the
    rows' indices an ``iota`` kernel. A depthwise 7x7 or 9x9 layer's forward and backward
    pass (float32, eight layers of ConvNeXt and others, batch 8-32) compiled 19 kernels
    instead of 28, in 0.63-0.84x the time, and ran in 0.75-0.98x (BENCHMARKS.md)."""
    n, g, _, h, wd = xg.shape
    _, o, _, kh, kw = wg.shape
    mh, mw = params.output_size((h, wd), (kh, kw))
    (top, bottom), (left, right) = params.padding
    (sh, sw), (dh, dw) = params.stride, params.dilation
    x = pad_zeros(
        lax.reshape(xg, (n, g, h, wd)), ((0, 0, 0),) * 2 + ((top, bottom, 0), (left, right, 0))
    )
    w = lax.reshape(wg, (g * o, kh, kw))
    span = ((mh - 1) * sh + 1, (mw - 1) * sw + 1)
    zero = jnp.zeros((), jnp.int32)
    columns = [jnp.full((), j * dw, jnp.int32) for j in range(kw)]

    def product(window, w_tap):  # (N, G, mh, mw) x (G*O, 1, 1) -> (N, G*O, mh, mw)
        window = lax.convert_element_type(window, acc)
        if o > 1:  # a channel multiplier: each input channel feeds several outputs
            window = lax.broadcast_in_dim(window, (n, g, o, mh, mw), (0, 1, 3, 4))
            window = lax.reshape(window, (n, g * o, mh, mw))
        w_tap = lax.convert_element_type(lax.reshape(w_tap, (g * o,)), acc)
        return lax.mul(window, lax.broadcast_in_dim(w_tap, window.shape, (1,)))

    def row(carry, _):
        y, index = carry
        w_row = lax.dynamic_slice(
            w, (zero, index, zero), (g * o, 1, kw), allow_negative_indices=False
        )
        windows = (
            strided_window(x, (zero, zero, index * dh, column), (n, g, *span), (sh, sw), (2, 3))
            for column in columns
        )
        terms = map(product, windows, lax.split(w_row, [1] * kw, 2))
        return (lax.add(y, functools.reduce(lax.add, terms)), index + 1), None

    y0 = jnp.zeros((n, g * o, mh, mw), acc)
    y = lax.scan(row, (y0, zero), None, length=kh)[0][0]
    return lax.reshape(y, (n, g, o, mh, mw))


def _scan_taps(xg, wg, params: ConvParams, acc):
    """The sum over taps as a loop: one window at a time, recomputed when differentiated."""
    n, g, cg, h, wd = xg.shape
    kh, kw = wg.shape[-2:]
    mh, mw = params.output_size((h, wd), (kh, kw))
    (top, bottom), (left, right) = params.padding
    sh, sw = params.stride
    xp = pad_zeros(xg, ((0, 0, 0),) * 3 + ((top, bottom, 0), (left, right, 0)))
    span = ((mh - 1) * sh + 1, (mw - 1) * sw + 1)
    w_taps = jnp.moveaxis(wg.reshape(*wg.shape[:3], kh * kw), -1, 0)  # (T, G, O, C)

    @jax.checkpoint
    def tap(y, offsets_and_w):
        offsets, w_tap = offsets_and_w
        zero = jnp.zeros((), offsets.dtype)  # index dtypes must agree (x64 or not)
        start = (zero, zero, zero, offsets[0], offsets[1])
        window = strided_window(xp, start, (n, g, cg, *span), (sh, sw), (3, 4))
        return y + _one_by_one(window, w_tap, acc, params.precision), None

    y0 = jnp.zeros((n, g, wg.shape[1], mh, mw), acc)
    return lax.scan(tap, y0, (tap_offsets((kh, kw), params), w_taps))[0]


def _depthwise_form(dtype, w_shape, gradient: bool) -> str | None:
    """How ``matmul_conv`` computes a depthwise call: ``"products"`` (unrolled, fused),
    ``"rows"`` (a loop over fused rows), or ``None`` (not depthwise, a gradient term, or
    a single row of more than ``MAX_UNROLLED_TAPS`` taps: the loop over taps)."""
    _, cg, kh, kw = w_shape
    if cg != 1 or gradient or kw > MAX_UNROLLED_TAPS:
        return None
    if kh * kw > MAX_UNROLLED_TAPS:  # in every dtype (``MAX_UNROLLED_TAPS``)
        return "rows" if kh > 1 else None
    rows = kh > 1 and kh * kw > MAX_FUSED_TAPS and jnp.dtype(dtype).itemsize > 2
    return "rows" if rows else "products"


def matmul_conv(
    x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1, gradient: bool = False
) -> jax.Array:
    """``(N, C, H, W) x (O, C/groups, kh, kw) -> (N, O, mh, mw)`` as summed 1x1 convolutions.

    ``gradient``: the call computes a gradient term, which JAX transposes; elementwise
    (depthwise) taps then run in the loop too, since their transposed, unrolled form
    would keep every tap's window alive at once. Depthwise kernels beyond 5x5 loop over
    fused rows of taps (``MAX_FUSED_TAPS``; in half precision beyond 9x9,
    ``MAX_UNROLLED_TAPS``); a single row of more than 81 taps loops over its taps.
    """
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    acc = accumulator(x.dtype, params)
    xg = x.reshape(n, groups, cg, h, wd)
    wg = w.reshape(groups, o // groups, cg, kh, kw)
    form = _depthwise_form(x.dtype, w.shape, gradient)
    if form == "rows":  # a loop over fused rows of taps
        y = _fused_rows(xg, wg, params, acc)
    elif form == "products":  # products, fused into one loop
        y = _fused_products(xg, wg, params, acc)
    elif kh * kw == 1 and groups == 1:
        # one matmul, with no axis of one group. Reshaped to (N, 1, C, H, W) as below, a
        # channels-last layer's input (and its cotangent) was copied channels-first and
        # back, its weights twice: XLA lays the operand of a reshape out in its logical
        # order. Training steps (``jaxconv bench --model``'s, batch 32; four same-process
        # A/Bs of 3 compile rounds and 15 interleaved steps: MobileNet-v1 in mixed
        # precision channels-last and channels-first and in float32 channels-first,
        # ConvNeXt in float32 channels-last) compiled 6-18 fewer kernels, in 0.86-1.00x
        # the time, and ran in 0.96-0.99x.
        y = shared_one_by_one(x, lax.reshape(w, (o, cg)), params, acc)
    elif kh * kw == 1:  # one matmul
        ((_, _, window),) = taps(xg, (1, 1), params)
        y = _one_by_one(window, wg[..., 0, 0], acc, params.precision)
    else:
        y = _scan_taps(xg, wg, params, acc)
    return y.reshape(n, o, *y.shape[-2:]).astype(result_dtype(x.dtype, params))


def _transposed_depthwise(ct, w, params: ConvParams, groups: int, in_size, dtype):
    """The input gradient of a depthwise convolution as a forward pass: the cotangent
    ``(N, O, mh, mw)``, spread by the stride and padded, through the fused depthwise taps
    of ``matmul_conv`` with the flipped kernel, then summed over each group's outputs."""
    n, o = ct.shape[:2]
    spread, unit = spread_cotangent(ct, w.shape[-2:], params, in_size)
    per_output = matmul_conv(spread, lax.rev(w, (2, 3)), unit, groups=o)  # (N, O, H, W)
    return jnp.sum(per_output.reshape(n, groups, o // groups, *in_size), axis=2).astype(dtype)


# --------------------------------------------------------------------------- depthwise
# weight gradient. JAX's transpose of the taps (in the loop, or unrolled) sums each tap's
# products apart; one variadic reduction computes all of them in one pass over the
# cotangent, and no transposable form expressed that (stacked windows were materialised).
# Measured on the 2-core CPU, 3x3, batch 32, float32, run / compile (medians of 3x20
# runs, min of 3 compiles), against the loop: 32 channels at 32x32 1.6-2.8 ms / 128-222
# ms against 5.1-7.7 / 282-458; 128 at 16x16 2.0-4.1 / 127-187 against 5.2-7.7 / 276-390;
# 512 at 4x4 0.8-2.1 / 133-154 against 3.1-4.2 / 288-358; (8, 64, 112, 112) 13 / 129
# against 96 / 406. So a depthwise weight-gradient term binds a primitive, ``_taps_p``:
# the fused taps, linear in each operand, whose transpose with respect to the weights is
# that reduction (``_tap_sums_p``, itself linear in each operand, with rules of its own,
# so that every derivative order has one). Under a caller's ``vmap`` both primitives
# fall back to their lax forms, which JAX batches. Input-gradient terms bind ``_taps_p``
# too (``matmul_input_grad``), for its transpose with respect to the input.
#
# Larger kernels bind it as well. The reduction is then
# one variadic reduction up to 5x5 (``MAX_REDUCED_TAPS``), and beyond a loop over the
# kernel's rows, each step one reduction of that row's taps. Measured on an
# Emerald-Rapids Xeon (2 cores, float32, medians of 9 interleaved runs), the weight
# gradient alone / forward+backward, time against the loop over taps:
# - 7x7 (ConvNeXt's four stages, batch 32, 16x16 down to 2x2; 96 at 56x56 and 384 at
#   14x14, batch 8): rows 0.10-0.40x / 0.19-0.58x; one reduction 0.10-0.53x /
#   0.19-0.80x;
# - 9x9 (64 at 56x56, batch 8): rows 0.29x / 0.48x, compiling in 197 / 454 ms against
#   the loop's 239 / 499; one reduction 0.61x / 0.62x, compiling in 390 / 641 ms;
# - 5x5 (240 at 28x28, 144 at 56x56 stride 2, 672 at 14x14, batch 8; 64 at 32x32, batch
#   32): one reduction 0.26-0.38x / 0.38-0.58x; rows 0.37-0.47x / 0.54-0.62x;
# - 3x3 (32 at 112x112, batch 4): rows 1.68x / 1.52x the one reduction.
# In bfloat16 (7 interleaved runs) one reduction took 1.18-1.49x the rows' time for the
# 7x7 layers above but the 2x2 one, weight gradient alone, and 0.91-1.22x forward+
# backward; 9x9: 1.72x / 1.23x. So the rule is the same in both dtypes.
# A ConvNeXt training step (``jaxconv bench --model convnext``, batch 32) took 0.72-0.75x
# the time with rows (bfloat16 0.85x), compiling in 0.89-1.15x (BENCHMARKS.md).
MAX_REDUCED_TAPS = 25


def _tap_products(x, w, *, params: ConvParams, groups: int, kernel):
    """``_taps_p``'s lax form: the fused depthwise taps (``matmul_conv``'s forward)."""
    return matmul_conv(x, w, params, groups)


def _summed(windows, ctg) -> jax.Array:
    """``(G, O/G, T)``: each of ``T`` windows ``(N, G, 1, mh, mw)`` times the cotangent
    ``(N, G, O/G, mh, mw)``, summed over images and pixels in one variadic reduction;
    ``(G, T)`` for windows and cotangent without the axis of size 1 (``_row_sums``)."""
    dims = tuple(range(ctg.ndim)) if windows[0].ndim == ctg.ndim else (0, 1, 3, 4)
    products = [lax.mul(lax.broadcast_in_dim(w, ctg.shape, dims), ctg) for w in windows]
    zeros = [jnp.zeros((), ctg.dtype)] * len(products)
    pixels = (0, ctg.ndim - 2, ctg.ndim - 1)
    sums = lax.reduce(products, zeros, lambda a, b: tuple(map(lax.add, a, b)), pixels)
    return jnp.stack(sums, axis=-1)


def _row_sums(xg, ctg, kernel, params: ConvParams) -> jax.Array:
    """``(G, O/G, kh, kw)``: ``_summed`` a kernel row at a time, in a loop over rows; each
    step cuts the band of padded input rows its row's windows read and writes its row of
    sums in place. As in ``_fused_rows``, the loop's state has no axis of size 1 (the
    input ``(N, G, H, W)``; with one output a group, the cotangent ``(N, G, mh, mw)``
    and the sums ``(G, kh, kw)``) and counts its rows: stacked by the scan, the rows of
    sums were moved to their place by a transposed copy."""
    n, g, o, mh, mw = ctg.shape
    kh, kw = kernel
    (top, bottom), (left, right) = params.padding
    x = lax.reshape(xg, (n, g, *xg.shape[3:]))
    xp = pad_zeros(x, ((0, 0, 0),) * 2 + ((top, bottom, 0), (left, right, 0)))
    band = (n, g, (mh - 1) * params.stride[0] + 1, xp.shape[3])
    in_band = params._replace(padding=((0, 0), (0, 0)))
    ct = lax.reshape(ctg, (n, g, mh, mw)) if o == 1 else ctg
    sums_shape = (g, kh, kw) if o == 1 else (g, o, kh, kw)

    def row(carry, _):
        sums, index = carry
        zero = jnp.zeros((), index.dtype)
        rows = lax.dynamic_slice(
            xp, (zero, zero, index * params.dilation[0], zero), band, allow_negative_indices=False
        )
        summed = _summed([w for _, _, w in taps(rows, (1, kw), in_band)], ct)  # (G[, O], kw)
        update = lax.expand_dims(summed, (summed.ndim - 1,))
        at = (zero,) * (len(sums_shape) - 2) + (index, zero)
        return (lax.dynamic_update_slice(sums, update, at), index + 1), None

    init = (jnp.zeros(sums_shape, ctg.dtype), jnp.zeros((), jnp.int32))
    sums = lax.scan(row, init, None, length=kh)[0][0]
    return lax.reshape(sums, (g, o, kh, kw))


def _tap_sums(x, ct, *, params: ConvParams, groups: int, kernel):
    """``_tap_sums_p``'s lax form, ``(N, G, H, W) x (N, O, mh, mw) -> (O, 1, kh, kw)``:
    each tap's window times the cotangent, summed over images and pixels: all taps in
    one variadic reduction, or beyond ``MAX_REDUCED_TAPS`` a row of taps at a time."""
    n, o, mh, mw = ct.shape
    acc = accumulator(x.dtype, params)
    xg = lax.convert_element_type(x.reshape(n, groups, 1, *x.shape[2:]), acc)
    ctg = lax.convert_element_type(ct.reshape(n, groups, o // groups, mh, mw), acc)
    if kernel[0] * kernel[1] <= MAX_REDUCED_TAPS:
        sums = _summed([w for _, _, w in taps(xg, kernel, params)], ctg)  # (G, O/G, T)
    else:
        sums = _row_sums(xg, ctg, kernel, params)  # (G, O/G, kh, kw)
    return sums.reshape(o, 1, *kernel).astype(x.dtype)


def _taps_aval(x, w, *, params: ConvParams, groups: int, kernel):
    mh, mw = params.output_size(x.shape[2:], kernel)
    return (x.shape[0], w.shape[0], mh, mw), result_dtype(x.dtype, params)


def _tap_sums_aval(x, ct, *, params: ConvParams, groups: int, kernel):
    return (ct.shape[1], 1, *kernel), x.dtype


_taps_p = lax_primitive("jaxconv_depthwise_taps", _tap_products, _taps_aval)  # (x, w) -> y
# (x, ct) -> dw
_tap_sums_p = lax_primitive("jaxconv_depthwise_tap_sums", _tap_sums, _tap_sums_aval)


def _input_cotangent(ct, x, w, *, params: ConvParams, groups: int, kernel):
    """The taps' transpose with respect to the input ``x`` (undefined: its aval only)."""
    return _transposed_depthwise(ct, w, params, groups, x.aval.shape[2:], x.aval.dtype)


# y = taps(x, w): x^T y -> input cotangent, w^T y -> tap sums.
ad.defbilinear(_taps_p, _input_cotangent, lambda ct, x, w, **kw: _tap_sums_p.bind(x, ct, **kw))
# dw = tap_sums(x, ct): x^T dw -> the same input cotangent, ct^T dw -> the taps.
ad.defbilinear(
    _tap_sums_p,
    lambda dw, x, ct, **kw: _input_cotangent(ct, x, dw, **kw),
    lambda dw, x, ct, **kw: _taps_p.bind(x, dw, **kw),
)


def matmul_input_grad(x, w, params: ConvParams, groups: int = 1) -> jax.Array:
    """``matmul_conv`` for input-gradient terms, which JAX transposes with respect to
    ``x``: depthwise (fused taps), ``_taps_p``, whose transpose is the gradient written
    as a forward pass (``_transposed_depthwise``). JAX's transpose of the scan over taps
    ran 2-3x slower and compiled up to 1.4x slower; its transpose of the fused taps (a
    sum of nine zero-padded windows) ran up to 1.8x slower than the scan (BENCHMARKS.md).
    The primitive states that transpose directly, where the same term written as the
    transpose of that forward pass (transposed back by JAX) traced its operations twice.
    """
    if _depthwise_form(x.dtype, w.shape, gradient=False) is None:
        return matmul_conv(x, w, params, groups, gradient=True)
    return _taps_p.bind(x, w, params=params, groups=groups, kernel=w.shape[2:])


def matmul_weight_grad(x, w, params: ConvParams, groups: int = 1) -> jax.Array:
    """``matmul_conv`` for weight-gradient terms, which JAX transposes with respect to
    ``w``: depthwise kernels bind ``_taps_p``, whose transpose is one reduction (beyond
    5x5, one a kernel row: ``MAX_REDUCED_TAPS``); others, and a single row of more than
    ``MAX_UNROLLED_TAPS`` taps, run the taps in the loop."""
    if _depthwise_form(x.dtype, w.shape, gradient=False) is None:
        return matmul_conv(x, w, params, groups, gradient=True)
    return _taps_p.bind(x, w, params=params, groups=groups, kernel=w.shape[2:])


def matmul_forward(x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """The forward pass: ``matmul_conv``, whose unrolled depthwise taps go through a fence
    (``_fence.py``), so that on a CPU they are computed once into a buffer. XLA's CPU
    fusion computed them again inside each consumer (the activation, the next layer's
    input, the activation's mask in the backward pass). A MobileNet-v1 training step
    (``jaxconv bench --model mobilenet``'s, batch 32; 21 interleaved runs, three A/Bs, one
    of them ``benchmarks/fence_ab.py``; a 2-core Emerald-Rapids Xeon) took 106-116
    against 114-122 ms channels-first and 111-115 against 114-120 ms channels-last
    (0.91-0.97x), with 121 against 102 MiB of temporaries (flax.nnx 180 MiB), and about
    0.1 s more to compile. Depthwise layers alone, forward and backward, took 0.52-0.94x
    the unfenced time (3x3 and 5x5 on 96-384 channels). The loop over rows of larger
    kernels (``MAX_FUSED_TAPS``) is computed once already. Float32 results are fenced
    (``_fence.pays``), and half-precision ones beyond ``MAX_FUSED_TAPS``, which stay
    unrolled: each of ConvNeXt's 7x7 layers in bfloat16 was one 49-tap kernel inside two
    consumers, 180-190 ms of CPU each to compile (``benchmarks/kernel_compile.py``).
    Fenced, its mixed-precision training step took 0.80-0.81x the time (111 against 137
    ms channels-last, 122 against 152 channels-first; two same-process A/Bs of 3 compile
    rounds and 15 interleaved steps), compiling 30 more kernels in 0.95-1.02x the time."""
    y = matmul_conv(x, w, params, groups)
    taps_ = w.shape[2] * w.shape[3]
    products = _depthwise_form(x.dtype, w.shape, gradient=False) == "products"
    fenced = products and taps_ > 1 and (pays(y.dtype) or taps_ > MAX_FUSED_TAPS)
    return fence(y, w) if fenced else y


register_builtin(
    "matmul",
    matmul_forward,
    transposable=True,
    workspace=padded_copy_bytes,
    gradient_conv=summed_in_accumulator(matmul_weight_grad),
    input_grad_conv=summed_in_accumulator(matmul_input_grad),
    description="kh*kw shifted 1x1 convolutions, each a matmul over channels",
)
