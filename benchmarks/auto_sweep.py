"""``impl="auto"`` against ``impl="xla"`` on a broad set of layers from common networks.

  python benchmarks/auto_sweep.py [--reps 9] [--dtype float32] [--only SUBSTRING ...]
  python benchmarks/auto_sweep.py --random 60 --seed 1   # layers drawn at random
  python benchmarks/auto_sweep.py --random 60 --seed 1 --odd   # odd widths and sizes
  python benchmarks/auto_sweep.py ... --max-call 1.0   # 3 rounds where a call takes longer

Issue 12's goal: ``auto`` within 1.10x of ``"xla"`` on every realistic shape, forward
and forward+backward. The suite's six layers and ``autotune_shapes.py``'s fourteen are
where the rules were measured; these layers were picked without looking at the rules:
ResNet-50 and VGG at ImageNet sizes, CIFAR ResNets, a U-Net, dilated (DeepLab),
grouped (ResNeXt), depthwise (MobileNet-v2, EfficientNet, ConvNeXt), Inception's 1x7
and 7x1, MNIST-size stems; later, images that are not square and large strides (and
ViT's and ConvNeXt's patch embeddings, added with the rule they measured). For each:
``auto``'s plan, then both impls compiled once and timed in interleaved rounds (each
round in the opposite order to the last); prints medians, ratios to ``"xla"`` of the
same run, the layers over 1.10x and the worst ratio of each mode. Where ``auto``'s plan
is all ``"xla"`` the two are one program, and their ratio shows the machine's noise.
``lax.conv_general_dilated``'s own program is timed too, and ``"xla"`` over 1.10x its
time is reported: ``"xla"`` is not lax's program (its fences, its swapped weight
gradient, which once ran 50-100x slower on unpadded layers that ``auto`` shared).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv._checks import conv_params
from jaxconv.cli.bench._timing import compile_entry, time_interleaved

# name: (input shape, weight shape, stride, padding, dilation, groups)
LAYERS = {
    # ResNet-50, ImageNet, batch 4
    "r50 stem 3->64 7x7 s2 224": ((4, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1, 1),
    "r50 1x1 64->64 56": ((4, 64, 56, 56), (64, 64, 1, 1), 1, 0, 1, 1),
    "r50 3x3 64->64 56": ((4, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, 1),
    "r50 1x1 64->256 56": ((4, 64, 56, 56), (256, 64, 1, 1), 1, 0, 1, 1),
    "r50 1x1 256->128 56": ((4, 256, 56, 56), (128, 256, 1, 1), 1, 0, 1, 1),
    "r50 3x3 128->128 s2 56": ((4, 128, 56, 56), (128, 128, 3, 3), 2, 1, 1, 1),
    "r50 3x3 128->128 28": ((4, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1, 1),
    "r50 1x1 256->512 s2 56": ((4, 256, 56, 56), (512, 256, 1, 1), 2, 0, 1, 1),
    "r50 3x3 256->256 14": ((4, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1, 1),
    "r50 1x1 1024->256 14": ((4, 1024, 14, 14), (256, 1024, 1, 1), 1, 0, 1, 1),
    "r50 3x3 512->512 7": ((4, 512, 7, 7), (512, 512, 3, 3), 1, 1, 1, 1),
    "r50 1x1 512->2048 7": ((4, 512, 7, 7), (2048, 512, 1, 1), 1, 0, 1, 1),
    # VGG-16, batch 1-2
    "vgg 3x3 3->64 224": ((2, 3, 224, 224), (64, 3, 3, 3), 1, 1, 1, 1),
    "vgg 3x3 64->64 224": ((1, 64, 224, 224), (64, 64, 3, 3), 1, 1, 1, 1),
    "vgg 3x3 128->128 112": ((2, 128, 112, 112), (128, 128, 3, 3), 1, 1, 1, 1),
    "vgg 3x3 256->256 56": ((2, 256, 56, 56), (256, 256, 3, 3), 1, 1, 1, 1),
    "vgg 3x3 512->512 28": ((2, 512, 28, 28), (512, 512, 3, 3), 1, 1, 1, 1),
    # CIFAR ResNet-20, batch 64
    "cifar 3x3 16->16 32": ((64, 16, 32, 32), (16, 16, 3, 3), 1, 1, 1, 1),
    "cifar 3x3 16->32 s2 32": ((64, 16, 32, 32), (32, 16, 3, 3), 2, 1, 1, 1),
    "cifar 3x3 32->32 16": ((64, 32, 16, 16), (32, 32, 3, 3), 1, 1, 1, 1),
    "cifar 3x3 64->64 8": ((64, 64, 8, 8), (64, 64, 3, 3), 1, 1, 1, 1),
    # U-Net, batch 2
    "unet 3x3 1->32 128": ((2, 1, 128, 128), (32, 1, 3, 3), 1, 1, 1, 1),
    "unet 3x3 32->32 128": ((2, 32, 128, 128), (32, 32, 3, 3), 1, 1, 1, 1),
    "unet 3x3 128->64 64": ((2, 128, 64, 64), (64, 128, 3, 3), 1, 1, 1, 1),
    "unet 3x3 256->256 16 valid": ((2, 256, 18, 18), (256, 256, 3, 3), 1, 0, 1, 1),
    # DeepLab, dilated, batch 2
    "deeplab 3x3 256->256 d2 28": ((2, 256, 28, 28), (256, 256, 3, 3), 1, 2, 2, 1),
    "deeplab 3x3 64->64 d6 32": ((2, 64, 32, 32), (64, 64, 3, 3), 1, 6, 6, 1),
    # ResNeXt, grouped, batch 4
    "resnext 3x3 128 g32 28": ((4, 128, 28, 28), (128, 4, 3, 3), 1, 1, 1, 32),
    "resnext 3x3 256 g32 s2 28": ((4, 256, 28, 28), (256, 8, 3, 3), 2, 1, 1, 32),
    "resnext 3x3 1024 g32 7": ((8, 1024, 7, 7), (1024, 32, 3, 3), 1, 1, 1, 32),
    # RegNet, ShuffleNet, AlexNet: other grouped layers, batch 4-8
    "regnet 3x3 64 g4 56": ((8, 64, 56, 56), (64, 16, 3, 3), 1, 1, 1, 4),
    "regnet 3x3 160 g10 s2 28": ((8, 160, 28, 28), (160, 16, 3, 3), 2, 1, 1, 10),
    "shufflenet 1x1 240 g3 28": ((8, 240, 28, 28), (240, 80, 1, 1), 1, 0, 1, 3),
    "alexnet 5x5 96->256 g2 27": ((4, 96, 27, 27), (256, 48, 5, 5), 1, 2, 1, 2),
    # ... RegNet's wide groups (112 a group) on small images, batch 8
    "regnet 3x3 1232 g11 14": ((8, 1232, 14, 14), (1232, 112, 3, 3), 1, 1, 1, 11),
    # ... an output longer than the input (found by --random 40 --seed 58 --odd)
    "full 5x5 576->8 g8 pad 4 5": ((64, 576, 5, 5), (8, 72, 5, 5), 1, 4, 1, 8),
    "full 5x5 48->48 g3 pad 6 7": ((16, 48, 7, 7), (48, 16, 7, 7), 1, 6, 1, 3),
    # depthwise: MobileNet-v2, EfficientNet, ConvNeXt, batch 4
    "mbv2 dw 3x3 96 s2 112": ((4, 96, 112, 112), (96, 1, 3, 3), 2, 1, 1, 96),
    "mbv2 dw 3x3 144 56": ((4, 144, 56, 56), (144, 1, 3, 3), 1, 1, 1, 144),
    "mbv2 dw 3x3 384 14": ((4, 384, 14, 14), (384, 1, 3, 3), 1, 1, 1, 384),
    "effnet dw 5x5 240 28": ((4, 240, 28, 28), (240, 1, 5, 5), 1, 2, 1, 240),
    "convnext dw 7x7 96 56": ((4, 96, 56, 56), (96, 1, 7, 7), 1, 3, 1, 96),
    "mbv2 1x1 24->144 56": ((4, 24, 56, 56), (144, 24, 1, 1), 1, 0, 1, 1),
    # Inception's factorised kernels, batch 8
    "inception 1x7 128->128 17": ((8, 128, 17, 17), (128, 128, 1, 7), 1, ((0, 0), (3, 3)), 1, 1),
    "inception 7x1 128->192 17": ((8, 128, 17, 17), (192, 128, 7, 1), 1, ((3, 3), (0, 0)), 1, 1),
    "inception 3x3 32->32 valid 147": ((4, 32, 149, 149), (32, 32, 3, 3), 1, 0, 1, 1),
    # patch embeddings (a kernel as large as its stride): ViT, ConvNeXt, batch 8
    "vit patches 3->768 16x16 s16 224": ((8, 3, 224, 224), (768, 3, 16, 16), 16, 0, 1, 1),
    "convnext stem 3->96 4x4 s4 224": ((8, 3, 224, 224), (96, 3, 4, 4), 4, 0, 1, 1),
    "convnext down 96->192 2x2 s2 56": ((8, 96, 56, 56), (192, 96, 2, 2), 2, 0, 1, 1),
    # images that are not square, large strides: detection, spectrograms, GANs, AlexNet
    "det 3x3 256->256 50x76": ((2, 256, 50, 76), (256, 256, 3, 3), 1, 1, 1, 1),
    "audio 3x3 32->64 64x200": ((8, 32, 64, 200), (64, 32, 3, 3), 1, 1, 1, 1),
    "wide 3x3 64->64 32x512": ((4, 64, 32, 512), (64, 64, 3, 3), 1, 1, 1, 1),
    "pix2pix 4x4 64->128 s2 128": ((4, 64, 128, 128), (128, 64, 4, 4), 2, 1, 1, 1),
    "alexnet stem 3->64 11x11 s4 224": ((8, 3, 224, 224), (64, 3, 11, 11), 4, 2, 1, 1),
    # small inputs and channels, batch 64
    "mnist 5x5 1->32 28": ((64, 1, 28, 28), (32, 1, 5, 5), 1, 2, 1, 1),
    "mnist 5x5 32->64 14": ((64, 32, 14, 14), (64, 32, 5, 5), 1, 2, 1, 1),
    "small 3x3 8->16 64": ((16, 8, 64, 64), (16, 8, 3, 3), 1, 1, 1, 1),
    "small 3x3 24->24 s2 valid 65": ((16, 24, 65, 65), (24, 24, 3, 3), 2, 0, 1, 1),
    # unstrided layers of few channels or widening fourfold at 15x15 and 16x16, where the
    # row-stacked "dots" plan lost alone until its sums were fenced (found by --odd)
    "cifar 3x3 32->32 16 b32": ((32, 32, 16, 16), (32, 32, 3, 3), 1, 1, 1, 1),
    "widen 3x3 72->320 15": ((16, 72, 15, 15), (320, 72, 3, 3), 1, 1, 1, 1),
    "widen 3x3 64->256 16": ((16, 64, 16, 16), (256, 64, 3, 3), 1, 1, 1, 1),
    # a window longer than its image (XLA's CPU convolution slow there): VGG-11's last
    # layers on 32x32 images, an ImageNet ResNet given 32x32 images, LeNet's C5, batch 32
    "vgg 3x3 512->512 2": ((32, 512, 2, 2), (512, 512, 3, 3), 1, 1, 1, 1),
    "resnet@32 3x3 128->256 s2 4": ((32, 128, 4, 4), (256, 128, 3, 3), 2, 1, 1, 1),
    "resnet@32 3x3 256->256 2": ((32, 256, 2, 2), (256, 256, 3, 3), 1, 1, 1, 1),
    "lenet 5x5 16->120 valid 5": ((32, 16, 5, 5), (120, 16, 5, 5), 1, 0, 1, 1),
    # ... and an output longer than the input (padding beyond half the kernel), batch 8
    "full 3x3 64->64 pad 2 32": ((8, 64, 32, 32), (64, 64, 3, 3), 1, 2, 1, 1),
    "full 5x5 128->128 pad 4 16": ((8, 128, 16, 16), (128, 128, 5, 5), 1, 4, 1, 1),
    # ... narrow (bfloat16 im2col was slow there: found by --random 40 --seed 48), small
    "narrow 3x3 32->16 pad 2 2": ((32, 32, 2, 2), (16, 32, 3, 3), 1, 2, 1, 1),
    "narrow 3x3 16->16 2": ((32, 16, 2, 2), (16, 16, 3, 3), 1, 1, 1, 1),
    "narrow 5x5 32->32 4": ((32, 32, 4, 4), (32, 32, 5, 5), 1, 2, 1, 1),
    "small 3x3 16->32 2 b16": ((16, 16, 2, 2), (32, 16, 3, 3), 1, 1, 1, 1),
    # one window over the image (a classifier as a convolution; found by --random 40
    # --seed 110): VGG's first fully connected layer, batch 2, and a strided one, batch 64
    "vgg fc6 7x7 512->4096 valid 7": ((2, 512, 7, 7), (4096, 512, 7, 7), 1, 0, 1, 1),
    "one window 7x7 384->32 s2 7": ((64, 384, 7, 7), (32, 384, 7, 7), 2, 0, 1, 1),
}
IMPLS = ("xla", "auto", "lax")  # "lax": lax.conv_general_dilated itself
LIMIT = 1.10
SLOW_REPS = 3  # rounds for a layer whose slowest call exceeds --max-call


def _entries(x_shape, w_shape, stride, padding, dilation, groups, dtype):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(x_shape), dtype)
    w = jnp.asarray(rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:])), dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    params = conv_params("auto_sweep", x_shape[2:], w_shape[2:], **kw)  # as lax takes them
    entries = {}
    for mode in ("fwd", "fwd+bwd"):
        for impl in IMPLS:

            def apply(w, x, impl=impl):
                if impl == "lax":
                    return lax.conv_general_dilated(
                        x,
                        w,
                        params.stride,
                        params.padding,
                        rhs_dilation=params.dilation,
                        feature_group_count=groups,
                    )
                return jaxconv.conv2d(
                    x,
                    w,
                    stride=stride,
                    padding=padding,
                    dilation=dilation,
                    groups=groups,
                    impl=impl,
                )

            entries[mode, impl] = compile_entry(apply, w, x, mode)[0]
    return entries


# --odd: the widths and image sizes of EfficientNet, MobileNet-v3, Inception, AlexNet and
# SqueezeNet, none a power of two
ODD_WIDTHS = (3, 10, 24, 40, 72, 80, 112, 120, 144, 200, 240, 320, 480, 576, 672)
ODD_SIZES = (5, 9, 13, 15, 17, 19, 27, 35, 55, 73, 147)


def _timed(entries: dict, mode: str, rounds: int) -> dict:
    """Medians of one mode's programs alone, in turn: with the modes interleaved, a
    forward pass timed after a forward+backward read 1.1-1.3x the same program timed
    after a forward pass (the "one program" entries)."""
    own = {key: run for key, run in entries.items() if key[0] == mode}
    return time_interleaved(own, rounds, warmup=0)


def random_layers(count: int, seed: int, odd: bool = False) -> dict:
    """``count`` layers drawn at random from the sizes of common networks, the rules
    unseen: batch 1-64, 3-512 channels, 2x2 to 112x112 images, 1x1 to 7x7 kernels (some
    1xk), stride 1 or 2, "same" or no padding (a few "full", the kernel less one, beyond
    half of it), some dilated, depthwise and grouped; a kernel may be longer than the
    image, as at the end of VGG, where XLA's CPU convolution is slow (``_plan.py``); the
    batch is cut until the forward pass costs at most about 2 GFLOP (0.2 GFLOP grouped,
    which XLA's CPU convolution runs slowly): tens of ms here. ``odd`` draws widths and
    sizes from ``ODD_WIDTHS`` and ``ODD_SIZES`` instead."""
    rng = np.random.default_rng(seed)
    widths = (3, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 384, 512)
    sizes = (2, 4, 7, 8, 14, 16, 28, 32, 56, 64, 112)
    if odd:
        widths, sizes = ODD_WIDTHS, ODD_SIZES
    layers = {}
    while len(layers) < count:
        kind = rng.choice(["dense", "dense", "dense", "dense", "depthwise", "grouped"])
        k = int(rng.choice([1, 1, 3, 3, 3, 3, 5, 7]))
        kh, kw = k, k
        if rng.random() <= 0.1 and k > 1:  # Inception's factorised kernels
            kh, kw = (1, k) if rng.random() < 0.5 else (k, 1)
        stride = int(rng.choice([1, 1, 1, 2]))
        dilation = 1
        if kind == "dense" and k == 3 and rng.random() < 0.15:
            dilation = int(rng.choice([1, 2, 4]))
        size = int(rng.choice(sizes))
        c = int(rng.choice(widths))
        o = int(rng.choice(widths[1:]))
        groups = 1
        if kind == "depthwise":
            o = groups = c = max(c, 16)
        elif kind == "grouped":
            groups = int(rng.choice([2, 4, 8, 32]))
            c, o = c - c % (2 * groups) or 2 * groups, o - o % groups or groups
        draw = rng.random()
        same, full = draw < 0.8, draw >= 0.95
        half = 1 if full else 2  # "full": the kernel's reach less one on each side
        pad = ((dilation * (kh - 1) // half,) * 2, (dilation * (kw - 1) // half,) * 2)
        pad = pad if same or full else ((0, 0), (0, 0))
        n = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
        mh = (size + 2 * pad[0][0] - dilation * (kh - 1) - 1) // stride + 1
        mw = (size + 2 * pad[1][0] - dilation * (kw - 1) - 1) // stride + 1
        if min(mh, mw) < 1:  # no output: not a layer
            continue
        flops_an_image = 2 * o * (c // groups) * kh * kw * mh * mw
        most = 2e9 if groups == 1 else 2e8  # XLA's CPU grouped convolutions are slow
        while n > 1 and n * flops_an_image > most:
            n //= 2
        if n * flops_an_image < 2e6:  # a call of microseconds: only dispatch is timed
            continue
        name = (
            f"r{len(layers):02d} {kind[:5]} n{n} {c}->{o} {kh}x{kw} s{stride} d{dilation} "
            f"g{groups} {size} {'same' if same else 'full' if full else 'valid'}"
        )
        layers[name] = ((n, c, size, size), (o, c // groups, kh, kw), stride, pad, dilation, groups)
    return layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--only", nargs="+", metavar="SUBSTRING", help="layers whose name has one")
    parser.add_argument("--random", type=int, metavar="N", help="N random layers instead")
    parser.add_argument("--seed", type=int, default=0, help="of --random")
    parser.add_argument("--odd", action="store_true", help="--random over odd widths and sizes")
    parser.add_argument(
        "--max-call",
        type=float,
        default=1.0,
        metavar="S",
        help=f"a layer with a call slower than this (seconds) gets {SLOW_REPS} rounds",
    )
    args = parser.parse_args()
    layers = random_layers(args.random, args.seed, args.odd) if args.random else LAYERS
    names = [n for n in layers if not args.only or any(s in n for s in args.only)]
    print(
        f"{jax.devices()[0].device_kind}, jax {jax.__version__}, {args.dtype}, "
        f"{args.reps} interleaved rounds (3x as many again for a ratio over {LIMIT:.2f}x)"
    )
    worst = {"fwd": (0.0, ""), "fwd+bwd": (0.0, "")}
    over = []
    ratios: dict = {"fwd": [], "fwd+bwd": []}
    t_start = time.perf_counter()
    for name in names:
        x_shape, w_shape, stride, padding, dilation, groups = layers[name]
        kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        plan = jaxconv.choose_plan(x_shape, w_shape, dtype=args.dtype, **kw)
        entries = _entries(x_shape, w_shape, stride, padding, dilation, groups, args.dtype)
        slowest = 0.0
        for run in entries.values():  # warm
            t0 = time.perf_counter()
            run()
            slowest = max(slowest, time.perf_counter() - t0)
        # a call of seconds (XLA's CPU weight gradient of some grouped layers): fewer
        # rounds, or one layer takes many minutes
        reps = args.reps if slowest <= args.max_call else SLOW_REPS

        med = {}
        for mode in ("fwd", "fwd+bwd"):
            med.update(_timed(entries, mode, reps))
        cells = []
        for mode in ("fwd", "fwd+bwd"):
            used = plan[:1] if mode == "fwd" else plan
            one = set(used) == {"xla"}  # the same program as "xla"'s: noise
            ratio = med[mode, "auto"] / med[mode, "xla"]
            if ratio > LIMIT and not one:  # confirm on more rounds before reporting it
                again = _timed(entries, mode, 3 * reps)
                ratio = again[mode, "auto"] / again[mode, "xla"]
            if not one:
                ratios[mode].append(ratio)
            worst[mode] = max(worst[mode], (ratio, name))
            if ratio > LIMIT:
                over.append(f"{name} {mode} {ratio:.2f}x" + (" (one program)" if one else ""))
            # "xla" itself against lax's own program (its fences and swapped weight gradient)
            own = med[mode, "xla"] / med[mode, "lax"]
            if own > LIMIT:  # confirmed as above
                again = _timed(entries, mode, 3 * reps)
                own = again[mode, "xla"] / again[mode, "lax"]
            if own > LIMIT:
                over.append(f"{name} {mode} xla / lax {own:.2f}x")
            cells.append(
                f"{mode} xla {med[mode, 'xla'] * 1e3:7.1f} ms auto {ratio:.2f}x lax {1 / own:.2f}x"
            )
        if reps != args.reps:
            cells.append(f"({reps} rounds: a call took {slowest:.1f} s)")
        print(f"{name:34s} {'/'.join(plan):22s} " + "  ".join(cells), flush=True)
    print(f"\n{len(names)} layers in {time.perf_counter() - t_start:.0f} s")
    for mode, (ratio, name) in worst.items():
        steered = ratios[mode]
        middle = f"median {statistics.median(steered):.2f}x over {len(steered)}" if steered else ""
        print(f"{mode}: worst {ratio:.2f}x ({name}); where auto is not xla's program: {middle}")
    print(f"over {LIMIT:.2f}x: " + ("; ".join(over) if over else "none"))


if __name__ == "__main__":
    main()
