"""The measurements behind ``impl="auto"``'s CPU rules of the fourth session of 2026-12-04.

  python benchmarks/plan_passes.py passes GROUP [--reps 7] [--dtype float32 ...]
  python benchmarks/plan_passes.py plans GROUP [--reps 11] [--dtype float32 ...]
  python benchmarks/plan_passes.py chains GROUP [--reps 11] [--dtype float32 ...]

``passes``: each pass (forward, input gradient, weight gradient) of every built-in
lowering, jitted alone, timed in interleaved rounds (each round in the opposite order to
the last); prints ms and ``auto``'s plan. ``plans``: forward+backward (gradients of a
quadratic loss for input and weight) of whole plans, ``auto``'s and the alternatives
named per group, as ratios to all-``"xla"``'s. ``chains``: the same between other
layers, as in a network: ``CHAIN`` layers in a row with a ReLU after each (the layer,
then ``CHAIN - 1`` unstrided ones of its output channels in and out), the alternatives
applied to the layers of the first one's stride and plan; XLA runs independent passes
at once there (one layer's weight gradient beside the next one's input gradient), which
a layer alone cannot show. A rule in
``jaxconv/lowering/_plan.py`` cites the group it came from; ``benchmarks/auto_sweep.py``
checks the result.
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv._checks import conv_params
from jaxconv._conv2d import planned_fn
from jaxconv.cli.bench._timing import time_interleaved
from jaxconv.lowering import Plan

IMPLS = ("xla", "gemm", "matmul", "eigen", "dots")

# group: [(input shape, weight shape, stride, padding, dilation, groups)]
GROUPS = {
    # stems and one-channel layers: gemm's gradients, the depthwise rule's reach
    "stems": [
        ((2, 1, 128, 128), (32, 1, 3, 3), 1, 1, 1, 1),
        ((64, 1, 28, 28), (32, 1, 5, 5), 1, 2, 1, 1),
        ((32, 1, 32, 32), (16, 1, 3, 3), 1, 1, 1, 1),
        ((2, 3, 224, 224), (64, 3, 3, 3), 1, 1, 1, 1),
        ((4, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1, 1),
        ((4, 3, 224, 224), (32, 3, 3, 3), 2, 1, 1, 1),
        ((4, 3, 224, 224), (96, 3, 11, 11), 4, 2, 1, 1),
        ((8, 3, 112, 112), (64, 3, 7, 7), 2, 3, 1, 1),
        ((32, 3, 32, 32), (64, 3, 3, 3), 1, 1, 1, 1),
        ((32, 3, 32, 32), (16, 3, 3, 3), 1, 1, 1, 1),
        ((16, 4, 64, 64), (32, 4, 5, 5), 1, 2, 1, 1),
        ((16, 8, 64, 64), (16, 8, 3, 3), 1, 1, 1, 1),
        ((8, 8, 96, 96), (32, 8, 3, 3), 1, 1, 1, 1),
        ((8, 12, 64, 64), (48, 12, 5, 5), 1, 2, 1, 1),
        ((4, 3, 128, 128), (32, 3, 3, 3), 1, 2, 2, 1),
    ],
    # kernels as large as their stride (patch embeddings, ConvNeXt's downsampling): the
    # windows tile the input, and gemm's patches are a reshape of it (``_gemm.tiled``)
    "patches": [
        ((8, 3, 224, 224), (768, 3, 16, 16), 16, 0, 1, 1),
        ((32, 3, 224, 224), (384, 3, 16, 16), 16, 0, 1, 1),
        ((8, 3, 224, 224), (768, 3, 32, 32), 32, 0, 1, 1),
        ((4, 3, 224, 224), (1024, 3, 14, 14), 14, 0, 1, 1),
        ((64, 3, 32, 32), (192, 3, 4, 4), 4, 0, 1, 1),
        ((8, 3, 224, 224), (96, 3, 4, 4), 4, 0, 1, 1),
        ((8, 96, 56, 56), (192, 96, 2, 2), 2, 0, 1, 1),
        ((8, 192, 28, 28), (384, 192, 2, 2), 2, 0, 1, 1),
        ((8, 384, 14, 14), (768, 384, 2, 2), 2, 0, 1, 1),
        ((32, 256, 8, 8), (512, 256, 2, 2), 2, 0, 1, 1),
        ((4, 512, 4, 4), (1024, 512, 2, 2), 2, 0, 1, 1),
        ((8, 128, 28, 28), (128, 32, 2, 2), 2, 0, 1, 4),
        ((8, 64, 1, 1024), (64, 64, 1, 4), (1, 4), 0, 1, 1),
    ],
    # Eigen against YNNPACK as images grow (``_eigen.fits``), padded and unpadded
    "images": [
        ((n, c, hw, hw), (c, c, 3, 3), 1, 1, 1, 1)
        for c in (32, 64, 128)
        for hw, n in ((48, 11), (64, 6), (80, 4), (96, 3), (112, 2), (128, 2), (160, 1))
    ]
    + [
        ((1, 64, 224, 224), (64, 64, 3, 3), 1, 1, 1, 1),
        ((4, 64, 112, 112), (64, 64, 3, 3), 1, 1, 1, 1),
        ((4, 32, 128, 128), (32, 32, 3, 3), 1, 1, 1, 1),
        ((4, 32, 149, 149), (32, 32, 3, 3), 1, 0, 1, 1),
        ((4, 32, 130, 130), (32, 32, 3, 3), 1, 0, 1, 1),
        ((4, 64, 58, 58), (64, 64, 3, 3), 1, 0, 1, 1),
        ((4, 128, 30, 30), (128, 128, 3, 3), 1, 0, 1, 1),
        ((8, 128, 58, 58), (128, 128, 3, 3), 1, 0, 1, 1),
        ((2, 256, 18, 18), (256, 256, 3, 3), 1, 0, 1, 1),
        ((4, 512, 9, 9), (512, 512, 3, 3), 1, 0, 1, 1),
        ((4, 100, 68, 68), (100, 100, 5, 5), 1, 0, 1, 1),
        ((4, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1, 1),
    ],
    # unpadded layers: the forward pass on Eigen within forward+backward
    "unpadded": [
        ((2, 256, 18, 18), (256, 256, 3, 3), 1, 0, 1, 1),
        ((4, 256, 30, 30), (256, 256, 3, 3), 1, 0, 1, 1),
        ((4, 128, 30, 30), (128, 128, 3, 3), 1, 0, 1, 1),
        ((8, 128, 58, 58), (128, 128, 3, 3), 1, 0, 1, 1),
        ((8, 96, 34, 34), (96, 96, 3, 3), 1, 0, 1, 1),
        ((4, 100, 68, 68), (100, 100, 5, 5), 1, 0, 1, 1),
        ((4, 32, 149, 149), (32, 32, 3, 3), 1, 0, 1, 1),
        # ... to small outputs: XLA's forward pass below 6x6 (2026-12-07, fifth session)
        ((16, 48, 8, 8), (256, 48, 3, 3), 1, 0, 2, 1),
        ((16, 48, 6, 6), (256, 48, 3, 3), 1, 0, 1, 1),
        ((16, 48, 8, 8), (256, 48, 3, 3), 1, 0, 1, 1),
        ((32, 128, 6, 6), (256, 128, 3, 3), 1, 0, 1, 1),
        ((8, 256, 6, 6), (256, 256, 3, 3), 1, 0, 1, 1),
        ((16, 64, 7, 7), (128, 64, 3, 3), 1, 0, 1, 1),
        ((64, 64, 6, 6), (128, 64, 3, 3), 1, 0, 1, 1),
        ((16, 64, 9, 9), (64, 64, 5, 5), 1, 0, 1, 1),
        ((16, 128, 10, 10), (128, 128, 5, 5), 1, 0, 1, 1),
        ((16, 64, 12, 12), (128, 64, 3, 3), 1, 0, 2, 1),
    ],
    # dilated layers: short weight gradients (MIN_ROWS)
    "dilated": [
        ((2, 64, 32, 32), (64, 64, 3, 3), 1, 6, 6, 1),
        ((4, 64, 32, 32), (64, 64, 3, 3), 1, 6, 6, 1),
        ((8, 64, 56, 56), (64, 64, 3, 3), 1, 2, 2, 1),
        ((8, 32, 64, 64), (32, 32, 3, 3), 1, 2, 2, 1),
        ((4, 128, 28, 28), (128, 128, 3, 3), 1, 2, 2, 1),
        ((16, 16, 64, 64), (16, 16, 3, 3), 1, 4, 4, 1),
        ((8, 48, 64, 64), (48, 48, 3, 3), 1, 12, 12, 1),
    ],
    # grouped layers: XLA's CPU grouped weight gradient
    "grouped": [
        ((4, 128, 28, 28), (128, 4, 3, 3), 1, 1, 1, 32),
        ((4, 256, 28, 28), (256, 8, 3, 3), 2, 1, 1, 32),
        ((32, 64, 32, 32), (64, 16, 3, 3), 1, 1, 1, 4),
        ((8, 256, 14, 14), (256, 8, 3, 3), 1, 1, 1, 32),
        ((16, 96, 28, 28), (96, 2, 3, 3), 1, 1, 1, 48),
        ((4, 64, 56, 56), (128, 16, 5, 5), 1, 2, 1, 4),
        ((8, 512, 7, 7), (512, 16, 3, 3), 1, 1, 1, 32),
        ((4, 64, 56, 56), (64, 32, 3, 3), 2, 1, 1, 2),
    ],
    # grouped, below 28x28 output pixels: "dots" for every pass (2026-12-07, fourth session)
    "grouped_small": [
        ((8, 256, 14, 14), (256, 8, 3, 3), 1, 1, 1, 32),
        ((8, 512, 14, 14), (512, 16, 3, 3), 1, 1, 1, 32),
        ((8, 1024, 7, 7), (1024, 32, 3, 3), 1, 1, 1, 32),
        ((32, 128, 8, 8), (128, 32, 3, 3), 1, 1, 1, 4),
        ((32, 64, 16, 16), (64, 16, 3, 3), 1, 1, 1, 4),
        ((16, 96, 14, 14), (96, 2, 3, 3), 1, 1, 1, 48),
        ((4, 32, 16, 16), (48, 16, 3, 3), 1, 1, 1, 2),
        ((1, 40, 20, 20), (72, 20, 5, 5), 1, 2, 1, 2),
        ((8, 64, 14, 14), (256, 2, 3, 3), 1, 1, 1, 32),
        ((8, 240, 14, 14), (240, 80, 1, 1), 1, 0, 1, 3),
        ((1, 240, 15, 15), (240, 120, 7, 7), 2, 3, 1, 2),
        ((2, 768, 14, 14), (768, 96, 3, 3), 2, 1, 1, 8),
        ((1, 896, 14, 14), (896, 112, 3, 3), 1, 1, 1, 8),
        ((8, 3024, 7, 7), (3024, 112, 3, 3), 1, 1, 1, 27),
        ((8, 64, 14, 14), (64, 8, 3, 3), 1, 1, 1, 8),
        ((8, 256, 7, 7), (256, 8, 3, 3), 1, 1, 1, 32),
    ],
    # grouped, padding beyond half the kernel (an output longer than the input): XLA's
    # gradients where it swaps their roles (2026-12-07, fourth session)
    "grouped_full": [
        ((64, 576, 5, 5), (8, 72, 5, 5), 1, 4, 1, 8),
        ((64, 576, 5, 5), (64, 72, 5, 5), 1, 4, 1, 8),
        ((64, 576, 5, 5), (8, 72, 3, 3), 1, 2, 1, 8),
        ((8, 64, 8, 8), (64, 16, 3, 3), 1, 2, 1, 4),
        ((32, 128, 8, 8), (128, 32, 3, 3), 1, 2, 1, 4),
        ((16, 32, 16, 16), (32, 8, 5, 5), 1, 4, 1, 4),
        ((32, 256, 2, 2), (256, 64, 3, 3), 1, 2, 1, 4),
        ((16, 48, 7, 7), (48, 16, 7, 7), 1, 6, 1, 3),
        ((64, 512, 5, 5), (8, 64, 3, 3), 1, 2, 1, 8),
        ((64, 512, 8, 8), (64, 64, 3, 3), 1, 2, 1, 8),
        ((64, 1024, 3, 3), (16, 128, 3, 3), 1, 2, 1, 8),
        ((16, 512, 7, 7), (32, 128, 5, 5), 1, 4, 1, 4),
        ((64, 576, 5, 5), (576, 72, 3, 3), 1, 2, 1, 8),
        ((16, 256, 8, 8), (16, 64, 5, 5), 1, 4, 1, 4),
        ((32, 512, 4, 4), (8, 128, 3, 3), 1, 2, 1, 4),
        ((1, 192, 56, 56), (96, 48, 3, 3), 1, 2, 1, 4),
        ((4, 128, 56, 56), (128, 32, 3, 3), 1, 2, 1, 4),
        ((4, 64, 64, 64), (128, 32, 5, 5), 1, 4, 1, 2),
        ((8, 512, 14, 14), (32, 128, 3, 3), 1, 2, 1, 4),
    ],
    # ... and layers of the random draws that set the bounds of the rule where "dots"
    # runs (2026-12-07, fifth session): few outputs, narrow and wide groups, 3x3 to 7x7
    "grouped_past": [
        ((64, 16, 2, 2), (24, 2, 5, 5), 1, 4, 1, 8),
        ((64, 24, 3, 3), (128, 3, 3, 3), 1, 2, 1, 8),
        ((8, 512, 4, 4), (16, 64, 7, 7), 1, 4, 1, 8),
        ((16, 256, 8, 8), (4, 64, 3, 3), 1, 2, 1, 4),
        ((4, 256, 7, 7), (256, 32, 7, 7), 1, 5, 1, 8),
        ((16, 96, 7, 7), (24, 32, 7, 7), 1, 6, 1, 3),
        ((32, 128, 3, 3), (128, 32, 5, 5), 1, 3, 1, 4),
        ((8, 32, 12, 12), (64, 4, 7, 7), 1, 4, 1, 8),
        ((16, 12, 14, 14), (128, 3, 7, 7), 1, 6, 1, 4),
        ((64, 12, 7, 7), (24, 4, 7, 7), 1, 6, 1, 3),
        ((64, 256, 3, 3), (16, 64, 5, 5), 1, 4, 1, 4),
        ((64, 512, 3, 3), (32, 64, 3, 3), 1, 2, 1, 8),
        ((16, 512, 4, 4), (32, 64, 3, 3), 1, 2, 1, 8),
        ((32, 256, 4, 4), (64, 64, 5, 5), 1, 4, 1, 4),
        ((4, 256, 2, 2), (64, 32, 7, 7), 1, 6, 1, 8),
        ((32, 96, 2, 2), (6, 32, 7, 7), 1, 4, 1, 3),
    ],
    # dense, padding beyond half the kernel: float32's weight gradient as "dots" or taps
    # (2026-12-07, fifth session)
    "over_padded": [
        ((1, 96, 8, 8), (8, 96, 5, 5), 1, 4, 1, 1),
        ((4, 96, 8, 8), (8, 96, 5, 5), 1, 4, 1, 1),
        ((1, 64, 8, 8), (16, 64, 5, 5), 1, 4, 1, 1),
        ((1, 256, 8, 8), (8, 256, 3, 3), 1, 2, 1, 1),
        ((8, 32, 8, 8), (8, 32, 5, 5), 1, 4, 1, 1),
        ((1, 96, 14, 14), (8, 96, 5, 5), 1, 4, 1, 1),
        ((2, 128, 8, 8), (32, 128, 5, 5), 1, 4, 1, 1),
        ((1, 128, 8, 8), (128, 128, 5, 5), 1, 4, 1, 1),
        ((8, 64, 32, 32), (64, 64, 3, 3), 1, 2, 1, 1),
        ((8, 64, 2, 2), (64, 64, 3, 3), 1, 2, 1, 1),
        ((8, 128, 16, 16), (128, 128, 5, 5), 1, 4, 1, 1),
        ((8, 32, 28, 28), (32, 32, 3, 3), 1, 2, 1, 1),
        ((16, 256, 8, 8), (256, 256, 3, 3), 1, 2, 1, 1),
        ((32, 64, 8, 8), (64, 64, 3, 3), 1, 2, 1, 1),
        ((4, 16, 64, 64), (32, 16, 3, 3), 1, 2, 1, 1),
        ((32, 16, 4, 4), (16, 16, 3, 3), 1, 2, 1, 1),
    ],
    # float32, up to 32 channels in or out, a window longer than the image: "dots" for
    # every pass or im2col's gradients (2026-12-07, fifth session)
    "narrow_past": [
        ((32, 16, 5, 5), (120, 16, 5, 5), 1, 0, 1, 1),  # LeNet 5x5 to 1x1
        ((32, 32, 2, 2), (16, 32, 3, 3), 1, 1, 1, 1),
        ((32, 16, 2, 2), (16, 16, 3, 3), 1, 1, 1, 1),
        ((32, 16, 4, 4), (16, 16, 5, 5), 1, 2, 1, 1),
        ((32, 64, 2, 2), (16, 64, 3, 3), 1, 1, 1, 1),
        ((8, 32, 4, 4), (32, 32, 5, 5), 1, 2, 1, 1),
        ((4, 32, 2, 2), (32, 32, 3, 3), 1, 1, 1, 1),
        ((2, 200, 5, 5), (24, 200, 7, 1), 1, (3, 0), 1, 1),
        ((8, 200, 5, 5), (24, 200, 7, 1), 1, (3, 0), 1, 1),
        ((2, 64, 3, 3), (16, 64, 5, 5), 1, 2, 1, 1),
        ((16, 24, 3, 3), (48, 24, 5, 5), 1, 2, 1, 1),
        ((32, 8, 6, 6), (32, 8, 7, 7), 1, 3, 1, 1),
        ((8, 256, 5, 5), (32, 256, 5, 5), 1, 0, 1, 1),
        ((64, 32, 3, 3), (32, 32, 3, 3), 2, 1, 1, 1),
    ],
    # bfloat16, few channels on 2x2 images, a kernel longer than the image: XLA's forward
    # pass or "dots"' (2026-12-07, fifth session; run with --dtype bfloat16)
    "few_past": [
        ((32, 16, 2, 2), (192, 16, 7, 7), 1, 3, 1, 1),
        ((32, 16, 2, 2), (64, 16, 7, 7), 1, 3, 1, 1),
        ((32, 16, 2, 2), (192, 16, 5, 5), 1, 2, 1, 1),
        ((8, 16, 2, 2), (192, 16, 7, 7), 1, 3, 1, 1),
        ((32, 16, 2, 2), (16, 16, 3, 3), 1, 1, 1, 1),
        ((32, 16, 2, 2), (128, 16, 3, 3), 1, 1, 1, 1),
        ((32, 8, 2, 2), (128, 8, 5, 5), 1, 2, 1, 1),
        ((32, 16, 1, 1), (256, 16, 3, 3), 1, 1, 1, 1),
        ((32, 16, 3, 3), (192, 16, 7, 7), 1, 3, 1, 1),
        ((32, 24, 2, 2), (192, 24, 7, 7), 1, 3, 1, 1),
    ],
    # small images (below MIN_PIXELS): the weight gradient of narrow and wide layers
    "small": [
        ((32, 128, 16, 16), (128, 128, 3, 3), 1, 1, 1, 1),
        ((8, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1, 1),
        ((6, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1, 1),
        ((4, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1, 1),
        ((12, 128, 20, 20), (128, 128, 3, 3), 1, 1, 1, 1),
        ((32, 64, 32, 32), (128, 64, 3, 3), 2, 1, 1, 1),
        ((32, 64, 16, 16), (64, 64, 3, 3), 1, 1, 1, 1),
        ((16, 64, 14, 14), (64, 64, 3, 3), 1, 1, 1, 1),
        ((16, 96, 24, 24), (96, 96, 3, 3), 1, 1, 1, 1),
        ((64, 32, 16, 16), (32, 32, 3, 3), 1, 1, 1, 1),
        ((64, 16, 32, 32), (32, 16, 3, 3), 2, 1, 1, 1),  # CIFAR ResNet-20's downsampling
        ((64, 32, 16, 16), (64, 32, 3, 3), 2, 1, 1, 1),
        ((64, 64, 8, 8), (64, 64, 3, 3), 1, 1, 1, 1),
        ((128, 16, 16, 16), (16, 16, 3, 3), 1, 1, 1, 1),
        ((128, 24, 16, 16), (24, 24, 3, 3), 1, 1, 1, 1),
        ((32, 256, 8, 8), (256, 256, 3, 3), 1, 1, 1, 1),
        ((8, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1, 1),
        ((32, 512, 4, 4), (512, 512, 3, 3), 1, 1, 1, 1),
        ((8, 192, 17, 17), (192, 192, 3, 3), 1, 1, 1, 1),
        ((32, 128, 16, 16), (256, 128, 3, 3), 2, 1, 1, 1),
    ],
    # the random sweep of 2026-12-05 (auto_sweep.py --random 60 --seed 1): "eigen" on
    # short calls, narrow outputs, grouped layers of two channels per group
    "short": [
        ((2, 24, 7, 7), (48, 24, 3, 3), 1, 1, 1, 1),
        ((1, 16, 32, 32), (48, 16, 3, 3), 1, 1, 1, 1),
        ((8, 64, 16, 16), (64, 64, 3, 3), 1, 1, 1, 1),
        ((2, 48, 32, 32), (24, 48, 5, 5), 1, 2, 1, 1),
        ((1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, 1),
        ((4, 32, 32, 32), (32, 32, 3, 3), 1, 1, 1, 1),
        ((16, 48, 16, 16), (48, 48, 3, 3), 1, 1, 1, 1),
        ((32, 24, 14, 14), (32, 24, 5, 5), 1, 2, 1, 1),
        ((1, 32, 112, 112), (32, 32, 3, 3), 1, 1, 1, 1),
    ],
    "thin": [
        ((32, 48, 32, 32), (8, 48, 7, 7), 1, 3, 1, 1),
        ((16, 24, 8, 8), (8, 24, 7, 7), 1, 3, 1, 1),
        ((32, 48, 32, 32), (48, 48, 7, 7), 1, 3, 1, 1),
        ((32, 48, 32, 32), (8, 48, 3, 3), 1, 1, 1, 1),
        ((16, 64, 32, 32), (16, 64, 5, 5), 1, 2, 1, 1),
        ((8, 384, 64, 64), (8, 384, 3, 3), 1, 2, 2, 1),
        ((8, 384, 64, 64), (8, 384, 3, 3), 1, 1, 1, 1),
        ((4, 256, 56, 56), (16, 256, 3, 3), 1, 1, 1, 1),
        ((4, 256, 56, 56), (32, 256, 3, 3), 1, 1, 1, 1),
        ((4, 256, 56, 56), (64, 256, 3, 3), 1, 1, 1, 1),
        ((1, 512, 112, 112), (32, 512, 3, 3), 1, 1, 1, 1),
    ],
    "strided": [
        ((8, 32, 64, 64), (96, 32, 5, 5), 2, 2, 1, 1),
        ((8, 64, 64, 64), (128, 64, 5, 5), 2, 2, 1, 1),
        ((8, 32, 64, 64), (64, 32, 7, 7), 2, 3, 1, 1),
        ((8, 48, 112, 112), (8, 48, 3, 3), 1, 0, 1, 1),
        ((8, 64, 58, 58), (16, 64, 3, 3), 1, 0, 1, 1),
        ((8, 128, 34, 34), (32, 128, 3, 3), 1, 0, 1, 1),
    ],
    # large kernels: "gemm" against "matmul" for the weight gradient, by input channels
    "large": [
        ((4, 16, 64, 64), (256, 16, 5, 5), 1, 2, 1, 1),
        ((4, 16, 64, 64), (128, 16, 7, 7), 1, 0, 1, 1),
        ((16, 16, 32, 32), (64, 16, 5, 5), 1, 2, 1, 1),
        ((4, 24, 56, 56), (96, 24, 5, 5), 1, 2, 1, 1),
        ((16, 32, 32, 32), (64, 32, 5, 5), 1, 2, 1, 1),
        ((1, 32, 112, 112), (64, 32, 5, 5), 1, 2, 1, 1),
        ((16, 64, 32, 32), (48, 64, 5, 5), 1, 2, 1, 1),
        ((2, 48, 64, 64), (96, 48, 7, 7), 1, 3, 1, 1),
        ((4, 100, 68, 68), (100, 100, 5, 5), 1, 0, 1, 1),
    ],
    # Eigen's blocked weight gradient (``_eigen.blocked_pays``) against XLA's, in ``chains``
    # (2026-12-07, sixth session): float32 on the Zen 5 EPYC, the plan's weight gradient
    "blocked": [
        ((n, c, hw, hw), (o, c, 3, 3), 1, 1, 1, 1)
        for c, o in ((32, 32), (64, 64), (48, 48), (32, 64), (64, 32), (16, 32), (24, 24))
        for hw, n in ((32, 32), (32, 8), (32, 64), (48, 11), (64, 6), (48, 4), (40, 16), (56, 4))
    ]
    + [((n, 32, 32, 32), (32, 32, 3, 3), 1, 1, 1, 1) for n in (7, 10, 12, 13, 20, 24, 28, 30, 48)]
    + [
        ((n, c, 32, 32), (c, c, 3, 3), 1, 1, 1, 1)
        for n, c in ((12, 64), (24, 64), (20, 64), (9, 64), (32, 40), (8, 40), (32, 56), (16, 56))
    ],
    # narrow layers on small images (the "small" rule's ``"matmul"`` weight gradient) alone
    # and in ``chains``, float32 on the Zen 5 EPYC (2026-12-07, sixth session)
    "narrow_small": [
        ((n, c, side, side), (o, c, 3, 3), 1, 1, 1, 1)
        for c, o in ((24, 24), (32, 32), (48, 48), (64, 64), (96, 96), (32, 64), (16, 32))
        for side, n in ((16, 64), (16, 32), (8, 128), (24, 16), (28, 8))
    ],
    # padded layers on images too large for Eigen, where the rules take ``"gemm"``'s
    # weight gradient, in ``chains`` (2026-12-07, seventh session)
    "wide_images": [
        ((n, c, hw, hw), (o, c, 3, 3), 1, 1, 1, 1)
        for c, o in ((48, 48), (64, 64), (96, 96), (128, 128), (64, 128), (128, 64))
        for hw, n in ((80, 4), (96, 3), (112, 2), (128, 2), (160, 1), (224, 1))
    ]
    + [
        ((n, c, hw, hw), (o, c, 3, 3), 1, 1, 1, 1)
        for n, c, o, hw in ((4, 64, 64, 112), (8, 64, 64, 96), (2, 32, 64, 128), (2, 64, 96, 112))
    ],
    # ... and on images within Eigen's reach but past its blocks' (``_eigen.blocked_pays``)
    "mid_images": [
        ((n, c, hw, hw), (o, c, 3, 3), 1, 1, 1, 1)
        for c, o in ((64, 64), (48, 48), (96, 96), (32, 64), (128, 64))
        for hw, n in ((56, 8), (56, 32), (48, 11), (64, 6), (40, 32), (56, 4))
    ]
    + [
        ((n, 64, hw, hw), (64, 64, 3, 3), 1, 1, 1, 1)
        for hw, n in ((56, 16), (64, 12), (48, 24), (48, 16), (56, 20), (64, 3), (72, 8))
    ],
    # downsampling 3x3 layers (stride 2, channels doubled) and the unstrided ones after
    # them, in ``chains`` (2026-12-07, sixth session)
    "downsampling": [
        ((n, c, hw, hw), (2 * c, c, 3, 3), 2, 1, 1, 1)
        for n, c, hw in (
            (32, 64, 32),
            (16, 64, 32),
            (64, 64, 32),
            (8, 64, 56),
            (32, 32, 32),
            (32, 128, 16),
            (8, 128, 28),
            (32, 256, 8),
        )
    ],
    # ResNet-18's distinct layers in `jaxconv bench --model resnet18` (batch 32)
    "resnet18": [
        ((32, 3, 32, 32), (64, 3, 3, 3), 1, 1, 1, 1),
        ((32, 64, 32, 32), (64, 64, 3, 3), 1, 1, 1, 1),
        ((32, 64, 32, 32), (128, 64, 3, 3), 2, 1, 1, 1),
        ((32, 64, 32, 32), (128, 64, 1, 1), 2, 0, 1, 1),
        ((32, 128, 16, 16), (128, 128, 3, 3), 1, 1, 1, 1),
        ((32, 128, 16, 16), (256, 128, 3, 3), 2, 1, 1, 1),
        ((32, 128, 16, 16), (256, 128, 1, 1), 2, 0, 1, 1),
        ((32, 256, 8, 8), (256, 256, 3, 3), 1, 1, 1, 1),
        ((32, 256, 8, 8), (512, 256, 3, 3), 2, 1, 1, 1),
        ((32, 256, 8, 8), (512, 256, 1, 1), 2, 0, 1, 1),
        ((32, 512, 4, 4), (512, 512, 3, 3), 1, 1, 1, 1),
    ],
    # the dense 1x1 and 2x2 layers of MobileNet-v1 and ConvNeXt (``jaxconv bench
    # --model``), batch 32: with "resnet18", where ``"dots"`` is measured in bfloat16
    "pointwise": [
        ((32, 32, 32, 32), (64, 32, 1, 1), 1, 0, 1, 1),
        ((32, 64, 16, 16), (128, 64, 1, 1), 1, 0, 1, 1),
        ((32, 128, 16, 16), (128, 128, 1, 1), 1, 0, 1, 1),
        ((32, 128, 8, 8), (256, 128, 1, 1), 1, 0, 1, 1),
        ((32, 256, 8, 8), (256, 256, 1, 1), 1, 0, 1, 1),
        ((32, 512, 4, 4), (512, 512, 1, 1), 1, 0, 1, 1),
        ((32, 1024, 2, 2), (1024, 1024, 1, 1), 1, 0, 1, 1),
        ((32, 48, 16, 16), (192, 48, 1, 1), 1, 0, 1, 1),
        ((32, 192, 16, 16), (48, 192, 1, 1), 1, 0, 1, 1),
        ((32, 96, 8, 8), (384, 96, 1, 1), 1, 0, 1, 1),
        ((32, 384, 8, 8), (96, 384, 1, 1), 1, 0, 1, 1),
        ((32, 192, 4, 4), (768, 192, 1, 1), 1, 0, 1, 1),
        ((32, 384, 2, 2), (1536, 384, 1, 1), 1, 0, 1, 1),
        ((32, 48, 16, 16), (96, 48, 2, 2), 2, 0, 1, 1),
        ((32, 96, 8, 8), (192, 96, 2, 2), 2, 0, 1, 1),
    ],
    "pairs": [
        ((8, 16, 64, 64), (96, 2, 5, 5), 1, 0, 1, 8),
        ((1, 4, 32, 32), (192, 2, 3, 3), 1, 1, 1, 2),
        ((16, 96, 28, 28), (96, 2, 3, 3), 1, 1, 1, 48),
        ((8, 64, 56, 56), (64, 2, 3, 3), 1, 1, 1, 32),
        ((8, 8, 56, 56), (64, 2, 3, 3), 1, 1, 1, 4),
        ((8, 32, 56, 56), (128, 4, 3, 3), 1, 1, 1, 8),
        ((4, 128, 28, 28), (128, 4, 3, 3), 1, 1, 1, 32),
        ((4, 16, 64, 64), (64, 4, 3, 3), 1, 1, 1, 4),
    ],
}
# the plans ``plans`` times besides all-"xla" and auto's: (forward, input, weight) with
# None standing for auto's choice of that pass
ALTERNATIVES = {
    "stems": [("matmul", "gemm", "xla"), ("xla", "gemm", None), ("xla", "xla", "gemm")],
    "patches": [("xla", "xla", "xla"), ("gemm", "gemm", "gemm"), ("xla", "gemm", "gemm")],
    "images": [("xla", "xla", None), (None, None, "gemm")],
    "unpadded": [("xla", None, None)],
    "dilated": [(None, None, "xla"), (None, None, "gemm")],
    "grouped": [("gemm", "gemm", "gemm"), ("matmul", "gemm", "gemm"), ("xla", "gemm", "gemm")],
    "grouped_small": [("xla", "gemm", "gemm"), ("matmul", "gemm", "gemm")],
    "grouped_full": [("xla", "xla", "xla"), ("xla", "xla", "dots"), ("dots", "dots", "dots")],
    "grouped_past": [
        ("xla", "xla", "xla"),
        ("xla", "xla", "dots"),
        ("dots", "dots", "dots"),
        ("xla", "xla", "gemm"),
    ],
    "over_padded": [(None, None, "matmul"), (None, None, "dots"), (None, None, "gemm")],
    "narrow_past": [("xla", "xla", "xla"), ("dots", "dots", "dots"), ("dots", "gemm", None)],
    "few_past": [("xla", "xla", "xla"), ("dots", "dots", "dots"), ("xla", "dots", None)],
    "small": [(None, None, "matmul"), (None, None, "gemm"), (None, None, "xla")],
    "short": [("xla", "xla", None)],
    "thin": [("xla", "xla", None), (None, None, "xla"), (None, None, "matmul")],
    "pairs": [("xla", "gemm", "gemm"), ("gemm", "gemm", "gemm")],
    "strided": [(None, None, "xla"), (None, None, "gemm"), (None, None, "matmul")],
    "large": [(None, None, "gemm"), (None, None, "matmul")],
    "blocked": [(None, None, "eigen"), (None, None, "xla")],
    "downsampling": [(None, None, "matmul"), (None, None, "gemm"), (None, None, "dots")],
    "wide_images": [(None, None, "xla"), (None, None, "dots")],
    "mid_images": [(None, None, "xla")],
    "narrow_small": [(None, None, "matmul"), (None, None, "xla"), (None, None, "gemm")],
    "resnet18": [
        (None, None, "xla"),
        (None, None, "gemm"),
        (None, None, "matmul"),
        ("xla", "xla", None),
    ],
}


def _interleaved(fns: dict, reps: int) -> dict:
    """Median ms of each zero-argument function's result, blocked on (two warm calls)."""
    runs = {key: (lambda fn=fn: jax.block_until_ready(fn())) for key, fn in fns.items()}
    return {key: t * 1e3 for key, t in time_interleaved(runs, reps, warmup=2).items()}


def _operands(layer, dtype, rng):
    x_shape, w_shape, *_ = layer
    x = jnp.asarray(rng.standard_normal(x_shape), dtype)
    w = jnp.asarray(rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:])), dtype)
    return x, w


def _input_grad(f):
    return jax.jit(lambda g, x, w: jax.vjp(lambda x: f(x, w), x)[1](g)[0])


def _weight_grad(f):
    return jax.jit(lambda g, x, w: jax.vjp(lambda w: f(x, w), w)[1](g)[0])


def passes(group: str, reps: int, dtype: str) -> None:
    rng = np.random.default_rng(0)
    for layer in GROUPS[group]:
        x_shape, w_shape, stride, padding, dilation, groups = layer
        kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        x, w = _operands(layer, dtype, rng)
        conv = functools.partial(jaxconv.conv2d, **kw)
        g = jnp.asarray(rng.standard_normal(conv(x, w).shape), dtype)
        fns = {}
        for impl in IMPLS:
            f = functools.partial(conv, impl=impl)
            forward = jax.jit(f)
            fns["fwd", impl] = functools.partial(forward, x, w)
            fns["dx", impl] = functools.partial(_input_grad(f), g, x, w)
            fns["dw", impl] = functools.partial(_weight_grad(f), g, x, w)
        ms = _interleaved(fns, reps)
        plan = jaxconv.choose_plan(x_shape, w_shape, dtype=dtype, **kw)
        print(f"{dtype} {x_shape} x {w_shape} {kw}: auto {'/'.join(plan)}")
        for p in ("fwd", "dx", "dw"):
            print(f"  {p:4s}" + "".join(f"  {i} {ms[p, i]:8.2f}" for i in IMPLS), flush=True)


def _call(layer) -> dict:
    """A group's layer's stride, padding and dilation, as keywords."""
    return dict(zip(("stride", "padding", "dilation"), layer[2:5]))


def _layers(group: str, dtypes):
    """``(dtype, layer, its keywords)`` for every layer of ``group`` in every dtype."""
    for dtype in dtypes:
        for layer in GROUPS[group]:
            yield dtype, layer, _call(layer)


def _moved(alt, plan: Plan) -> Plan:
    """``plan`` with an alternative's named passes (``None``: the plan's own)."""
    return Plan(*(own if p is None else p for p, own in zip(alt, plan)))


def plans(group: str, reps: int, dtypes) -> None:
    rng = np.random.default_rng(0)
    for dtype, layer, kw in _layers(group, dtypes):
        x_shape, w_shape, stride, _, dilation, groups = layer
        auto = jaxconv.choose_plan(x_shape, w_shape, groups=groups, dtype=dtype, **kw)
        params = conv_params("plans", x_shape[2:], w_shape[2:], **kw)
        candidates = [Plan("xla", "xla", "xla"), auto] + [
            _moved(alt, auto) for alt in ALTERNATIVES[group]
        ]
        candidates = list(dict.fromkeys(candidates))
        x, w = _operands(layer, dtype, rng)
        fns = {}
        for plan in candidates:
            f = planned_fn(params, groups, plan)
            loss = lambda x, w, f=f: 0.5 * jnp.sum(f(x, w).astype(jnp.float32) ** 2)
            fns[plan] = functools.partial(jax.jit(jax.grad(loss, (0, 1))), x, w)
        ms = _interleaved(fns, reps)
        base = ms[candidates[0]]
        cells = "  ".join(
            f"{'/'.join(p)}{' (auto)' if p == auto else ''} {ms[p] / base:.2f}x"
            for p in candidates[1:]
        )
        print(
            f"{dtype} {x_shape} x {w_shape} s{stride} d{dilation} g{groups}: "
            f"xla {base:.1f} ms | {cells}",
            flush=True,
        )


CHAIN = 4  # layers in a row in ``chains``


def chain(layer, alternatives, dtype) -> tuple[list, dict[str, list[Plan]]]:
    """``layer``'s chain (``CHAIN`` layers: it, then unstrided ones of its output channels
    in and out) and the plans of each candidate by name: all-``"xla"``, ``auto``'s, and
    each alternative applied to the layers of the first one's stride and plan (one that
    changes nothing is left out)."""
    x_shape, w_shape, stride, padding, dilation, groups = layer
    o = w_shape[0]
    y = jax.eval_shape(
        functools.partial(jaxconv.conv2d, groups=groups, **_call(layer)),
        jax.ShapeDtypeStruct(x_shape, dtype),
        jax.ShapeDtypeStruct(w_shape, dtype),
    )
    inner = (y.shape, (o, o // groups, *w_shape[2:]), 1, padding, dilation, groups)
    layers = [layer] + [inner] * (CHAIN - 1)
    autos = [
        jaxconv.choose_plan(s[0], s[1], groups=groups, dtype=dtype, **_call(s)) for s in layers
    ]
    moved = [s[2] == stride and a == autos[0] for s, a in zip(layers, autos)]
    candidates = {"xla": [Plan("xla", "xla", "xla")] * CHAIN, "auto": autos}
    for alt in alternatives:
        plans_ = [_moved(alt, auto) if m else auto for auto, m in zip(autos, moved)]
        if plans_ not in candidates.values():  # auto's own: timed once
            candidates["/".join(p or "=" for p in alt)] = plans_
    return layers, candidates


def chain_loss(layers, plans_):
    """``(x, weights) -> loss``: the chain's layers on these plans, a ReLU after each,
    half the sum of squares of the last one's output."""
    fs = [
        planned_fn(conv_params("chains", s[0][2:], s[1][2:], **_call(s)), s[5], p)
        for s, p in zip(layers, plans_)
    ]

    def loss(x, weights):
        for f, w in zip(fs, weights):
            x = jax.nn.relu(f(x, w))
        return 0.5 * jnp.sum(x.astype(jnp.float32) ** 2)

    return loss


def chains(group: str, reps: int, dtypes) -> None:
    rng = np.random.default_rng(0)
    for dtype, layer, _ in _layers(group, dtypes):
        x_shape, w_shape, stride, _, _, groups = layer
        layers, candidates = chain(layer, ALTERNATIVES[group], dtype)
        x = _operands(layer, dtype, rng)[0]
        weights = [_operands(s, dtype, rng)[1] for s in layers]
        fns = {
            name: functools.partial(jax.jit(jax.grad(chain_loss(layers, p), (0, 1))), x, weights)
            for name, p in candidates.items()
        }
        ms = _interleaved(fns, reps)
        cells = "  ".join(f"{k} {ms[k] / ms['xla']:.2f}x" for k in list(candidates)[1:])
        autos = candidates["auto"]
        plan = "/".join(autos[0]) + ("" if autos[1] == autos[0] else f", {'/'.join(autos[1])}")
        print(
            f"{dtype} {CHAIN} x {x_shape} x {w_shape} s{stride} g{groups} (auto {plan}): "
            f"xla {ms['xla']:.1f} ms | {cells}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("passes", "plans", "chains"))
    parser.add_argument("group", choices=sorted(GROUPS))
    parser.add_argument("--reps", type=int, default=None, help="default 7 (passes), 11 (plans)")
    parser.add_argument("--dtype", nargs="+", default=["float32"])
    args = parser.parse_args()
    print(f"{jax.devices()[0].device_kind}, jax {jax.__version__}", flush=True)
    if args.what == "passes":
        for dtype in args.dtype:
            passes(args.group, args.reps or 7, dtype)
    elif args.what == "plans":
        plans(args.group, args.reps or 11, args.dtype)
    else:
        chains(args.group, args.reps or 11, args.dtype)


if __name__ == "__main__":
    main()
