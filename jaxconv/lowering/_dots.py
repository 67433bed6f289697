"""The ``"dots"`` plan: a convolution and both its gradients as one matmul each, on
channels-last operands in the input's dtype (half precision summed in float32).

Two forms. **Row-stacked** (a kernel of more than one tap at a width stride of 1; the
forward pass and the input gradient from 16 input channels a group: ``stacks_rows``):
the input rows each kernel row sees, side by side, ``(N, mh, Wp, kh*C)`` (``Wp`` the
padded width), times the kernel as a ``(kh*C, kw*O)`` matrix gives every kernel
column's products at every padded column; column ``j``'s, shifted left by ``j*dw``, are
summed. The weight gradient is the output gradient once per kernel column, each shifted
right by ``j*dw`` and stacked, ``(kw*O, N*mh*Wp)``, times the same row patches. The
input gradient is the same kernel matrix times that stacked gradient, every kernel row's
products spread by the height stride and put in place by a pad, the pads summed. A third of
im2col's patches for a 3x3 kernel: 0.19-0.90x its time in a forward pass
(``ROWS_MIN_CHANNELS``' notes).

**im2col** (the rest): every tap's window side by side, ``(N, mh, mw, kh*kw*C)``, times
the kernel as a ``(kh*kw*C, O)`` matrix (a 1x1 kernel: the input itself). The weight
gradient is the output gradient times the same patches, summed over images and pixels.
The input gradient is the output gradient times the kernel, every tap's products at the
output's size, each spread by the stride and shifted into place by a pad, the pads
summed in one loop (col2im).

Each matmul is one ``dot_general`` whose operands stay in the input's dtype and whose
products are summed in the accumulator's (float32 for half precision), as are the
shifted terms; with groups, batched over them.

Why. jaxlib 0.10.2's CPU backend converts a bfloat16 convolution to float32, but hands a
bfloat16 dot with a float32 result to YNNPACK as it is, which runs it on the CPU's
bfloat16 instructions: on a Xeon with AMX at 755-942 GFLOP/s against 220 in float32, on
an EPYC with AVX512-BF16 (Zen 5, 2 cores) at 748 against 415 (``benchmarks/bf16_dots.py``).
torch's mixed-precision ResNet-18 step ran in 0.17-0.37x flax's for that reason.

The gradients must be such dots too. JAX would transpose a forward pass written in
``lax`` itself, but a dot with a float32 result transposes into a dot of a float32
cotangent: float32 operands, which those instructions do not take. So the three passes
are three bilinear primitives, ``y = forward(x, w)``, ``dw = weight_grad(x, ct)`` and
``dx = input_grad(ct, w)``, whose transposes are stated: each is the transpose of the
other two, so derivatives of every order are such dots. Under a caller's ``vmap`` they
fall back to their ``lax`` forms, which JAX batches (``_taps.lax_primitive``).

Nine dots, one a tap, ran as fast (ResNet-18's 3x3 layers in bfloat16, batch 32), but
compiled in 1.1-1.9x the time, and the ResNet-18 step, 843 kernels against flax's 359,
in 1.9-2.2x flax's time. In float32 or float64 the operands and the sums are the
input's dtype. ``impl="auto"`` picks this plan for bfloat16 on CPUs with such
instructions (``bf16_dots``), in the passes where it was measured faster (``_plan.py``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.interpreters import ad

from .._checks import ConvParams, is_static
from . import _cpu
from ._eigen import YNN_FUSION
from ._fence import fence
from ._registry import register_builtin
from ._taps import accumulator, lax_primitive, pad_zeros, result_dtype, taps

_TO_NHWC, _TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
# bfloat16 dot-product instructions with float32 sums: AMX's tiles (Intel from Sapphire
# Rapids) and AVX-512's (Intel's Cooper Lake and later, AMD's Zen 4 and later)
BF16_DOT_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.cache
def bf16_dots() -> bool:
    """Whether a bfloat16 dot with float32 sums runs on the CPU's bfloat16 instructions
    here: the default backend is a CPU whose flags name one of ``BF16_DOT_FLAGS``
    (``_cpu.CPU_INFO``), and XLA hands such a dot to YNNPACK (one small dot
    compiled once per process, its optimised program read). ``impl="auto"`` picks this
    plan for bfloat16 only then."""
    if jax.default_backend() != "cpu" or not _cpu.field("flags") & set(BF16_DOT_FLAGS):
        return False
    a = jax.ShapeDtypeStruct((64, 64), jnp.bfloat16)
    dot = lambda a, b: lax.dot(a, b, preferred_element_type=jnp.float32)
    try:
        return YNN_FUSION in (jax.jit(dot).lower(a, a).compile().as_text() or "")
    except Exception:  # a backend that cannot say: no bet
        return False


def _tap_dot(window, w_tap, groups: int, acc, precision):
    """``(N, mh, mw, K) x (K/G, O) -> (N, mh, mw, O)``: a matmul over each group's
    ``K/G`` (channels, or taps x channels), summed in ``acc``."""
    if groups == 1:
        plain = (((3,), (0,)), ((), ()))
        return lax.dot_general(window, w_tap, plain, precision, preferred_element_type=acc)
    n, mh, mw, k = window.shape
    kg, o = w_tap.shape
    window = lax.reshape(window, (n, mh, mw, groups, kg))
    w_tap = lax.reshape(w_tap, (kg, groups, o // groups))
    dims = (((4,), (0,)), ((3,), (1,)))  # -> (G, N, mh, mw, O/G)
    y = lax.dot_general(window, w_tap, dims, precision, preferred_element_type=acc)
    return lax.reshape(lax.transpose(y, (1, 2, 3, 0, 4)), (n, mh, mw, o))


def _bits(x: jax.Array) -> jax.Array:
    """Half precision as 16-bit integers, for moving (see ``_patches``); else ``x``."""
    return lax.bitcast_convert_type(x, jnp.uint16) if jnp.dtype(x.dtype).itemsize == 2 else x


def _unbits(bits: jax.Array, dtype) -> jax.Array:
    return lax.bitcast_convert_type(bits, dtype) if bits.dtype != dtype else bits


def _patches(x: jax.Array, kernel, params: ConvParams, groups: int) -> jax.Array:
    """``(N, C, H, W) -> (N, mh, mw, G * kh*kw * C/G)``: every tap's window, channels-last,
    side by side in each group (im2col), gathered from the padded input in one operation;
    a 1x1 kernel's is the input, transposed (and subsampled by the stride).

    One gather, rather than a slice a tap and a concatenation. XLA's CPU backend compiles
    each slice as a kernel of its own: the mixed-precision ResNet-18 step held 494-499
    kernels (flax's 359) and compiled in 1.62-1.79x flax's time (the fastest of three
    compiles each, two runs); gathered, 385-390 kernels and 1.18-1.56x (two runs on a
    loaded machine). The gather runs slower: a layer's forward pass and weight gradient
    took up to 1.85x the concatenation's time, and the step 0.57-0.65x flax's against
    0.51-0.59x. The issue's goals are a step within 0.85x and a compile within 1.5x
    flax's: gathered, the step met the first in both runs, the compile the second in
    three of four readings (two layouts, two runs; by median).
    Half precision is moved as 16-bit integers: XLA's CPU backend pads and concatenates
    bfloat16 in float32, converting every window to float32 and back (the concatenated
    patches of a 256->256 layer at 8x8 took the forward pass to 2.3x the time of nine
    dots, one a tap)."""
    xt = lax.transpose(_bits(x), _TO_NHWC)
    kh, kw = kernel
    if kh * kw == 1:
        ((_, _, patches),) = taps(xt, kernel, params, (1, 2))
    else:
        (top, bottom), (left, right) = params.padding
        xp = pad_zeros(xt, ((0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)))
        n, c = xt.shape[0], xt.shape[3]
        mh, mw = params.output_size(x.shape[2:], kernel)
        (sh, sw), (dh, dw) = params.stride, params.dilation
        rows = np.arange(mh)[:, None, None, None] * sh + np.arange(kh)[:, None] * dh
        cols = np.arange(mw)[:, None, None] * sw + np.arange(kw) * dw  # (mh|1, mw|1, kh|1, kw)
        taps_ = xp.at[:, rows, cols, :].get(mode="promise_in_bounds")  # (N, mh, mw, kh, kw, C)
        if groups > 1:  # (N, mh, mw, T, G, C/G) -> (N, mh, mw, G, T, C/G)
            taps_ = lax.reshape(taps_, (n, mh, mw, kh * kw, groups, c // groups))
            taps_ = lax.transpose(taps_, (0, 1, 2, 4, 3, 5))
        patches = lax.reshape(taps_, (n, mh, mw, kh * kw * c))
    return _unbits(patches, x.dtype)


# The row-stacked form: every weight gradient; a forward pass and an input gradient from
# 16 input channels a group, an input gradient also with an output at least four times
# as wide as the kernel's extra columns. Measured in bfloat16 (``benchmarks/
# dots_forms.py``: batch 8-32, 3x3, padding 1, 3 to 512 channels at 4x4 to 32x32; medians
# of 9 interleaved runs, an Emerald-Rapids Xeon with AMX), time against im2col's: forward
# pass / input gradient 0.19-0.90x / 0.31-0.97x from 16 channels, but the input gradient
# at 4x4 (1.06-1.39x: its dot computes 6 columns for 4); from 3 or 8 input channels
# 0.44-1.97x / 1.28-3.21x (a forward dot summing 9 or 24 products a column, against 27
# or 72). The weight gradient 0.20-0.91x, from 3 to 512 channels.
ROWS_MIN_CHANNELS = 16
ROWS_MIN_WIDTH = 4

# The row-stacked forward pass sums its kernel columns' products, shifted, in an
# elementwise loop, which XLA's CPU fusion computes again inside each of its consumers.
# The gradients' stacked cotangent (``_shifted_cotangent``) reads each element of the
# cotangent ``kw`` times, transposed; where the cotangent is computed from this pass's
# output (a loss on the layer itself), each of those reads summed the products again. A
# layer alone, its forward pass and both gradients on ``"dots"`` (``auto_sweep.py``'s
# loss), then took up to 2.75x ``impl="xla"``'s time. Through a fence (``_fence.py``)
# the output is summed once, into a buffer. Measured (bfloat16, 3x3, padding 1; batch,
# channels in -> out, size; 15 interleaved runs, an Emerald-Rapids Xeon with AMX),
# forward+backward against ``"xla"``, unfenced -> fenced: 32, 32->32, 16x16 1.29-1.53x
# -> 0.53-0.54x; 64, 32->32, 16x16 0.89-1.30x -> 0.33-0.35x; 16, 32->320, 15x15 2.18-2.75x
# -> 0.36x; 16, 72->320, 15x15 1.46-1.88x -> 0.38-0.48x; 32, 32->128, 16x16 1.21-1.29x
# -> 0.37x; 16, 48->192, 16x16 1.05-1.32x -> 0.36x; 16, 64->256, 16x16 1.08-1.15x ->
# 0.40x; 32, 64->256, 8x8 1.10-1.14x -> 0.38x. Layers of 64 channels and more that do
# not widen fourfold lost nothing unfenced (64->64, 96->96 and 64->128 at 16x16,
# 128->128, 128->256, 256->256 and 256->512 at 8x8, 512->512 at 4x4: 0.39-0.93x, fenced
# 0.23-0.48x), and in networks an output feeds its activation from a buffer already:
# with every row-stacked forward pass fenced, mixed-precision ResNet-18's training step
# (``jaxconv bench --model``'s, same-process A/Bs of 2-3 compile rounds and 15-21
# interleaved steps) took 1.01-1.08x the time with 11 more kernels, a width-16 ResNet-18
# 1.00x, a VGG-style stack of widening layers (64 to 512 channels, 32x32 to 4x4)
# 0.95-0.96x. So the fence is where an unfenced layer lost: fewer than
# ``FENCED_BELOW_CHANNELS`` input channels a group, or ``FENCED_WIDENING`` times as many
# outputs, which none of ``bench --model``'s networks has. (Fencing the cotangent before
# it is stacked instead did as well alone, 0.22-0.43x, but added 8-14 kernels to
# ResNet-18's step for a level step.)
FENCED_BELOW_CHANNELS = 64
FENCED_WIDENING = 4


def fences_sums(cg: int, og: int) -> bool:
    """Whether a row-stacked forward pass of ``cg`` input and ``og`` output channels a
    group sums into a buffer of its own (``FENCED_BELOW_CHANNELS``' notes)."""
    return cg < FENCED_BELOW_CHANNELS or og >= FENCED_WIDENING * cg


def stacks_rows(kernel, params: ConvParams, cg: int | None = None, mw=None) -> bool:
    """Whether a pass takes the row-stacked form (``_row_patches``): a kernel of more than
    one tap at a width stride of 1. ``cg``, a forward pass's or an input gradient's input
    channels a group (a weight gradient's: ``None``), at least ``ROWS_MIN_CHANNELS``;
    ``mw``, an input gradient's output width, at least ``ROWS_MIN_WIDTH`` times the
    kernel's extra columns."""
    if tuple(kernel) == (1, 1) or params.stride[1] != 1:
        return False
    if cg is not None and cg < ROWS_MIN_CHANNELS:
        return False
    extra = (kernel[1] - 1) * params.dilation[1]
    return mw is None or (is_static(mw) and ROWS_MIN_WIDTH * extra <= mw)


def _row_patches(x: jax.Array, kernel, params: ConvParams, groups: int) -> jax.Array:
    """``(N, C, H, W) -> (N, mh, Wp, G * kh * C/G)``: the padded input rows each kernel
    row sees, channels-last, side by side in each group (``Wp``: the padded width).

    A third of the patches of a 3x3 kernel: the kernel's columns are left to the dot,
    whose products for all of them come out side by side and are summed shifted
    (``_rows_conv``)."""
    xt = lax.transpose(_bits(x), _TO_NHWC)
    c = xt.shape[3]
    rows = [
        lax.reshape(window, (*window.shape[:3], groups, 1, c // groups))
        for _, _, window in taps(xt, (kernel[0], 1), params, (1, 2))
    ]
    stacked = lax.concatenate(rows, 4)  # (N, mh, Wp, G, kh, C/G)
    return _unbits(lax.reshape(stacked, (*stacked.shape[:3], kernel[0] * c)), x.dtype)


def _shifted_cotangent(
    ct: jax.Array, kw: int, params: ConvParams, groups: int, wp: int
) -> jax.Array:
    """``(N, O, mh, mw) -> (G, kw * O/G, N, mh, Wp)``: the cotangent once per kernel column
    ``j``, shifted right by ``j*dw`` within the padded width ``Wp`` (the forward dot's
    products that tap ``j`` reads, at a width stride of 1), channels-first: the left
    operand of the weight gradient, whose sums run along its rows, and the right one of
    the input gradient. (Stacked channels-last and transposed for the weight gradient,
    ResNet-18's 64->64 layers at 32x32 spent 17-19 ms of a 550 ms step each in that
    transpose.)"""
    n, o, mh, mw = ct.shape
    og, dw = o // groups, params.dilation[1]
    ct6 = lax.reshape(lax.transpose(_bits(ct), (1, 0, 2, 3)), (groups, 1, og, n, mh, mw))
    shifted = []
    for j in range(kw):
        config = [(0, 0, 0)] * 6
        config[5] = (j * dw, wp - mw - j * dw, 0)
        shifted.append(pad_zeros(ct6, config))
    return _unbits(lax.reshape(lax.concatenate(shifted, 1), (groups, kw * og, n, mh, wp)), ct.dtype)


def _row_kernel(w: jax.Array, groups: int) -> jax.Array:
    """``(O, C/G, kh, kw) -> (kh*C/G, G*kw*O/G)``: the kernel as the row-stacked forward
    pass multiplies it, each group's columns side by side."""
    o, cg, kh, kw = w.shape
    wg = lax.reshape(w, (groups, o // groups, cg, kh, kw))
    return lax.reshape(lax.transpose(wg, (3, 2, 0, 4, 1)), (kh * cg, groups * kw * (o // groups)))


def _rows_conv(x: jax.Array, w: jax.Array, params: ConvParams, groups: int) -> jax.Array:
    """``dots_conv`` row-stacked: the row patches times the kernel as a ``(kh*C/G, kw*O)``
    matrix gives every column tap's products at every padded column; tap ``j``'s, shifted
    left by ``j*dw``, are summed in the accumulator's dtype in one loop."""
    o, cg, kh, kw = w.shape
    og = o // groups
    acc = accumulator(x.dtype, params)
    products = _tap_dot(
        _row_patches(x, (kh, kw), params, groups),
        _row_kernel(w, groups),
        groups,
        acc,
        params.precision,
    )
    n, mh, wp, _ = products.shape
    products = lax.reshape(products, (n, mh, wp, groups, kw, og))
    mw = params.output_size(x.shape[2:], (kh, kw))[1]
    dw = params.dilation[1]
    terms = [
        lax.reshape(
            lax.slice(products, (0, 0, j * dw, 0, j, 0), (n, mh, j * dw + mw, groups, j + 1, og)),
            (n, mh, mw, o),
        )
        for j in range(kw)
    ]
    y = functools.reduce(lax.add, terms).astype(result_dtype(x.dtype, params))
    if fences_sums(cg, og):
        y = fence(y, w)  # tests a weight: no kernel sums an output element for the test
    return lax.transpose(y, _TO_NCHW)


def _common(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Both operands in their common dtype (a float32 cotangent keeps its digits)."""
    dtype = jnp.promote_types(a.dtype, b.dtype)
    return lax.convert_element_type(a, dtype), lax.convert_element_type(b, dtype)


def dots_conv(x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """``(N, C, H, W) x (O, C/groups, kh, kw) -> (N, O, mh, mw)``: the patches times the
    kernel as a ``(kh*kw*C/G, O)`` matrix, channels-last, summed in the accumulator's
    dtype."""
    o, cg, kh, kw = w.shape
    if stacks_rows((kh, kw), params, cg):
        return _rows_conv(x, w, params, groups)
    w_rows = lax.reshape(lax.transpose(w, (2, 3, 1, 0)), (kh * kw * cg, o))
    acc = accumulator(x.dtype, params)
    y = _tap_dot(_patches(x, (kh, kw), params, groups), w_rows, groups, acc, params.precision)
    return lax.transpose(y.astype(result_dtype(x.dtype, params)), _TO_NCHW)


def _weight_grad(x, ct, *, params: ConvParams, groups: int, kernel, in_size=None):
    """``_weight_grad_p``'s lax form, ``(N, C, H, W) x (N, O, mh, mw) -> (O, C/G, kh, kw)``:
    the cotangent times the patches, summed over images and pixels in one dot batched
    over the groups. The cotangent is the left operand: the sums come out ``(G, O/G,
    kh*kw*C/G)``, nearly the weights' order, and the patches enter as they lie (on the
    left, they were first transposed by a copy)."""
    x, ct = _common(x, ct)
    n, o, mh, mw = ct.shape
    cg = x.shape[1] // groups
    if stacks_rows(kernel, params):  # the shifted cotangent times the row patches
        (kh, kw), og = kernel, o // groups
        patches = _row_patches(x, kernel, params, groups)
        wp = patches.shape[2]
        patches = lax.reshape(patches, (n, mh, wp, groups, kh * cg))
        cts = _shifted_cotangent(ct, kw, params, groups, wp)
        dims = (((2, 3, 4), (0, 1, 2)), ((0,), (3,)))
        sums = lax.dot_general(cts, patches, dims, params.precision, accumulator(x.dtype, params))
        sums = lax.transpose(lax.reshape(sums, (groups, kw, og, kh, cg)), (0, 2, 4, 3, 1))
        return lax.reshape(sums, (o, cg, kh, kw)).astype(x.dtype)
    ctg = lax.reshape(lax.transpose(ct, _TO_NHWC), (n, mh, mw, groups, o // groups))
    taps_cg = kernel[0] * kernel[1] * cg
    patches = lax.reshape(_patches(x, kernel, params, groups), (n, mh, mw, groups, taps_cg))
    dims = (((0, 1, 2), (0, 1, 2)), ((3,), (3,)))
    sums = lax.dot_general(ctg, patches, dims, params.precision, accumulator(x.dtype, params))
    sums = lax.reshape(sums, (o, *kernel, cg))
    return lax.transpose(sums, (0, 3, 1, 2)).astype(x.dtype)


def _input_grad(ct, w, *, params: ConvParams, groups: int, kernel, in_size):
    """``_input_grad_p``'s lax form, ``(N, O, mh, mw) x (O, C/G, kh, kw) -> (N, C, H, W)``
    with ``(H, W) = in_size``: the cotangent times the kernel, one dot giving every
    tap's products at the output's size; each tap's, spread by the stride and shifted
    into place by a pad, summed with the others in the accumulator's dtype, in one
    loop. (The cotangent spread first and correlated with the flipped kernel multiplies
    the zeros between its pixels, 3 in 4 at stride 2: it took 1.5-6x ``"xla"``'s time on
    ResNet-18's strided layers.)"""
    ct, w = _common(ct, w)
    acc = accumulator(ct.dtype, params)
    o, cg, kh, kw = w.shape
    n, _, mh, mw = ct.shape
    if stacks_rows(kernel, params, cg, mw):
        return _rows_input_grad(ct, w, params, groups, in_size, acc)
    # (O, C/G, kh, kw) -> (O/G, G * kh*kw * C/G): each group's rows, the patches' order
    wg = lax.reshape(w, (groups, o // groups, cg, kh * kw))
    w_cols = lax.reshape(lax.transpose(wg, (1, 0, 3, 2)), (o // groups, groups * kh * kw * cg))
    products = _tap_dot(lax.transpose(ct, _TO_NHWC), w_cols, groups, acc, params.precision)
    products = lax.reshape(products, (n, mh, mw, groups, kh * kw, cg))
    terms = []
    for t, (i, j) in enumerate((i, j) for i in range(kh) for j in range(kw)):
        config = [(0, 0, 0)] * 4
        for a, k, size, m, (lo, _), s, d in zip(
            (1, 2), (i, j), in_size, (mh, mw), params.padding, params.stride, params.dilation
        ):
            start = k * d - lo  # where the tap's first product lands in the input
            config[a] = (start, size - start - (m - 1) * s - 1, s - 1)
        tap = lax.reshape(lax.index_in_dim(products, t, 4, False), (n, mh, mw, groups * cg))
        terms.append(lax.pad(tap, jnp.zeros((), acc), config))
    dx = functools.reduce(lax.add, terms).astype(ct.dtype)
    return lax.transpose(dx, _TO_NCHW)


def _rows_input_grad(ct, w, params: ConvParams, groups: int, in_size, acc) -> jax.Array:
    """``_input_grad`` row-stacked: the kernel as the forward pass's ``(kh*C/G, kw*O/G)``
    matrix times the shifted cotangent ``(kw*O/G, N*mh*Wp)`` (the weight gradient's left
    operand) gives every kernel row's products at every padded column, channels-first;
    row ``i``'s, spread by the height stride and shifted into place by a pad (which also
    cuts the width's padding), are summed in ``acc`` in one loop.

    Both operands are the other passes' own, so XLA builds each once for the three passes.
    With the cotangent stacked channels-last instead (times the kernel's transpose, both
    copies of their own), the mixed-precision ResNet-18 step compiled 18 more kernels and
    took 1.10-1.12x the compile time and 1.01-1.11x the step time (two same-process A/Bs,
    NCHW and NHWC); the input gradient alone took 1.2-2.2x the time (3x3, 32-256 channels
    at 8x8 to 32x32, batch 8-32; 0.96x at 4x4), bit for bit the same result."""
    o, cg, kh, kw = w.shape
    og = o // groups
    n, _, mh, _ = ct.shape
    (top, _), (left, right) = params.padding
    wp = in_size[1] + left + right
    cts = _shifted_cotangent(ct, kw, params, groups, wp)  # (G, kw*O/G, N, mh, Wp)
    w_rows = _row_kernel(w, groups)  # (kh*C/G, G*kw*O/G)
    w_g = lax.transpose(lax.reshape(w_rows, (kh * cg, groups, kw * og)), (1, 0, 2))
    cts = lax.reshape(cts, (groups, kw * og, n * mh * wp))
    dims = (((2,), (1,)), ((0,), (0,)))  # over the groups: (G, kh*C/G, N*mh*Wp)
    products = lax.dot_general(w_g, cts, dims, params.precision, preferred_element_type=acc)
    products = lax.reshape(products, (groups, kh, cg, n, mh, wp))
    sh, dh = params.stride[0], params.dilation[0]
    terms = []
    for i in range(kh):
        start = i * dh - top  # where the row's first product lands in the input
        config = [(0, 0, 0)] * 3 + [(start, in_size[0] - start - (mh - 1) * sh - 1, sh - 1)]
        config += [(-left, -right, 0)]
        row = lax.index_in_dim(products, i, 1, False)  # (G, C/G, N, mh, Wp)
        terms.append(pad_zeros(row, config))
    dx = functools.reduce(lax.add, terms).astype(ct.dtype)  # (G, C/G, N, H, W)
    return lax.reshape(lax.transpose(dx, (2, 0, 1, 3, 4)), (n, groups * cg, *in_size))


def _forward(x, w, *, params: ConvParams, groups: int, kernel, in_size=None):
    return dots_conv(x, w, params, groups)


def _forward_aval(x, w, *, params: ConvParams, groups: int, kernel, in_size=None):
    mh, mw = params.output_size(x.shape[2:], kernel)
    return (x.shape[0], w.shape[0], mh, mw), result_dtype(x.dtype, params)


def _weight_grad_aval(x, ct, *, params: ConvParams, groups: int, kernel, in_size=None):
    return (ct.shape[1], x.shape[1] // groups, *kernel), jnp.promote_types(x.dtype, ct.dtype)


def _input_grad_aval(ct, w, *, params: ConvParams, groups: int, kernel, in_size):
    return (ct.shape[0], w.shape[1] * groups, *in_size), jnp.promote_types(ct.dtype, w.dtype)


# Three bilinear primitives, each a transpose of the other two, so that derivatives of
# every order are such dots: y = forward(x, w), dw = weight_grad(x, ct), dx =
# input_grad(ct, w). ``in_size`` is the input's height and width (the input gradient's).
_forward_p = lax_primitive("jaxconv_dots", _forward, _forward_aval)
_weight_grad_p = lax_primitive("jaxconv_dots_weight_grad", _weight_grad, _weight_grad_aval)
_input_grad_p = lax_primitive("jaxconv_dots_input_grad", _input_grad, _input_grad_aval)


def _bind(prim, a, b, like, **kw):
    """``prim`` on ``a`` and ``b`` in their common dtype, in the dtype of ``like`` (an
    undefined operand, whose cotangent this is)."""
    return prim.bind(*_common(a, b), **kw).astype(like.aval.dtype)


def _sizes(kw, x) -> dict:
    """The keywords with the undefined input ``x``'s height and width."""
    return kw | {"in_size": tuple(x.aval.shape[2:])}


ad.defbilinear(  # y = forward(x, w)
    _forward_p,
    lambda ct, x, w, **kw: _bind(_input_grad_p, ct, w, x, **_sizes(kw, x)),
    lambda ct, x, w, **kw: _bind(_weight_grad_p, x, ct, w, **kw),
)
ad.defbilinear(  # dw = weight_grad(x, ct)
    _weight_grad_p,
    lambda dw, x, ct, **kw: _bind(_input_grad_p, ct, dw, x, **_sizes(kw, x)),
    lambda dw, x, ct, **kw: _bind(_forward_p, x, dw, ct, **kw),
)
ad.defbilinear(  # dx = input_grad(ct, w)
    _input_grad_p,
    lambda dx, ct, w, **kw: _bind(_forward_p, dx, w, ct, **kw),
    lambda dx, ct, w, **kw: _bind(_weight_grad_p, dx, ct, w, **kw),
)


def dots_term(x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """``dots_conv`` for gradient terms: the primitive whose transposes are stated."""
    return _forward_p.bind(x, w, params=params, groups=groups, kernel=tuple(w.shape[2:]))


register_builtin(
    "dots",
    dots_term,
    transposable=True,
    gradient_conv=dots_term,
    description="kh*kw matmuls on channels-last windows, float32 sums, stated transposes",
)
