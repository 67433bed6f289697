"""XLA's convolution on a CPU, shaped so that XLA runs it on Eigen rather than YNNPACK.

jaxlib 0.10 hands a float32 2-D convolution on a CPU to YNNPACK whenever YNNPACK
accepts it, and on the machines measured here YNNPACK was the slower library: XLA's
Eigen convolution of the same call (compiled with YNNPACK's convolutions switched off)
took 0.50-0.59x its time on ResNet-18's 64-channel 3x3 layer at 32x32, 0.25x for that
layer's weight gradient, 0.3x on the lesson's 5x5 layer (BENCHMARKS.md, "YNNPACK"). YNNPACK
declines a convolution whose output is larger than its input along a spatial axis
(XLA's ``ynn_support.cc``), and XLA then runs it on Eigen. So along one spatial axis of
stride 1 (the one with more output pixels):

* the forward pass pads the input's high side by ``e`` more zeros, so that the output is
  one pixel longer than the input, and crops the extra ``e`` outputs;
* the input gradient is the transpose of a convolution whose input is ``a`` zeros longer
  (and whose padding is ``a`` shorter), so that the convolution that computes it, from
  the output gradient to that longer input, is the larger-output one; the extra input
  gradient is cropped.

Both compute ``e`` or ``a`` extra rows of the axis (one for a ``"same"`` convolution, none
for the input gradient of a ``"valid"`` one). The weight gradient's convolution slides the
output gradient over the input, and the shape that YNNPACK declines there (a window longer
than the input) leaves Eigen for XLA's generic loop, measured 40-95x slower. YNNPACK also
declines a convolution of at most 16 input and 16 output features, which for the weight
gradient are the images and the output channels; so the weight-gradient term is computed
in blocks of 16 images x 16 output channels, whose transposes are such convolutions, up to
``MAX_BLOCKS`` of them, for layers of at most ``BLOCKED_CHANNELS`` channels (a loop over
static blocks while tracing; beyond either, the weight gradient is XLA's single
convolution).

The shaped convolutions are written channels-last (``NHWC``, ``HWIO``), the layout XLA's
CPU convolution computes in, with the pads and crops there: a channels-last caller's
transposes then cancel. In a ResNet-18 step, shaping channels-first left 108-116
transposing copies (YNNPACK's fusions had absorbed them; flax has 53); channels-last,
100-101, and the step took 0.84-0.89x flax's time (three runs) against 0.90-0.96x.

Only float32 and bfloat16 calls without groups, with more than 16 input or output
channels (YNNPACK's own threshold), are shaped (``shapes``): float64 would leave YNNPACK
for XLA's generic loop. jaxlib 0.10.2 converts half precision to float32 around a
convolution, on Eigen as on YNNPACK (so both accumulate in float32), and Eigen's gain
carried over to bfloat16: ``benchmarks/eigen_passes.py --dtype bfloat16`` (Emerald-Rapids
Xeon, 2 cores; time / ``"xla"``'s, forward / input gradient) read 0.65x / 0.64x on
ResNet-18's 64->64 3x3 at 32x32 (batch 32), 0.55-0.81x on seven other layers of 16-96
channels, 0.32x and 0.37x forward on unpadded 100->100 5x5 and 16->128 7x7 layers, where
``auto``'s float32 rules take it (at 128 channels 0.88-0.92x, on a 3-channel stem
1.21-1.39x, where they do not); the blocked weight gradient 48.6 ms against XLA's 86.6 and
``"gemm"``'s 46.8 there, 10.7-13.9 against 18.9-19.6 ms at 32 channels. float16 is not
shaped (not measured). Half precision is not fenced (``_fence.pays``). Elsewhere, and
wherever XLA does not use YNNPACK (a GPU, another jaxlib, ``XLA_FLAGS``), the lowering is
``"xla"``'s.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._checks import ConvParams, is_static
from ._fence import fence, pays
from ._registry import register_builtin
from ._xla import NHWC, lax_conv, weight_term

YNN_MIN_CHANNELS = 16  # YNNPACK takes a convolution with more input or output channels
YNN_FUSION = "__ynn_fusion"  # the fusion kind of XLA's YNNPACK calls in an optimised program
MAX_BLOCKS = 16  # a weight gradient in more blocks than this stays XLA's own (see the notes)
BLOCKED_CHANNELS = 64  # ... and so does one of a layer with more channels in or out ...
IMAGE_ELEMENTS = 400 * 1024  # ... or more than this many channels x output pixels an image
LARGE_TAPS = 25  # ... or, for a kernel of this many taps or more, ...
LARGE_KERNEL_PIXELS = 96 * 96  # ... more output pixels than this an image (``fits``)
BLOCK_IMAGES = 4  # ... or fewer images than this (a block's features are the images)
BLOCK_ELEMENTS = 128 * 1024  # ... or, of an image, more channels x output pixels than this


def ynn_takes(in_channels: int, out_channels: int) -> bool:
    """Whether YNNPACK takes a layer this wide (XLA runs narrower ones on Eigen)."""
    return max(in_channels, out_channels) > YNN_MIN_CHANNELS


def blocks(images: int, out_channels: int) -> int:
    """How many convolutions of 16 images x 16 output channels make a weight gradient."""
    return -(-images // YNN_MIN_CHANNELS) * -(-out_channels // YNN_MIN_CHANNELS)


def fits(in_channels: int, out_channels: int, pixels: int, taps: int = 9) -> bool:
    """Whether one image of a layer is small enough for Eigen to beat YNNPACK: at most
    ``IMAGE_ELEMENTS`` (1.6 MB of float32, about a core's L2 cache here) in
    ``max(in, out channels) x output pixels``. Measured on 3x3 ``"same"`` layers of 32,
    64 and 128 channels, forward and input gradient, time / ``"xla"``'s: 0.72-0.95x up to
    32 channels at 112x112, 64 at 80x80 and 128 at 48x48 (295-410 K elements); 0.93-1.60x
    from 32 at 128x128, 64 at 96x96 and 128 at 64x64 (524-3200 K) on. The weight
    gradient in blocks: 0.33-0.60x at 65-262 K, 1.3-1.45x ``"gemm"``'s at 802-3200 K.

    A kernel of ``LARGE_TAPS`` taps or more, up to ``LARGE_KERNEL_PIXELS`` output pixels
    too (the Zen 5 EPYC, padded, forward pass time / ``"xla"``'s, bfloat16 and float32):
    32->24 at 112x112, batch 2, 1.25x and 1.17x with a 7x7 kernel, 1.32x and 1.31x with a
    5x5 (``auto_sweep.py --random 40 --seed 54 --dtype bfloat16`` found it), where a 3x3
    kernel won; 32->32 7x7 at 80x80, batch 4, 0.95x and 0.87x, 64->64 5x5 at 80x80 0.80x
    and 0.89x, 64->64 7x7 at 56x56 0.58x, 5x5 and 7x7 layers of 16-96 channels at 32x32
    to 64x64 0.77-0.94x (float32). Between 80x80 and 112x112: not measured."""
    if taps >= LARGE_TAPS and pixels > LARGE_KERNEL_PIXELS:
        return False
    return max(in_channels, out_channels) * pixels <= IMAGE_ELEMENTS


def blocked_pays(images: int, in_channels: int, out_channels: int, pixels: int) -> bool:
    """Whether the weight gradient of ``images`` images of ``pixels`` output pixels is
    computed in blocks (measured: 64-channel layers 0.33-0.73x ``"xla"``'s time, 96-128
    channels level with ``"gemm"``, 256 channels 2.25x ``"xla"``'s forward+backward in
    ``jaxconv bench``'s 3x3-256 case, on a Sapphire-Rapids-class Xeon). Not beyond
    ``BLOCK_ELEMENTS`` channels x output pixels an image: on an AMD EPYC (Zen 4), whose
    YNNPACK weight gradient is fast, the blocks took 2x its time at 32->32 on 64x64 images
    and 2.6-3x at 80x80, level at 64->64 on 32x32 (BENCHMARKS.md). Not for fewer than
    ``BLOCK_IMAGES`` images (32->32 3x3 at 112x112: one image 3.1-3.6x, two 1.16x, four
    0.62x; 64->64 at 32x32: two images 3.2x, four 2.3x, eight 0.86x) nor fewer than 16
    output channels, whose weight gradient XLA computes fast (8 outputs 1.00-1.17x,
    16 outputs 0.72-1.02x, 24 on 0.41-0.88x: ``benchmarks/plan_passes.py passes thin``)."""
    narrow = max(in_channels, out_channels) <= BLOCKED_CHANNELS
    return (
        ynn_takes(in_channels, out_channels)
        and narrow
        and images >= BLOCK_IMAGES
        and out_channels >= YNN_MIN_CHANNELS
        and blocks(images, out_channels) <= MAX_BLOCKS
        and max(in_channels, out_channels) * pixels <= BLOCK_ELEMENTS
    )


@functools.cache
def ynn_convolutions() -> bool:
    """Whether XLA's CPU backend here hands float32 convolutions to YNNPACK: one small
    convolution compiled once per process (about 0.1 s), its optimised program read.
    ``False`` where YNNPACK is off (``XLA_FLAGS``, another jaxlib) or the default
    backend is not a CPU, and then ``"auto"`` leaves this lowering alone."""
    if jax.default_backend() != "cpu":
        return False
    x = jax.ShapeDtypeStruct((1, 32, 8, 8), jnp.float32)
    w = jax.ShapeDtypeStruct((32, 32, 3, 3), jnp.float32)
    params = ConvParams((1, 1), ((1, 1), (1, 1)), (1, 1))
    try:
        compiled = jax.jit(lambda x, w: lax_conv(x, w, params)).lower(x, w).compile()
        return YNN_FUSION in (compiled.as_text() or "")
    except Exception:  # a backend that cannot say: leave XLA's choice alone
        return False


def shapes(dtype) -> bool:
    """Whether calls in ``dtype`` are shaped (module notes): float32 and bfloat16."""
    return jnp.dtype(dtype) in (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16))


def _shaped(x: jax.Array, w: jax.Array, params: ConvParams, groups: int) -> bool:
    """Whether the call is one that XLA would hand to YNNPACK, and this lowering shapes."""
    if not ynn_convolutions():  # nothing to steer away from (another jaxlib, a GPU)
        return False
    preferred = params.preferred_element_type
    dtype = jnp.dtype(x.dtype)
    shaped = (
        shapes(dtype)
        and jnp.dtype(w.dtype) == dtype
        and (preferred is None or jnp.dtype(preferred) in (dtype, jnp.dtype(jnp.float32)))
    )
    return (
        shaped
        and groups == 1
        and ynn_takes(x.shape[1], w.shape[0])
        and is_static(*x.shape, *sum(params.padding, ()))
    )


def _axis(x: jax.Array, w: jax.Array, params: ConvParams, groups: int) -> int | None:
    """The spatial axis (2 or 3) to shape: of stride 1, with more output pixels."""
    if not _shaped(x, w, params, groups):
        return None
    out = params.output_size(x.shape[2:], w.shape[2:])
    axes = [a for a in (2, 3) if params.stride[a - 2] == 1]
    return max(axes, key=lambda a: out[a - 2], default=None)


def _with_padding(params: ConvParams, axis: int, extra_high: int) -> ConvParams:
    (top, bottom), (left, right) = params.padding
    if axis == 2:
        return params._replace(padding=((top, bottom + extra_high), (left, right)))
    return params._replace(padding=((top, bottom), (left, right + extra_high)))


def _channels_last(x: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(N, C, H, W), (O, C, kh, kw) -> (N, H, W, C), (kh, kw, C, O)``: XLA's CPU
    convolution's own layout. Shaped there, a caller's channels-last activations meet
    transposes that cancel (in channels-first the crops and pads sat between them)."""
    return lax.transpose(x, (0, 2, 3, 1)), lax.transpose(w, (2, 3, 1, 0))


_conv_nhwc = functools.partial(lax_conv, dimension_numbers=NHWC)


def _channels_first(y: jax.Array) -> jax.Array:
    return lax.transpose(y, (0, 3, 1, 2))


def widened(x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """The forward pass: an output one longer than the input along the axis, cropped."""
    axis = _axis(x, w, params, groups)
    if axis is None:
        return lax_conv(x, w, params, groups)
    size = params.output_size(x.shape[2:], w.shape[2:])[axis - 2]
    extra = x.shape[axis] - size + 1
    if extra <= 0:  # already longer than its input
        return lax_conv(x, w, params, groups)
    y = _conv_nhwc(*_channels_last(x, w), _with_padding(params, axis, extra))
    return _channels_first(lax.slice_in_dim(y, 0, size, axis=axis - 1))


def narrowed(x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """The input-gradient term: its transpose computes an input ``a`` longer, cropped."""
    axis = _axis(x, w, params, groups)
    if axis is None:
        return lax_conv(x, w, params, groups)
    size = params.output_size(x.shape[2:], w.shape[2:])[axis - 2]
    extra = size - x.shape[axis] + 1
    if extra <= 0 or params.padding[axis - 2][1] < extra:  # already shorter (or no room)
        return lax_conv(x, w, params, groups)
    xt, wt = _channels_last(x, w)
    config = [(0, 0, 0)] * 4
    config[axis - 1] = (0, extra, 0)
    longer = lax.pad(xt, jnp.zeros((), x.dtype), config)
    return _channels_first(_conv_nhwc(longer, wt, _with_padding(params, axis, -extra)))


def blocked(x: jax.Array, w: jax.Array, params: ConvParams, groups: int = 1) -> jax.Array:
    """The weight-gradient term: images and output channels in blocks of 16, so that its
    transpose, the weight gradient, is a sum of convolutions of 16 input and 16 output
    features (the images and the output channels), which YNNPACK declines."""
    n, o, b = x.shape[0], w.shape[0], YNN_MIN_CHANNELS
    if not _shaped(x, w, params, groups):
        return weight_term(x, w, params, groups)
    mh, mw = params.output_size(x.shape[2:], w.shape[2:])
    if not blocked_pays(n, x.shape[1], o, mh * mw):
        return weight_term(x, w, params, groups)
    xt, wt = _channels_last(x, w)
    # The blocks' convolutions read the images' slices transposed to (C, H, W, 16): from
    # a fenced (C, H, W, N) copy of the fenced activation, each slice is a plain copy
    # (a slice fused with a transpose runs on XLA's generic loop, as ``_fence.py`` says).
    if pays(x.dtype):
        xt = lax.transpose(fence(lax.transpose(fence(xt), (3, 1, 2, 0))), (3, 1, 2, 0))
    rows = [
        lax.concatenate(
            [_conv_nhwc(xt[i : i + b], wt[..., j : j + b], params) for j in range(0, o, b)], 3
        )
        for i in range(0, n, b)
    ]
    return _channels_first(lax.concatenate(rows, 0))


register_builtin(
    "eigen",
    widened,
    input_grad_conv=narrowed,
    transposable=True,
    gradient_conv=blocked,
    description="XLA's convolution, shaped on CPUs to run on Eigen rather than YNNPACK",
)
