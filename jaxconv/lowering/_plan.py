"""Which lowering computes a convolution: the plans, and ``impl="auto"``'s rules.

A *plan* names a lowering for each pass of one convolution: the forward pass, the
gradient with respect to the input and the gradient with respect to the weights.
Every lowering computes the same dense (or grouped) convolution; a transposable one
can serve any pass, a forward-only one the forward pass (``_registry.py``). jaxconv's
own three are transposable:

* ``"xla"``: ``lax.conv_general_dilated`` (cuDNN on a GPU, Eigen on a CPU);
* ``"matmul"``: ``kh*kw`` shifted 1x1 convolutions, each a matmul over channels;
* ``"gemm"``: im2col patches and one matrix multiplication, built in blocks.

``impl="auto"`` picks per pass from the platform and the shapes, by rules measured on the
machines in BENCHMARKS.md. Ratios below are time / all-``"xla"`` time of the same call
in the same run (2-core CPU, float32, the benchmark suite's batches). The same rules
were checked in float64 (0.09-1.02x forward, 0.17-0.71x forward+backward) and bfloat16
(0.19-0.95x, 0.24-0.71x, apart from the stem).

How fast XLA's own CPU convolution is depends on the machine: YNNPACK's weight gradient
took 72 ms on ResNet-18's 64-channel layer on a Sapphire-Rapids-class Xeon and 27 ms on
an AMD EPYC (Zen 4), where ``"gemm"`` took 33 and 27 ms. The CPU rules were set on the
Xeon and re-measured on the EPYC (``plan_passes.py plans``, every group); where the two
disagree, a gain on one and a loss of more than 10% on the other, ``auto`` keeps
``"xla"`` (which is 1.0x by definition), and the rule below says so ("the EPYC"):

* GPU, TPU: ``"xla"``, apart from the depthwise rule below. cuDNN beat every pure-XLA
  formulation of the dense layers by 4-16x on an H100.
* GPU, one input channel per group (depthwise), kernels up to 3x3: ``"matmul"`` for the
  forward pass and the input gradient, whose fused tap loops (``_matmul.py``) beat
  cuDNN's depthwise kernels; the weight gradient stays on ``"xla"``. Measured on an H200,
  MobileNet-v1 training step, batch 128, float32 (``benchmarks/depthwise_plans.py``,
  time / flax.nnx's in the same run): all-``"xla"`` 1.01-1.02x; this plan 0.80x (NHWC,
  two runs) and 0.81x (NCHW); ``"matmul"`` on every pass 1.01x, on the forward pass only
  0.98x, on both gradients 1.02x. Its cost is compile time: 2.85-2.95 s against flax's
  1.55 s and all-``"xla"``'s 1.57-1.59 s (1.84-1.90x flax's), repaid after about 1400
  steps. The suite's depthwise layer (128 channels, 28x28): ``"matmul"`` 0.56-0.92x lax,
  forward and forward+backward, float32 and bfloat16. Larger kernels: not measured.
* CPU, one input channel per group and more than one group (depthwise; a dense layer of
  one input channel is planned as the dense layers below: the tap loops ran its
  forward+backward 1.2-5x slower than ``"xla"``, 1->32 3x3 at 128x128 and 5x5 at 28x28,
  ``benchmarks/auto_sweep.py``): ``"matmul"``, which is then an
  elementwise multiply-add per tap, fused into one loop (beyond 5x5 in float32 and
  float64, and beyond 9x9 in every dtype, a loop over the kernel's rows:
  ``_matmul.MAX_FUSED_TAPS``, measured on ConvNeXt's 7x7 layers, and
  ``_matmul.MAX_UNROLLED_TAPS``, on 11x11 to 31x31 ones). XLA's CPU convolution runs
  this case slowly: 0.04x forward, 0.14x forward+backward (3x3, 128 channels, 28x28).
  In a whole MobileNet-v1 training step (batch 32, ``jaxconv bench --model``) the
  gradients matter as much: 0.20x flax's time with ``"matmul"`` for every pass, 0.50x
  with the input gradient on ``"xla"``, 0.63x with the weight gradient on ``"xla"``,
  0.83x with both (which compiled in 6.5 s instead of 8.7 s), although single layers
  of the network timed alone read 0.75-1.25x for those plans. With the depthwise input
  gradient written as a fused forward pass (``_matmul.py``): 0.13-0.16x; with the weight
  gradient as one reduction over taps as well: 0.12-0.15x, compiling in 1.74-1.81x
  flax's time (three runs) against 1.77-2.19x with the loop over taps.
* CPU, grouped (more than one input channel per group): both gradients use ``"gemm"``,
  the forward pass ``"matmul"`` from 28x28 output pixels on, else ``"xla"``; smaller
  images and few groups of 16 channels or more ``"dots"`` (below); a padding beyond half
  the kernel: below. XLA's CPU weight gradient of a grouped convolution is a slow loop:
  240-3550 ms where its forward pass took 4-61 ms
  (ResNeXt 3x3 at 32 groups, RegNet's 4 groups, 48 groups of 2; batch
  4-32); ``"gemm"`` took 3.5-33 ms. Forward+backward with this plan, time /
  all-``"xla"``'s (``benchmarks/plan_passes.py plans grouped``, six layers): 0.016-0.14x
  in float32, 0.018-0.14x in bfloat16, 0.10-0.60x in float64; in
  ``benchmarks/auto_sweep.py`` 0.02-0.36x over seven ResNeXt, RegNet, ShuffleNet and
  AlexNet layers. Forward (15 interleaved runs): ``"matmul"`` 0.38-0.83x from 28x28 on,
  float32 and bfloat16, but 0.81-1.31x at 14x14 and 7x7 (``"gemm"``'s forward pass lost
  in bfloat16, 1.4-4.4x). Its taps need at least 16 channels per group, or 16 groups
  (where XLA's forward pass is slow too: 8-11 GFLOP/s at 4 and 8 groups, 48 at 2): with 2
  channels per group ``"matmul"`` read 0.42-0.43x at 32 and 48 groups but 1.16x, 1.25x
  and 3.9x at 4, 8 and 2 groups; with 4 channels 0.68x at 32 groups, 0.87-0.93x at 4
  and 8 (``benchmarks/plan_passes.py passes pairs``, from ``auto_sweep.py --random 60
  --seed 1``); with 6 channels at 4 groups (24->192 at 32x32, batch 4) 1.09x in float32
  and 1.39x in bfloat16 (``--seed 3``); with 8 channels at 2 groups (16->64 5x5 stride 2
  at 112x112) 1.15x and 1.52x, at 8 groups 0.51x and 0.67x (``--seed 4``).
  - Fewer than 16 groups of 16 to 63 channels, unstrided, a kernel larger than 1x1,
    where XLA runs the convolution on YNNPACK: XLA's forward pass, unless the call holds
    at least 64 K images x output pixels x channels a group (``GROUPED_WORK``; 96 K in
    half precision, ``GROUPED_WORK_HALF``). Found by ``auto_sweep.py --random 60 --seed
    24 --odd`` in bfloat16: 40->72 5x5 in 2 groups at 35x35, batch 1, taps 1.63x (1.54x
    on a rerun). Forward, ``"matmul"`` / ``"xla"``'s time (9-15 interleaved runs, an
    Emerald-Rapids Xeon), 2, 4 and 8 groups of 16, 24, 32 and 64 channels at 35x35, 3x3
    and 5x5: batch 1 (1225 rows) 1.02-2.05x float32 and 1.12-2.27x bfloat16 below 32
    channels a group, 0.77-1.41x and 0.77-1.39x at 32, 0.26-0.88x and 0.23-0.81x at 64;
    batch 4 (4900 rows) 0.88-1.07x and 0.90-1.25x at 16, 0.34-0.91x and 0.21-0.94x from
    24 on (the 1.25x, 24 channels 5x5 in 2 groups, read 0.91x on a rerun). 7x7 at batch 1:
    1.09-1.48x and 1.74-2.27x at 16, 0.95x and 1.08x at 32. Longer calls: 16 a group at
    112x112, batch 1 (200 K), 0.40-0.82x; at 70x70 (78 K) 1.00x and 1.16x; 32 a group at
    70x70 (157 K) 0.63-0.78x, at 56x56 (100 K) 0.65-0.83x, 7x7 in 4 groups 0.44-0.45x;
    16 a group at 32x32, batch 4 (65 K), 0.89-0.98x and 1.11-1.21x; 24 at 56x56 (75 K)
    0.74x and 0.85x. The taps keep 1x1 kernels (no windows to copy: 0.40-0.72x at 35x35,
    batch 1-4) and strided layers (160->256 3x3 stride 2 at 112x112 in 8 groups, batch 1:
    0.59x and 0.73x; 128->64 at batch 2 0.73x in bfloat16), which this rule does not
    cover. ``auto_sweep.py``'s random layers whose forward pass moved: 0.91-1.08x where
    the taps read 0.91-1.17x; one gain forgone, 96->256 5x5 in 4 groups at 56x56 (75 K
    in bfloat16): 0.99x against the taps' 0.82x.
  - Thin groups widened (fewer than 16 channels a group, more than twice as many
    outputs, ``WIDENING``): each tap's matmul contracts a handful of channels, and the
    taps lost where XLA's grouped forward pass is fast enough. Forward, time /
    ``"xla"``'s, ``"matmul"`` / ``"gemm"`` (11 interleaved runs, an Emerald-Rapids Xeon,
    float32): 64->192 7x7 at 28x28 in 32 groups, batch 1, 1.37-1.67x (``auto_sweep.py
    --random 60 --seed 7``; 1.38-1.51x on reruns) / 0.58-0.68x; batch 2 1.34-1.35x /
    0.53-0.65x; batch 8 0.94x / 0.41x; 64->192 3x3 batch 1 1.05-1.09x / 0.87x;
    128->512 3x3 at 28x28, batch 4, 1.00-1.06x / 0.49-0.70x; 64->256 3x3 at 56x56,
    batch 8, 0.62x / 0.53x; 64->160 3x3 at 28x28, batch 16, 0.71x / 0.60x; 64->512 1x1
    at 28x28, batch 16, 0.37x / 0.10x; in float64 ``"gemm"`` 0.07-0.31x. So ``"gemm"``
    there, apart from half precision with a kernel larger than 1x1, which keeps
    ``"xla"``: in bfloat16 ``"gemm"`` read 1.65-3.71x (64->192 7x7), 1.69x (128->512
    3x3), 1.04x (64->160), and ``"matmul"`` 1.22-1.67x at batch 1. Unwidened thin groups
    keep the taps (64->64 7x7 at 56x56 in 32 groups, batch 8: 0.54x, ``"gemm"`` 0.58x;
    128->128 at 4 a group, 3x3 to 7x7, batch 1-2, 0.51-0.82x).
  - Below 28x28 output pixels, unstrided and undilated (strided too for groups of
    ``GROUPED_WIDE`` channels and ``WIDE_DOTS_OUTPUTS`` outputs), in float32 or in
    bfloat16 on bfloat16 dot instructions (``_dots_run``): ``"dots"`` for every pass,
    each one matmul batched over the groups; few narrow groups keep XLA's forward pass
    (the rule above). Pass by pass (ms, Zen 5 EPYC, 7 interleaved rounds, float32;
    bfloat16 alike), forward ``"xla"`` / ``"dots"``, input and weight gradients
    ``"gemm"`` / ``"dots"``: ResNeXt's 512->512 in 32 groups at 14x14, batch 8, 10.76 /
    3.24, 16.19 / 1.99, 10.10 / 4.00; 1024->1024 at 7x7 6.19 / 2.24, 7.59 / 1.49, 7.81 /
    2.09; 128->128 in 4 groups at 8x8, batch 32, 3.24 / 1.04, 1.72 / 0.82, 2.27 / 1.07;
    96->96 in 48 groups of 2 at 14x14 7.15 / 2.88, 1.49 / 0.98, 3.85 / 1.02. Strided
    narrow groups stay: the weight gradient lost (256->256 in 32 groups to 14x14 1.23 /
    1.52, bfloat16 1.44 / 2.08; 160->160 in 10 groups 1.62 / 1.91), as did a bfloat16
    forward pass (2.52 / 3.31). Forward+backward, time / the plan before (the taps'
    or XLA's forward pass, im2col's gradients), 16 layers (8 ResNeXt- and RegNet-like,
    4 of them strided or wide, 7x7 to 16x16, batch 1-32): 0.25-0.90x in float32 and one
    1.06x (240->240 1x1 in 3 groups at 14x14, 1.17 / 1.24 ms), 0.25-0.86x in bfloat16.
    Forward alone: 0.29-1.06x, but 1.12x against the taps' forward pass on 3024->3024 in
    27 groups at 7x7 (0.40x XLA's), and in bfloat16 1.41x XLA's on 256->256 in 32 groups
    of 8 at 7x7 (0.93 / 1.31 ms; timed alone, 0.92 / 0.79; RegNetX's 368->368 in 46
    groups of 8 at 7x7 0.84x). XLA's forward with the dots' gradients (32 groups of 8,
    14x14) ran 1.23x the plan before: the passes' layouts differ, so all or none.
  - At any size, fewer than 16 groups of at least ``MIN_CHANNELS`` channels, unstrided
    and undilated, a kernel larger than 1x1: ``"dots"`` for every pass too, XLA's
    forward pass included where the few-groups rule kept it. Forward, ms ``"xla"`` /
    ``"matmul"`` / ``"dots"`` (11 rounds, float32): RegNet's 64->64 in 4 groups at
    56x56, batch 4, 7.89 / 4.38 / 2.08; 224->224 in 2 groups 320.94 / 101.66 / 87.42;
    448->448 in 4 groups at 28x28 178.39 / 50.92 / 45.90; 64->128 5x5 in 4 groups at
    56x56 58.32 / 22.35 / 21.29 (bfloat16 16.86 ``"matmul"`` / 18.92); 40->72 5x5 in 2
    groups at 35x35, batch 1, 2.25 / 3.37 / 0.82; 32->48 7x7 1.81 / 2.98 / 0.59 in
    bfloat16; 0.16-0.50x XLA's over 12 such layers in both dtypes. Forward+backward,
    time / the plan before (``"matmul"``'s or XLA's forward pass, im2col's gradients):
    0.17-0.95x in float32, 0.15-0.83x in bfloat16, over 9 of them. Many groups of few
    channels stay (32 groups of 8 at 28x28 1.49x, 48 groups of 2 1.15x), as do strided
    layers (160->256 in 8 groups stride 2 at 112x112 1.09x) and 1x1 kernels (240->240 in 3
    groups at 28x28 1.07x).
* CPU, a kernel as large as its stride and undilated (``_gemm.tiles``: ViT's patch
  embeddings, ConvNeXt's 4x4 stem and 2x2 downsampling layers), not depthwise: ``"gemm"``
  for every pass. Its windows tile the input, so its patch matrix is the input reshaped
  and each pass one matmul (``_gemm.tiled``). XLA's CPU convolution is slow on such
  layers' input gradient: 182 ms on ViT-B/16's 16x16 patches (batch 8) against 13 ms for
  the forward pass. Per pass, time / ``"xla"``'s (``benchmarks/plan_passes.py passes
  patches``, 7 interleaved runs, an Emerald-Rapids Xeon, float32, thirteen layers:
  ViT's 14x14, 16x16 and 32x32 and a CIFAR ViT's 4x4 patches, ConvNeXt's stem and
  downsamplings, a grouped one, a 1x4): forward 0.14-0.83x, input gradient 0.04-0.93x
  (0.04-0.07x on 16x16 and 32x32 patches), weight gradient 0.03-0.75x. Forward+backward
  (``plans patches``, 9 runs): 0.06-0.73x in float32, 0.09-0.73x in bfloat16, 0.06-0.44x
  in float64 (5 runs); six small calls (16->16 2x2 at 4x4, one image, up to 32->64 3x3
  stride 3 at 15x15, four) 0.38-0.83x and 0.38-0.95x in bfloat16. Not measured on a GPU,
  which keeps ``"xla"``.
* CPU, one window over the image (the output one pixel, the kernel undilated: a
  classifier written as a convolution, VGG's first fully connected layer, LeNet's 5x5 to
  1x1) is the patch embedding of one patch: ``"gemm"``, one matmul a pass. Before, a
  kernel longer than its output took im2col's input gradient, which stacks a window per
  tap: 384->32 7x7 stride 2 on 7x7, batch 64, ran 4.1x ``"xla"``'s forward+backward
  (``auto_sweep.py --random 40 --seed 110``). Time / ``"xla"``'s over 11 such layers
  (batch 2-64, 16-512 channels in, 10-4096 out, 2x2 to 7x7, strided, padded, grouped;
  21 interleaved runs, the Zen 5 EPYC, two runs, float64 one): forward 0.17-0.94x,
  0.08-0.92x, 0.20-0.70x and forward+backward 0.04-0.49x, 0.09-0.89x, 0.03-0.47x in
  float32, bfloat16, float64.
  Without groups it is one dot of the flattened weights by the flattened images: in the
  grouped form, a batch axis of one group made XLA copy the images (10 outputs, batch
  64, bfloat16: 1.13x ``"xla"``'s forward pass, against 0.40x).
* CPU, 1x1 kernel, no groups: ``"gemm"``, which for a 1x1 kernel is one matmul on the
  input as it lies (``_gemm.one_by_one``): 0.24-0.35x forward, 0.25-0.32x
  forward+backward (256->64, 56x56, ``bench --quick``, six runs on a Sapphire-Rapids-class
  machine; the channels-last matmul it replaced read 0.50-0.61x and 0.34-0.37x in two
  runs there, and 0.47x / 0.35x when this rule was set); ``"matmul"`` was 0.61x / 0.41x
  then.
  - Output images under 8x8 pixels (``SMALL_1X1_PIXELS``) whose weights are at most
    the batch's activations (in and out): ``"matmul"``, whose matmul keeps each image's
    pixels on an axis of their own. ``"gemm"``'s moves the input to (C, N*P) and its
    result back, and those copies cost most at odd sizes: forward,
    time / ``"xla"``'s (11 interleaved runs, an Emerald-Rapids Xeon, float32), 16->24
    at batch 64 1.56x at 3x3, 1.95x at 5x5, 2.04-2.12x at 7x7 (``auto_sweep.py --random
    60 --seed 7``), 128->128 at batch 32 1.59x at 3x3, 1.30x at 5x5, 1.14x at 7x7,
    where ``"matmul"`` read 0.83-0.92x, 0.85-0.92x and 0.75-0.87x. At 2x2 to 8x8
    ``"matmul"``'s forward read 0.60-0.98x over 16->24, 128->128 and 512->128, and
    forward+backward 0.39-0.75x in float32 and 0.39-0.80x in bfloat16 (``"gemm"``:
    0.47-1.28x and 0.38-1.16x; at the even sizes 2x2-6x6 ``"gemm"`` read 0.59-0.77x
    against ``"matmul"``'s 0.54-0.79x). From 9x9 on ``"gemm"``'s forward won at odd
    sizes too (0.24-0.75x, against ``"matmul"``'s 0.41-1.00x). Where the weights
    outweigh the activations, ``"gemm"``'s one matmul wins (forward+backward, ``"gemm"``
    / ``"matmul"``, weights / activations in brackets): 1024->1024 at 4x4, batch 2,
    0.20x / 0.54x (16); 256->256 at 5x5, batch 1, 0.49x / 0.75x (5); 128->512 at 3x3,
    batch 4, 0.48x / 0.63x (2.8); ResNet-50's 512->2048 at 7x7, batch 4, 0.45x / 0.59x
    (2.1; forward 0.43x / 0.86x in ``auto_sweep.py``); at 0.16-0.35 the two were level
    (0.50-0.61x), at 0.04 ``"matmul"`` won (64->64 at 7x7, batch 16: 0.67x / 1.25x).
  - Output images under 16x16 pixels whose pixel count is not a multiple of 16
    (``UNALIGNED_1X1_PIXELS``, ``ALIGNED_PIXELS``), where ``"gemm"`` copies several
    images around one shared matmul (``_gemm.per_image`` false) and the weights are at
    most the batch's activations: ``"matmul"`` too. Those copies move rows of P pixels,
    and rows of a size that is not a multiple of 16 cost most. Found by
    ``auto_sweep.py --random 60 --seed 22 --odd`` in bfloat16 (24->80 at 13x13, batch
    32: ``"gemm"`` forward 1.27x, then 1.48x). Forward, ``"gemm"`` / ``"matmul"`` (21
    interleaved runs, an Emerald-Rapids Xeon, float32), batch 8 24->80, batch 4 40->120,
    batch 8 96->96, batch 32 16->48 and batch 8 256->16, by image size: 9x9 1.17-1.72x /
    0.85-0.98x; 10x10 0.76-1.12x / 0.73-0.99x; 11x11 1.03-1.52x / 0.44-0.91x; 13x13
    0.38-1.76x / 0.67-1.16x (0.77-0.83x on reruns); 14x14 0.40-1.13x / 0.68-0.97x; 15x15
    0.45-1.34x / 0.56-0.92x; at the aligned 8x8, 12x12 and 16x16 ``"gemm"`` read
    0.32-0.90x, faster than ``"matmul"`` (0.57-1.03x) on most. Batch 2 96->96 at 13x13:
    2.14x / 0.87x (1.43x / 0.63x in bfloat16); bfloat16 at 9x9, 10x10 and 13x13:
    0.98-1.54x / 0.57-0.89x.
    Forward+backward: 0.59-1.10x / 0.50-0.84x over eighteen layers at 9x9 to 14x14 in
    both types. ``auto_sweep.py``'s layers whose plan moved (eleven from the random
    draws and ResNet-50's 1024->256 at 14x14, batch 4), ``"gemm"`` / ``"matmul"``,
    forward 0.24-1.48x / 0.22-0.92x, forward+backward 0.26-0.76x / 0.24-0.67x. At 8x8
    ``"matmul"`` lost where ``"gemm"`` is aligned: 16->48, batch 32, forward+backward
    1.26x against 0.89x; 256->16, batch 8, forward 1.09x against 0.84x. With one image
    or per-image matmuls there are no copies, and ``"gemm"`` stays (240->80 at 13x13,
    batch 1: 0.35-0.69x forward; 16->24 at 15x15, batch 16: 0.35x).
  - Both rules above were measured against ``"matmul"``'s grouped form, each image's
    pixels on an axis of their own. Its dense 1x1 is now ``"gemm"``'s shared matmul
    (``_taps.shared_one_by_one``), so where ``"gemm"`` shares one matmul too the two
    plans are one program, and the rules decide only for the layers ``"gemm"``
    multiplies image by image. Re-measured so (11 layers of both rules, float32 and
    bfloat16, forward and forward+backward; BENCHMARKS.md, eighth session of
    2026-12-06): ``auto`` 0.24-0.93x ``"xla"``'s.
  - Strided (a ResNet's projection shortcut): ``"xla"`` for the forward pass and the
    input gradient, ``"gemm"`` for the weight gradient. Alone, ``"gemm"`` is faster
    (ResNet-18's three shortcuts 64->128, 128->256, 256->512, stride 2 from 32x32, 16x16
    and 8x8, batch 32: 0.39x, 0.37x, 0.53x forward+backward). In the network it is not:
    the rest of each stage is XLA's convolution, which the CPU backend runs on
    channels-last buffers; with a matmul among them XLA kept the stage's residual sums
    channels-first (optimised HLO) and built more layout copies. With the shortcuts on
    ``"xla"`` the ResNet-18 step (``jaxconv bench --model``) ran in the same time
    (1793 against 1779 ms NCHW, 1743 against 1812 ms NHWC; medians of 3x20 interleaved
    steps), built 18 fewer kernels (341 against 359) and compiled faster: 1.43-1.60x
    flax's compile time against 1.63-2.06x (five runs of 3-5 rounds). In MobileNet-v1,
    whose unstrided pointwise layers sit between depthwise ones, ``"xla"`` there was
    2.2x slower and compiled slower too, so unstrided 1x1 layers stay on ``"gemm"``.
    The weight gradient moved alone keeps those layouts (it ends the chain rather than
    sitting in it), and XLA's is the slowest pass there: ``plan_passes.py passes`` (Zen 5
    EPYC, 5 rounds, ms ``"xla"`` / ``"gemm"``, float32) read 5.20 / 1.30, 2.57 / 0.61,
    1.87 / 0.43 on ResNet-18's three; ResNet-50's from 56x56, 28x28 and 14x14, batch 4,
    24.9 / 2.7, 10.5 / 2.2, 10.6 / 2.8; 64->128 from 56x56, batch 8, 3.9 / 0.8; batch 1
    2.9 / 0.7; 16->32 from 32x32, batch 64, 1.6 / 0.3 (bfloat16 2.6-6.8x likewise). In
    the ResNet-18 step (same-process A/Bs, time / flax.nnx's, 2 compile rounds, 31
    interleaved steps), float32: 0.901x against 0.912x channels-first, 0.898x against
    0.914x channels-last; earlier runs of one round 0.911x / 0.934x and 0.907x / 0.926x;
    a last A/B with the rule landed 0.903x / 0.908x and 0.915x / 0.922x; six kernels
    more, compile level (1.27-1.48x flax's against 1.33-1.47x).
* CPU with bfloat16 dot instructions (``_dots.bf16_dots``: AMX or AVX512-BF16, which XLA
  uses through YNNPACK's dots), bfloat16, no groups, no ``preferred_element_type``, at
  least 128 images x output pixels and at most 32x32 output pixels an image (beyond, the
  unstrided 3x3 layers' gradients: below): ``"dots"``,
  each pass one bfloat16 matmul with float32 sums, where it was measured faster than the
  plan the rules below give (``_with_dots``). XLA converts a bfloat16 convolution to
  float32 and runs it without them. Measured on an Emerald-Rapids Xeon with AMX (2
  cores; the EPYC's below), time / the faster of
  ``"eigen"``'s and ``"xla"``'s in the same run, forward / input gradient / weight
  gradient:
  - Unstrided 3x3, the row-stacked form (``benchmarks/dots_forms.py``: 22 layers, batch
    8-32, 3 to 512 channels at 4x4 to 32x32, one run of 9 rounds): from 32 channels in
    and out at up to 16x16 output pixels, every pass, 0.39-0.93x / 0.34-0.98x /
    0.11-0.55x. At 32x32 (up to ``DOTS_MAX_PIXELS``) both gradients: the forward pass
    loses there (``"dots"`` 1.15-1.48x ``"eigen"``'s time from 64 channels at batch 32;
    0.80-1.08x at batch 8). The weight gradient alone did not pay in a network, both
    gradients did: ResNet-18's mixed-precision training step (``jaxconv bench
    --model``'s, batch 32; same-process A/Bs of 3-4 compile rounds and 11-21
    interleaved steps) with only its 64->64 layers' and stem's weight gradients on
    ``"dots"`` took 1.00-1.07x the time without (four A/Bs; MobileNet-v1's stem: 1.04x),
    with 149 MiB of temporaries against 130; with both gradients of the 64->64 layers
    (since ``_dots._rows_input_grad`` shares the other passes' operands) 0.78x
    channels-first and 0.92x channels-last, 40 fewer kernels, compiling in 0.95x and
    1.02x the median ratio to flax.nnx, with 147 MiB against 128. (The two ``bench``
    runs after it read the step's compile at 1.55-1.93x flax.nnx's, over the 1.5x goal,
    where the run before had read 1.43-1.44x; with these layers on ``"xla"`` it took
    0.72 s less CPU to compile and 183 ms more a step: BENCHMARKS.md, eighth session.)
    Thinner layers (the stem, 16 channels) stay on the rules below.
  - Strided 3x3, im2col (``benchmarks/plan_passes.py passes resnet18 --dtype bfloat16``,
    batch 32, and a scratch run; time / ``"xla"``'s, two runs): at least 256 channels in
    and out (256->512 from 8x8) every pass, 0.42-0.65x / 0.30-0.53x / 0.28-0.48x; from
    64 inputs and 128 outputs (64->128 from 32x32, 128->256 from 16x16) the forward pass,
    0.46-0.57x, and the weight gradient, 0.27-0.55x, not the input gradient, 0.77-1.16x.
    The forward pass only up to 16x16 output pixels (``DOTS_FORWARD_PIXELS``), as
    unstrided: ResNet-50's 128->128 from 56x56 to 28x28 lost on both machines (the Xeon
    1.13-1.18x ``"xla"``'s at batch 4, 1.08-1.16x at batch 8, ``auto_sweep.py``; the EPYC
    below 1.18x, 1.09x and 1.39x at batch 4, 8 and 16, 9 interleaved rounds), where its
    weight gradient won (0.57x, 0.68x, 0.97x on the EPYC). Larger kernels, dilated ones
    and larger images are left to the rules below (not measured).
  - 1x1 of at least 32 channels in and out (MobileNet-v1's pointwise layers, ConvNeXt's
    expansions and projections, 2x2 to 32x32, 32 to 1536 channels): the gradients, in
    0.22-1.02x the time of the faster of ``"gemm"`` and ``"matmul"`` (weight gradient)
    and 0.37-0.98x (input gradient; once 2.03x, 128->256 at 8x8). The forward pass stays
    theirs (``"dots"`` 0.85-3.6x the faster one's). ResNet-18's strided projections take
    ``"matmul"``'s forward pass (0.31-0.50x ``"xla"``'s; ``"dots"`` 0.95-1.38x it) and
    ``"dots"``'s gradients (0.67-0.90x and 0.43-0.64x the faster of the two).
  The strided and 1x1 runs concatenated the patches; gathered (``_dots._patches``, one
  run), the forward passes taken read 0.65-0.91x ``"xla"``'s and the weight gradients
  0.46-0.78x.
  On an EPYC with AVX512-BF16 and no AMX (Zen 5, 2 cores), the same plans
  (``plan_passes.py passes resnet18 --dtype bfloat16``, 5 rounds; time / the faster of
  ``"eigen"``'s and ``"xla"``'s): ResNet-18's unstrided 128->128 to 512->512 layers every
  pass 0.68-0.80x / 0.58-0.61x / 0.33-0.65x; its strided 3x3 layers' passes taken
  0.74-0.92x / 0.64x / 0.51-0.53x; its projections' ``"matmul"`` forward 0.44-0.70x and
  ``"dots"`` gradients 0.73-1.27x / 0.12-0.29x; at 32x32 the input gradient lost
  (64->64: 1.76x ``"eigen"``'s) and the weight gradient won (0.51x). In the training step
  both gradients there paid: ResNet-18 0.63x flax.nnx's time against 0.67x with that
  input gradient on ``"eigen"`` and 0.97x with no ``"dots"`` (one same-process A/B,
  channels-first, 15 interleaved steps); MobileNet-v1 0.22x against 0.25x, ConvNeXt
  0.21x against 0.26x. Zen 4's and Cooper Lake's AVX512-BF16 were not measured.
  Beyond 32x32 output pixels (``_dots_on_large_images``; the Zen 5 EPYC, ``plan_passes.py
  passes``, 7 rounds, ms the faster of ``"xla"``'s and ``"eigen"``'s / ``"dots"``'s,
  padded 3x3, input gradient and weight gradient): 64->64 at 224x224, batch 1, 11.66 /
  20.33 and 30.06 / 18.25; 128->128 at 112x112, batch 2, 19.20 / 24.82 and 44.36 /
  23.13; 256->256 at 56x56, batch 2, 18.87 / 9.68 and 41.08 / 10.29; 512->512 at 28x28,
  batch 2 (where the rule above takes it), 19.87 / 11.06 and 26.64 / 11.87; 64->64 at
  56x56, batch 4, 3.47 / 1.74 and 7.55 / 2.27; 32->32 at 128x128, batch 2, 3.93 / 2.30
  and 5.87 / 3.34; 64->64 at 48x48, batch 8, 4.98 / 2.74 and 10.75 / 2.94; U-Net's
  128->64 at 64x64, batch 2, 3.36 / 1.86 and 8.72 / 3.04 (its ``"gemm"`` weight
  gradient, the rules', 8.48; ``auto_sweep.py`` had read that layer at 1.01-1.30x
  ``"xla"``'s forward+backward over five runs, now 0.62x). So the weight gradient at any
  size, the input gradient up to ``DOTS_LARGE_ELEMENTS`` input elements an image (it
  won at 0.15-0.8 M, lost at 1.6 M and 3.2 M). The forward pass stays: ``"dots"`` took
  2.48x, 2.64x, 0.79x, 0.69x, 0.81x, 1.03x and 0.88x the faster one's time on the first
  seven and 1.29x on U-Net's (not measured enough for a bound).
* CPU, float32 and bfloat16 (measured in float32, then in bfloat16 on the same layers:
  ``_eigen.py``'s notes), no groups, 16 to 96 channels in and out (a dense layer that
  jaxlib 0.10's CPU backend hands to YNNPACK), an axis of stride 1, and at most 400 K
  channels x output pixels an image (``_eigen.fits``): the forward pass and the input
  gradient use ``"eigen"``, XLA's convolution shaped so that XLA runs it on Eigen;
  the weight gradient too where both channel counts are at most 64 (in at most 16 blocks
  of 16 images x 16 output channels, from 4 images and 16 output channels on, at most
  128 K channels x output pixels an image: ``_eigen.blocked_pays``; on AMD's CPUs,
  float32 batches of an even number of images up to 32 and channels multiples of 16
  keep XLA's, which a network runs beside the next layer's input gradient:
  ``_overlapped``); the rules below keep the rest. On the EPYC the blocks' weight
  gradient took 1.3-3x YNNPACK's from 131 K on (32->32 at 64x64 and 80x80, 64->64 at
  48x48 to 80x80; the plans at 80x80 1.30x and 1.51x forward+backward, with
  ``"gemm"``'s weight gradient 0.84-0.92x; 64->64 at 56x56 batch 8 1.09-1.12x, with
  ``"gemm"``'s 0.79x), level at 65 K (ResNet-18's 64->64 at 32x32: 25 against 27 ms).
  An unpadded forward pass of up to 256 channels uses ``"eigen"`` at any size: YNNPACK
  ran unpadded convolutions 1.1-4.4x slower than Eigen did. Measured on a
  Sapphire-Rapids-class Xeon (2 cores; ``benchmarks/eigen_passes.py``, time / ``"xla"``'s
  in the same run, forward / input gradient): 64->64 3x3 at 32x32, batch 32,
  0.77x / 0.62x; at 56x56, batch 8, 0.70x / 0.64x; 32->32 3x3 at 32x32 and 64x64
  0.77x / 0.74-0.75x; 48->48 at 16x16 0.63x / 0.68x; 96->96 at 32x32 0.79x / 0.69x;
  16->64 at 64x64 0.83x / 0.80x; 32->64 5x5 ``"same"`` 0.67x / 0.64x. Unpadded forward
  passes: the lesson's 100->100 5x5 0.34-0.37x (``"matmul"``, the rule before, 0.58x),
  32->32 3x3 at 147x147 0.24-0.26x, 128->128 at 28x28 0.90x and at 56x56 0.43x,
  256->256 at 16x16 0.83-0.90x, 512->512 at 7x7 1.09x (so not there); their input
  gradients 0.94-1.07x (so ``"xla"``). Weight gradients (ms, ``"xla"`` / ``"gemm"`` /
  ``"matmul"`` / ``"eigen"``): 64->64 at 32x32 72 / 33 / 49 / 24; at 56x56
  51 / 26 / 33 / 23; 32->32 at 32x32 20 / 14 / 13 / 8; 16->64 at 64x64 22 / 11 / 15 / 9;
  but 96->96 at 32x32 80 / 30 / 35 / 30, so wider layers keep the rules below. Where
  ``"eigen"`` lost, it is not used: 128 channels, padded (16x16 batch 32 0.94-0.97x, but
  28x28 batch 4 1.10-1.19x and 64x64 batch 6 1.10x forward), 256 and 512 channels
  (0.94-1.06x), 16->256 5x5 ``"same"`` (1.81x forward), fewer than 16 input channels (a
  stem: 1.29x forward), large images (``_eigen.fits``: 64->64 at 224x224 batch 1 1.40x
  forward, 128->128 at 112x112 1.38x). ResNet-18 steps (``jaxconv bench --model
  resnet18``, three runs, the rule with 128 channels): 0.84-0.88x flax.nnx's time NCHW,
  0.86-0.89x NHWC, against 0.93-0.98x without it on the same machine (BENCHMARKS.md).
  Where XLA does not use YNNPACK (another jaxlib, ``XLA_FLAGS``, a GPU) the rule is off.
  Padded layers are steered only in calls of at least ``MIN_ROWS`` images x output
  pixels, and their forward pass only with at least 16 output channels: drawn at random
  (``auto_sweep.py --random 60 --seed 1``, then ``plan_passes.py passes short`` and
  ``thin``), shorter calls read 1.3-1.9x forward (24->48 3x3 at 7x7 batch 2, 16->48 at
  32x32 batch 1, 32->32 at 32x32 batch 4, 48->24 5x5 at 32x32 batch 2) where longer
  ones read 0.79-0.96x, and 8-output forward passes 1.10-3.8x (48->8 7x7 and 3x3,
  24->8 7x7) though their input gradients won (0.62-0.77x). Unpadded forward passes
  keep ``"eigen"`` at any size from 2^24 multiply-adds on (``MIN_MACS``): 256->256 7x7 at
  28x28 batch 1 (484 rows) 0.65-0.73x, but 24->256 3x3 from 4x4 to 2x2 pixels, batch 8
  (1.8 M multiply-adds, 0.2 ms), 1.26x (``auto_sweep.py --random 60 --seed 2``), and
  from 6x6 output pixels on (``UNPADDED_MIN_PIXELS``): ``auto_sweep.py --random 40 --seed
  70`` found 48->256 3x3 at dilation 2 from 8x8 to 4x4, batch 16 (28 M multiply-adds), at
  1.19-1.25x XLA's forward pass. Forward, ms ``"xla"`` / ``"eigen"`` (``plan_passes.py
  passes unpadded``, 9 rounds, Zen 5 EPYC, float32), output 4x4 or 5x5: 48->256 to 4x4, batch 16,
  0.42 / 0.51 (dilated) and 0.42 / 0.55; 128->256, batch 32, 1.01 / 1.36; 256->256,
  batch 8, 0.92 / 1.12; 64->128 to 5x5, batch 16, 0.35 / 0.54; level on three (64->64 5x5
  to 5x5, 96->96 to 2x2, 48->256 dilated at batch 32); 64->128 to 4x4, batch 64, 0.88 /
  0.77; bfloat16 64->64 5x5 to 5x5 0.49 / 0.64. From 6x6 ``"eigen"`` won on all six
  measured (48->256 to 6x6 0.88 / 0.61, 64->128 to 8x8 dilated 0.92 / 0.78, 64->128 to
  10x10 1.39 / 0.91, 96->96 to 12x12 dilated 0.97 / 0.80, 128->128 5x5 to 6x6 3.52 /
  3.00, 32->64 to 26x26 dilated 0.75 / 0.51). Kernels from 5x5 on fewer than
  ``UNPADDED_NARROW_INPUTS`` input channels wait for 12x12 output pixels
  (``UNPADDED_LARGE_PIXELS``): ``auto_sweep.py --random 60 --seed 117`` found 16->48 7x7
  from 14x14 to 8x8, batch 8 (19 M multiply-adds), at 1.43x XLA's forward pass. Forward,
  ``"eigen"`` / XLA's (21 interleaved rounds, the Zen 5 EPYC, float32), 16-32 inputs,
  5x5 and 7x7: to 8x8 1.14-1.71x on seven of ten (16->48 at batch 8-32 1.18-1.66x,
  24->48 1.68x, 16->48 5x5 batch 16 1.71x), 0.95-0.99x on three (96 and 128 outputs,
  32->64 5x5); to 10x10 1.07x, 1.20x and 1.62x (24->64 7x7); to 12x12 0.87-1.09x; to
  14x14 0.83x, to 22x22 and 26x26 0.38-0.47x. From 48 inputs ``"eigen"`` won at 8x8:
  48->48 7x7 0.87x, 64->64 0.65x, 128->128 0.75x, 64->64 3x3 to 8x8 0.82x.
* CPU, 3x3 and smaller, at most 16 channels in and out: ``"xla"``'s weight gradient,
  which XLA runs on Eigen (YNNPACK declines such layers): ``"gemm"``'s was 1.3x in
  bfloat16 (16->16 at 32x32, batch 64, forward+backward) and 2.4x in float32 (16->16
  dilation 4 at 64x64).
* CPU, a layer of at most 16 output channels, or a padded one of at most 32 and at least
  twice as many input channels, in float32 or half precision (``thin``): ``"xla"``'s
  weight gradient, which YNNPACK computes fast there (half precision is converted to
  float32 for it), instead of the patches of the rules below (small images included).
  ``"gemm"`` / ``"matmul"`` weight gradients, time / ``"xla"``'s (``plan_passes.py
  passes thin``): 8 outputs 1.5-2.2x / 1.2-2.6x (64-384 inputs); 16 outputs 1.5-2.5x /
  1.4-1.7x; 32 outputs from 64 inputs 1.2-1.9x / 1.1-1.5x (at 24 and 32 inputs they won,
  0.61-0.90x, and keep the rules below); 5x5 kernels of 16 and 32 outputs ``"matmul"``
  1.5-2.5x; 48 outputs and more 0.33-0.67x (one loss, 128->48 at 32x32 batch 8:
  1.10-1.27x). float64, which YNNPACK does not run, keeps the patches: 0.13-0.82x there.
  Unpadded layers of 32 outputs keep them too (32->32 at 147x147 ``"gemm"`` 0.43x in
  bfloat16, 128->32 at 32x32 0.63-0.69x), but not of 8 or 16 (48->8 at 110x110 and
  64->16 at 56x56: ``"gemm"`` 2.4-2.5x; the plans 1.23x and 1.32x in bfloat16,
  ``plan_passes.py plans strided``).
* CPU, AMD, float32, padded unstrided 64->64 layers of at most ``PAIR_ROWS`` images x
  output pixels (``_paired``): ``"xla"``'s weight gradient, which runs on one core beside
  the next layer's input gradient; alone ``"gemm"``'s won (1.44x at 112x112), between
  layers XLA's (four in a row, 0.64-1.00x all-``"xla"``'s time against ``"gemm"``'s
  0.77-1.15x; in ResNet-18 on 56x56 inputs, batch 16, 0.853x and 0.876x flax.nnx's step
  against 0.901x and 0.922x).
* CPU, exactly 32 output channels (as 16, a width YNNPACK's weight gradient runs fast),
  in a call of fewer than 16 K images x output pixels, of one image or of fewer than
  128 input channels, padded or not, any kernel size (``short_thirty_two``):
  ``"xla"``'s weight gradient. Drawn at random (``auto_sweep.py --random 60 --seed 12
  --dtype bfloat16``: 48->32 3x3 unpadded at 112x112, batch 1, 1.16-1.30x
  forward+backward) and measured pass by pass on an Emerald-Rapids Xeon (9 interleaved
  rounds), ``"gemm"``'s weight gradient / ``"xla"``'s at batch 1, 12.1-12.5 K rows:
  16->32 1.15x, 24->32 1.10-1.25x, 32->32 1.22-1.52x, 48->32 1.09-1.57x, 64->32 1.41x,
  128->32 1.84-1.94x, 256->32 1.52x, 32->32 5x5 and 7x7 1.71-1.74x (``"matmul"`` 48->32
  5x5 2.02x); at batch 2-4 and 8-13 K rows 48->32 1.32-1.47x, 96->32 1.31x, 32->32 5x5
  1.67x (``"matmul"`` 48->32 7x7 2.87x). From 14 K rows the two are level and beyond
  18 K ``"gemm"`` wins (48->32 at batch 1: 14.4 K rows 0.90x in float32 but 1.10x in
  bfloat16, 16.4 K 1.01-1.13x, 18.5 K 0.81x, 20.2 K 0.98-0.99x, 25.6 K 0.64x; batch 2 at
  112x112 0.65x), and with several images of 128 input channels or more (128->32 batch
  2-4 0.25-0.77x, 160->32 0.59x, 256->32 0.50-0.55x, at 7.7-12.2 K rows). Other widths do
  not share it: 24 outputs ``"gemm"`` 0.74-1.02x, 40 outputs 0.39-0.41x, 48 outputs 0.46x
  (batch 1, 112x112).
* CPU, a weight gradient that sums fewer than 6144 images x output pixels: ``"xla"``'s
  (1.4-2.8 ms there; 64->64 3x3 dilation 6 at 32x32, batch 2 and 4: ``"gemm"`` 2.0x,
  ``"eigen"`` 2.3-3.2x).
* CPU, no groups, at least 32x32 output pixels: XLA's CPU weight gradient is slow.
  - Fewer than 16 input channels (a stem): both gradients use ``"gemm"``, whose patch
    rows are then long enough: 0.71x forward+backward (3->64 7x7 stride 2, 224x224;
    float64 0.27x). The forward stays on ``"xla"``: im2col of 3 channels builds its
    patches slowly (2.9x). In bfloat16 the same plan was 1.73x, so half precision keeps
    ``"xla"`` here. In float32 where XLA uses YNNPACK, ``"gemm"``'s input gradient lost
    on nine stems of twelve (1.20-2.83x; it won on 32x32 images at batch 32, 0.63-0.70x,
    and on a dilated one, 0.88x), its weight gradient below 7x7 on six of nine
    (1.02-1.65x; ``benchmarks/plan_passes.py passes stems``, BENCHMARKS.md):
    the input gradient stays on ``"xla"``, the weight gradient uses ``"gemm"`` from 7x7
    on (7x7 stride 2 at 224x224 0.72x, 11x11 stride 4 0.55x), else ``"xla"``.
    On the Zen 5 EPYC XLA's input gradient of a 7x7 stride-2 stem (an input-dilated
    convolution, which XLA runs on Eigen) is slow: 23.2 against ``"gemm"``'s 8.8 ms
    (3->64 at 224x224, batch 4; batch 8 72.6 against 33.5, batch 16 143.1 against 69.0;
    ``plan_passes.py passes stems``, 5 rounds). So on AMD's
    CPUs such a stem of 2-15 channels takes ``"gemm"``'s input gradient from
    ``STEM_PIXELS`` output pixels an image and ``STEM_ROWS`` images x output pixels
    (``_strided_stem``). Forward+backward, time /
    all-``"xla"``'s (21 interleaved rounds, one or two runs): 3->64 at 224x224, batch 4,
    0.77x and 0.88x, batch 8 0.82x, batch 16 0.95x; at 192x192, batch 4, 0.86x and
    0.87x; at 256x256, batch 2, 0.94x; 2, 4, 8 and 12 channels at 224x224, batch 4,
    0.99x, 0.78x, 0.73x, 0.74x; 3->32 and 3->96 0.67x and 0.95x. Below the bounds it
    lost or was level: 1.01x at 160x160, batch 4; 1.25x at 128x128, batch 4, and 1.00x
    and 1.08x at batch 16; 0.99x and 1.42x at 224x224, batch 2 and 1; 0.98x at 112x112,
    batch 8. It lost on one channel (1.25x), a 5x5 or 3x3 stride-2 kernel
    (1.55x, 1.65x), 7x7 unstrided (1.33x) and AlexNet's 11x11 stride 4 (1.67x).
    From ``STEM_DW_ROWS`` images x output pixels (batch 8 at 224x224) such a stem takes
    ``"gemm"``'s weight gradient too. The weight gradient alone (as a network trains a
    stem, its input being data), forward pass included, ``"gemm"``'s / XLA's: on the Zen 5
    0.84-0.88x from batch 8 at 224x224, but 1.07x at batch 4, 1.15x and 1.18x at 192x192
    and 128x128 (BENCHMARKS.md, 2026-12-07, ninth session); on a Zen 4 EPYC (15 rounds,
    two compiles each) 0.96-1.04x at batch 8 (four compiles), 0.77-0.78x at batch 12,
    0.97-0.99x at batch 32, 0.91-0.93x at batch 8 from 256x256, 0.87-0.90x and 0.91-0.92x
    with 4 and 12 channels, but 1.00-1.14x at batch 6, 1.11-1.15x at batch 4, 0.97-1.06x
    at 192x192, batch 8 (74 K rows). With the input gradient asked as well (the call's
    forward+backward), it beside ``"gemm"``'s input gradient / XLA's beside it:
    0.71-0.88x at batch 4 and 8, 0.83-0.97x at batch 16, 0.78-0.94x at batch 12, 0.90x
    at 32, 0.86-0.87x from 256x256, 0.83x and 0.87-0.91x with 4 and 12 channels.
    On a Zen 4 EPYC (2026-12-08, 15 rounds, two compiles each): the input gradient
    alone 0.92x and 0.95x at 224x224, batch 8 (the bench's stem), 0.88x and 1.05x at
    batch 4; forward+backward 0.89-0.92x at batch 8, 0.97-0.99x at batch 16, 0.93-1.14x
    at batch 4 (five compiles, median 0.97x), 1.01-1.05x at 192x192; ``auto`` / lax at
    batch 8 0.86x twice.
    ``"eigen"``'s blocks read 0.50-0.81x over six stems of 3-12 channels on the Xeon,
    but 1.12-1.37x on the EPYC's RGB stems (3->64 at 32x32 batch 32, three runs; 3->32
    stride 2 at 224x224) and 1.06-1.09x on 4-12 channels.
  - Otherwise the input gradient stays on ``"xla"``, which does it well; kernels of 5x5
    or more use ``"matmul"`` for the weight gradient (0.72-1.06x of all-``"xla"``
    forward+backward over 12 shapes: 16-100 channels, 5x5 and 7x7, 32x32 and 64x64, with
    and without padding) and, when the convolution is unpadded with at least 32 channels
    per group, for the forward pass too: 0.45-0.76x there (0.53x forward, 0.51x
    forward+backward on the lesson's 100->100 5x5 at 64x64). XLA's CPU convolution is
    much faster on padded inputs of the same output size (the lesson's layer with
    ``padding=2``: 91 ms against 245 ms unpadded), where ``"matmul"`` forward measured
    1.1-4.3x, and on 16 channels it measured 1.5-3.7x unpadded: both keep the ``"xla"``
    forward. So does one image of fewer than 64 channels in half precision, which YNNPACK
    ran fast (an Emerald-Rapids Xeon, 5x5 at 112x112, forward, ``"matmul"`` / ``"xla"``,
    9-11 interleaved rounds: bfloat16 48->32 1.20-1.68x, 48->16 1.20x, 48->64 1.45-1.68x,
    48->128 1.53x, 32->32 1.39x, 32->64 2.13x, float16 32->64 2.00x; it won at 48 and 40
    outputs, 0.43-0.71x, at 64 input channels and more, 0.44-0.95x, and from two images on,
    0.41-0.70x). Taps with fewer than 1024 weights (16->16 9x9 at 96x96) keep the ``"xla"``
    weight gradient: ``"matmul"`` there was 1.85-2.46x. So do short calls, of fewer than
    ``2 * MIN_ROWS`` images x output pixels for a 5x5 kernel (in proportion to the taps for
    larger ones), where XLA's weight gradient ran at 90-120 GFLOP/s: 6272-8192 rows, 5x5,
    24->96, 64->64, 32->64: ``"matmul"`` 1.44-1.79x, ``"gemm"`` 1.32-1.65x; from 12544 rows
    on 0.82-1.02x, and 7x7 at 8192 rows 0.65-0.70x (``auto_sweep.py --random 60 --seed 3``;
    24->96 at 56x56, batch 2, read 1.23x forward+backward). Of up to 32 input channels a
    group the weight gradient is ``"gemm"``'s, whose one product is wider than the per-tap
    ones (forward+backward, ``plan_passes.py plans large``, float32 / bfloat16, ``"matmul"``
    then ``"gemm"``: 16->256 5x5 0.86x / 0.69x and 0.83x / 0.62x, 16->128 7x7 0.80x / 0.54x
    and 0.84x / 0.62x, 16->64 5x5 1.07x / 0.80x and 1.21x / 0.88x, 24->96 0.83x / 0.64x and
    0.94x / 0.73x, 32->64 0.86x / 0.69x and 1.11x / 0.93x; at batch 1, 112x112, 0.97x /
    0.92x and 1.18x / 1.13x); from 48 channels on ``"matmul"``'s (48->96 7x7 0.66x / 0.79x,
    64->48 5x5 0.67x / 0.70x in float32). Unpadded, XLA's weight gradient is slow at any
    length: the lesson's layer at batch 2 (8192 rows) ran 0.44x with ``"matmul"``'s and
    0.78x without (``jaxconv bench --quick``). Strided layers use ``"gemm"`` for it where
    XLA's is not YNNPACK's (float64), whose patches are built once, where ``"matmul"``'s
    taps are strided slices (forward+backward, ``plan_passes.py plans strided``, float32 /
    bfloat16 on the Xeon: 32->96 5x5 stride 2 ``"matmul"`` 1.02x / 1.24x, ``"gemm"`` 0.88x /
    1.06x; 64->128 0.96x / 0.84x and 0.94x / 0.82x; 32->64 7x7 1.12x / 1.11x and 1.02x /
    1.03x). With YNNPACK, ``"xla"``'s: on the EPYC ``"gemm"`` read 1.07-1.25x, 1.16-1.27x
    and 1.05-1.22x on those three (three runs). On AMD's CPUs (``_cpu.amd``) a padded
    layer whose forward pass is YNNPACK's keeps XLA's weight gradient too: on the Zen 5
    EPYC (forward+backward, time / all-``"xla"``'s, 11 rounds, float32 / bfloat16) the
    patches' lost on 16->256 5x5 at 64x64 (the issue's layer; ``"gemm"`` 1.10-1.12x /
    1.03x), 32->64 5x5 at 112x112 batch 1 (``"gemm"`` 1.12-1.16x / 1.44x), 96->96 5x5 at
    112x112 batch 1 and 2 (``"matmul"`` 1.03-1.12x and 1.20-1.37x / 1.15x and 1.34x); it
    won on 64->128 7x7 at 56x56 (0.91x / 0.92x), which the rule gives up. Where
    ``"eigen"`` runs the forward pass or the layer is unpadded the patches still won
    there (0.77-0.94x; the lesson's 0.44x).
  - smaller kernels keep the ``"xla"`` forward (``"matmul"`` was 1.17x on 64->64 3x3 at
    56x56) and use ``"gemm"`` for the weight gradient (but not padded layers of at most
    32 channels on images too large for ``"eigen"``, ``_eigen.fits``: on the EPYC 32->32
    at 128x128 and 160x160, batch 1-4, read 1.14-1.27x over three runs, 2.5-2.6x the
    forward pass's time; 64 channels 1.02-1.11x keep it; in bfloat16, which YNNPACK runs
    converted to float32, up to 64 channels from 128 K channels x output pixels an image
    on: 64->64 at 80x80 to 224x224 batch 1-4 1.27-1.52x, 32->32 at 64x64 batch 6 1.19x and
    at 112x112 1.16x, but 64->64 at 56x56 0.99x and 128->128 at 112x112 0.91x; so
    ``_few_on_large_images``; nor, on AMD's CPUs, padded strided layers of up to 64 input
    channels in up to 24 K images x output pixels, pix2pix's 4x4 stride 2 among them,
    where YNNPACK's was 1.09-1.37x faster on the Zen 4 EPYC: ``_short_strided``): 0.68x
    forward+backward
    (``"matmul"``: 0.78x). It costs compile time (about 1 s of XLA compile in a
    ResNet-18 step) and buys more run time: that step ran 1582 ms with it and 4085 ms
    (median; min 1452 against 2251) with an ``"xla"`` weight gradient. With its patches
    written in a loop (``_gemm.py``) the layer's weight gradient compiles in 357 ms
    instead of 541 (all-``"xla"``: 163). ``"matmul"`` there compiled the ResNet-18 step
    0.5 s faster still but ran it 4-9% slower (36% per layer), so ``"gemm"`` stays.
* CPU, no groups, a pass whose convolution slides a window longer than the image it
  slides over, along an axis: the forward pass a kernel longer than the input (padded
  3x3 layers on 2x2 or 1x1 images, as at the end of VGG or of an ImageNet ResNet given
  32x32 images), the input gradient a kernel longer than the output (a ``"valid"`` or
  strided layer whose output is smaller than its kernel, as LeNet's 5x5 to 1x1), the
  weight gradient an output gradient longer than the input (padding beyond half the
  kernel). YNNPACK declines such a convolution (XLA's ``ynn_support.cc``: a kernel or an
  output larger than the input), and what XLA runs instead is slow. ``"gemm"`` for the
  first two, ``"dots"`` for the third (``"matmul"`` where ``"dots"`` does not run;
  bfloat16 and narrow layers: ``"dots"`` for the first two too, below).
  Measured
  (``plan_passes.py passes``, 3 interleaved rounds, Zen 5 EPYC, float32, ms ``"xla"`` /
  ``"gemm"``, forward and input gradient, batch 32 unless named):
  - padded, stride 1: 512->512 3x3 at 2x2 190.6 / 4.9 and 191.8 / 2.7 (bfloat16 183.2 /
    3.0 and 184.7 / 3.6; batch 8 49.5 / 2.4 and 47.1 / 1.6; batch 128 726 / 10.1 and 715
    / 6.1); 256->256 at 2x2 25.8 / 1.6 and 27.6 / 1.3; 64->64 at 2x2 0.67 / 0.15 and 0.65
    / 0.09; 512->512 at 1x1, batch 8 4.2 / 2.7 and 2.0 / 1.2; 128->128 5x5 at 4x4 33.2 /
    3.1 and 33.7 / 1.9; 64->64 5x5 at 3x3, batch 16 1.15 / 0.66 and 1.12 / 0.25;
    256->256 7x7 at 4x4, batch 4 56.1 / 4.9 and 54.9 / 3.1; 1024->1024 3x3 at 2x2 2172 /
    39.7 and 2160 / 20.1. The weight gradient, whose convolution slides the output
    gradient over the padded input, was close on XLA's (512->512 at 2x2 2.5 / 1.9 ms,
    at batch 128 6.2 / 7.2) or faster there (5x5 at 4x4 1.35 / 3.61, at 3x3 0.26 /
    1.06), and stays as the rules below have it.
  - strided or unpadded, the output smaller than the kernel: the input gradient of
    512->512 3x3 stride 2 from 4x4 235.2 / 2.8, from 3x3 171.4 / 2.8, from 2x2 27.0 / 2.5
    (its forward pass 49.4 / 2.5); unpadded 512->512 3x3 at 4x4 374.2 / 3.0, 256->256 5x5
    at 6x6 147.2 / 3.4, 512->512 4x4 at 4x4 11.7 / 1.7, 512->1024 7x7 at 7x7, batch 8
    105.0 / 44.0, 16->120 5x5 at 5x5 0.84 / 0.22. Their weight gradients were faster on
    ``"gemm"`` too (4.8 / 1.7, 5.2 / 1.8, 67.8 / 37.4 ms; LeNet's 0.11 / 0.16), so they
    move with the input gradient. Forward+backward (``plans``, time / all-``"xla"``'s),
    ``"xla"``'s forward pass and ``"gemm"``'s gradients read 0.03-0.06x on the four of
    those layers that took 150-400 ms, 0.23x (LeNet's), 0.37x, 0.61x and 0.62x on the
    others. Their forward passes, whose kernel fits the input, stay XLA's: ``"gemm"``'s
    was faster on some (512->512 4x4 at 4x4 to one pixel 7.4 / 2.9 ms, whole-``"gemm"``
    0.20x) but read 1.00-1.23x on LeNet's 0.1 ms in bfloat16 (``auto_sweep.py``, three
    runs).
  - padded beyond half the kernel, the output larger than the input (a ``"full"``
    convolution; a forward pass and an input gradient XLA does well, on Eigen where
    ``"eigen"`` takes it): the weight gradient, ms ``"xla"`` / ``"gemm"`` /
    ``"matmul"``, batch 8 unless named: 64->64 3x3 padded 2 at 32x32 159.8 / 8.0 / 5.1
    (``"eigen"``'s blocked one 149.4; padded (1, 2) 170.1 / 6.3 / 5.2); 2x2 padded 1
    77.0 / 4.0 / 2.9; 4x4 padded 2 303.2 / 11.2 / 10.6; 128->128 5x5 padded 4 at 16x16
    537.6 / 41.0 / 14.0; 32->32 at 28x28 90.7 / 5.9 / 3.6; 256->256 3x3 padded 2 at 8x8,
    batch 16, 431.4 / 11.0 / 6.0; 64->64 at 8x8, batch 32, 39.6 / 2.0 / 2.0; 16->32 at
    64x64, batch 4, 31.5 / 3.5 / 3.8. Forward+backward with ``"matmul"``'s (``plans``, 5
    rounds): 0.03-0.09x, 0.19x on the 16->32 layer (``"gemm"``'s 0.15x); bfloat16
    0.06-0.16x, and 0.02x / 0.05x where ``"dots"`` takes every pass. ``"dots"``' weight
    gradient (float32) since: ``auto_sweep.py --random 40 --seed 70`` found ``"matmul"``'s
    at 2.18x all-``"xla"`` on 96->8 5x5 padded 4 at 8x8, batch 1 (0.2 ms). Over 16 such
    layers (the eight above, and 8-128 outputs from 32-256 channels, 3x3 and 5x5, at 8x8
    and 14x14, batch 1-8; ``plans over_padded``, 7 rounds, Zen 5 EPYC), forward+backward with
    ``"dots"``' weight gradient 0.05-1.05x, with ``"matmul"``'s 0.05-1.84x (no layer
    slower on ``"dots"``; the 96->8 layer 1.05x against 1.84x, 128->128 5x5 at 8x8, batch
    1, 0.98x against 1.30x, 32->32 at 28x28 0.07x against 0.13x).
  - which taps (``auto_sweep.py --random 40 --seed 48 --dtype bfloat16`` found 32->16
    3x3 padded 2 at 2x2, batch 32, at 6.4x XLA's forward pass on ``"gemm"``): bfloat16
    im2col is slow on narrow layers (forward, batch 32, ms ``"xla"`` / ``"gemm"`` /
    ``"matmul"`` / ``"dots"``: 16->16 at 2x2 0.05 / 0.21 / 0.08 / 0.03, padded 2 0.13 /
    0.68 / 0.11 / 0.05; 32->16 padded 2 0.27 / 1.26 / 0.14 / 0.06; 16->16 5x5 at 4x4
    1.10 / 3.34 / 0.22 / 0.08). ``"dots"`` was the fastest of the three in 33 of 34
    bfloat16 forward passes (16-512 channels, 1x1 to 4x4 images, 3x3 to 7x7 kernels; the
    other 512->512 at 1x1, 2.19 against im2col's 1.82 ms), in the 8 input gradients
    (0.03-0.63 against im2col's 0.06-1.21 ms), the 7 weight gradients that move with
    them (0.06-0.79 against 0.09-1.01) and the 7 over-padded ones (against the taps':
    0.09 / 0.09, 1.39 / 5.25 at 32x32, 1.21 / 4.62 at 112x112, 4.33 / 8.91 at 5x5).
    So with bfloat16 dot instructions every such pass is ``"dots"``, at any batch and
    image size, but one: ``auto_sweep.py --random 40 --seed 88 --dtype bfloat16`` found
    16->192 7x7 ``"same"`` at 2x2, batch 32, its ``"dots"`` forward pass 1.77-2.08x
    XLA's. XLA's forward pass of 16 input channels or fewer on 2x2 images with 5x5 and
    7x7 kernels ran fast (forward, ms ``"xla"`` / ``"dots"``: 0.24 / 0.37, 16->64 7x7
    0.07 / 0.19, 16->192 5x5 0.18 / 0.22, batch 8 0.17 / 0.25, 8->128 5x5 0.08 / 0.10),
    not with 3x3 kernels (16->16 0.07 / 0.06, 16->128 0.09 / 0.07), at 3x3 images (2.33 /
    0.62) or with 24 channels (0.71 / 0.74). There (``PAST_FEW_CHANNELS``,
    ``PAST_FEW_PIXELS``) XLA keeps the forward pass: forward+backward / all-``"xla"``
    (``plan_passes.py plans few_past``, 11 rounds) 0.52-0.90x on those five, against
    0.59-1.14x with ``"dots"``'.
    In float32 im2col read 1.0-1.5x XLA's forward pass at 16 channels
    (0.08-0.10 against 0.06-0.07 ms at 2x2), and ``"dots"`` was faster than im2col up to
    32 channels in or out (10 layers: 0.04-1.11 against 0.04-1.47 ms); from 64
    im2col is as fast or faster (128->128 at 2x2 0.41 against 0.49), so it keeps the
    forward pass of wider layers, and the gradients (float32 ``"dots"`` lost some:
    LeNet's weight gradient 0.15 against 0.10). Those narrow layers' gradients followed
    ``"dots"``' forward pass since (``auto_sweep.py --random 40 --seed 79 --odd``:
    200->24 7x1 ``"same"`` at 5x5, batch 2, with im2col's gradients 1.54-2.25x
    all-``"xla"``, 0.4 ms): over 11 float32 layers whose kernel is longer than the input
    (8-200 channels in, 16-48 out, 3x3 to 7x7 and 7x1, 2x2 to 6x6 images, batch 2-32;
    ``plan_passes.py plans narrow_past``, 11 rounds), every pass ``"dots"`` read
    0.11-0.75x against 0.09-2.25x with im2col's gradients (seed 79's layer 0.62x against
    2.25x, batch 8 0.75x against 1.64x; 64->16 5x5 at 3x3, batch 2, 0.32x against 1.23x;
    slower on two by 0.02-0.04: 32->32 5x5 at 4x4, batch 8, 0.11x against 0.09x; 24->48
    5x5 at 3x3 0.28x against 0.24x). Where only the input gradient's window is too long
    (LeNet's 5x5 to 1x1) im2col's stayed: every pass ``"dots"`` 0.41x against 0.42x, and
    256->32 5x5 to 1x1 1.26x against 0.80x (one window: now one matmul, ``_gemm.tiles``).
    On larger outputs it did not: ``auto_sweep.py --random 40 --seed 113`` found 384->32
    5x1 stride 2 ``"same"`` at 8x8, batch 8, at 1.65x all-``"xla"``'s, im2col's weight
    gradient of 32 outputs the slow pass (384->32 5x3 2.28x). There XLA's forward pass
    and ``"dots"``' gradients read 0.22-0.96x against im2col's 0.26-2.28x (22 narrow
    layers: 8-512 channels in, 8-256 out, 3x3 to 7x7, 5x1, 7x1, 5x3, 2x2 to 4x4 outputs,
    batch 1-64; 21 interleaved rounds, the Zen 5 EPYC), slower on two by 0.02 and 0.06
    (512->32 3x3 stride 2 at 4x4, 32->128 5x5 at 6x6). Wider layers: up to 64 outputs
    (``PAST_DOTS_OUTPUTS``) 0.19-0.80x against 0.31-1.36x (five, 64->64 to 384->64, 3x3
    to 5x5, 5x1 and 1x5, where im2col's read 1.31x and 1.36x), and kernels that are not
    square up to 128 outputs (``PAST_DOTS_LINE_OUTPUTS``) 0.52-0.83x against 0.66-0.97x
    (four, 7x1, 5x1, 5x3); beyond, level or mixed (192 and 320 outputs 0.52x and 0.70x
    against 0.67x and 0.79x, 256-512 0.55-0.82x against 0.57-0.72x; square kernels of
    96-512 outputs 0.08-0.60x against 0.08-0.41x, 96->96 5x5 unpadded at 6x6 0.60x
    against 0.41x), so im2col's stays there (512->512 stride 2 at 4x4, batch 32, as in
    ResNet-18's last stage on 32x32 inputs: 0.08x both). Below ``PAST_MIN_MACS`` multiply-adds a
    call is dispatch and XLA's own stays (16->16 at 2x2, batch 1: 0.007 ms against
    ``"dots"``' 0.036 and im2col's 0.063; at 1x1, batch 32, 73,728 of them, float32 0.021
    against 0.029 and 0.031).
  Below ``PAST_GEMM_ROWS`` images x output pixels (float32), a padded layer's weight
  gradient moves with its input gradient to ``"gemm"``: there the weights outweigh the
  images, and XLA's weight gradient, laid out for its own kernels, costs a transposed
  copy beside im2col's passes. Forward+backward, time / all-``"xla"``'s (11 interleaved
  runs) with ``"gemm"``'s weight gradient / XLA's: 512->192 7x7 at 2x2, batch 1, 0.68x
  / 0.75x (``auto_sweep.py --random 40 --seed 63`` read 1.31-1.37x; timed through
  ``conv2d``, 11.0 / 22.6 ms), batch 8 0.44x / 0.56x; 256->256 7x7 at 4x4, batch 1,
  0.16x / 0.22x; 512->512 3x3 at 1x1, batch 8, 0.44x / 0.52x, at 2x2, batch 2, 0.13x /
  0.16x; 256->128 5x5 at 3x3, batch 1, 0.22x / 0.29x. At batch 32 XLA's stayed ahead:
  512->512 at 2x2 0.02x both, 512->192 7x7 0.42x / 0.36x, 128->128 5x5 at 4x4 0.12x /
  0.09x. Narrower layers were not measured.
  Below ``PAST_FEW_INPUT_ROWS`` images x input pixels (float32), an over-padded layer's
  weight gradient (the output longer than the input) stays XLA's, which is fast there
  and slow from a few more images (3x3 padded 2, 256->128 at 4x4: 0.5-1.2 ms at batch
  1-4, 5.2 at batch 5, 10.3 at batch 8; 256->128 at 8x8, batch 1, 1.8, batch 2, 10.9).
  ``"dots"``' read 1.01-1.26x XLA's on 14 layers below it (1-12 images, 2x2 to 4x4, 32-512
  channels, 3x3 padded 2 and 5x5 padded 4; 21 interleaved rounds, the Zen 5 EPYC, worst
  1-3 ms calls: 512->512 at 4x4, batch 1, 1.20x; 256->256 at 3x3, batch 4, 1.18-1.31x),
  and 0.84x on one 0.1 ms call (32->32 at 4x4, batch 2). From it ``"dots"``' stays: at
  exactly 64 0.95-1.14x (four at 4x4, batch 4), 0.76-0.93x (three at 8x8, batch 1),
  1.08x (128->128 at 2x2, batch 16), and 0.06-0.34x beyond. Forward+backward, time /
  all-``"xla"``'s, ``auto`` after / before: 0.94-1.05x / 1.01-1.20x on 11 layers whose
  plan became all-XLA, 0.14-0.62x / 0.18-0.61x on five whose forward pass is im2col's.
  A dilated kernel counts its taps, not its reach (3x3 at dilation 2 on 4x4 images and
  at dilation 4 on 8x8 ran level, YNNPACK's own check being on the kernel's shape), and
  a grouped layer keeps its plan (32 groups of 16 at 2x2, batch 32: ``"dots"``' forward
  pass 0.58 ms against XLA's 0.85, forward+backward 1.70 against 3.32 with im2col's
  gradients),
  but for its forward pass where the output is longer than the input and the groups
  are fewer than 16 and wider than one channel: XLA runs that forward pass on Eigen, and
  fast (ms ``"xla"`` / ``"matmul"``, the grouped rule's, padded 2: 192->96 in 4 groups
  at 56x56, batch 1, 2.35 / 3.01, where ``auto_sweep.py --random 60 --seed 43`` read
  1.41-1.43x; 64->64 in 4 groups at 32x32, batch 8, 2.44 / 3.53; padded 1, 8.74 / 2.85).
  With 32 groups the taps stayed faster (8.85 / 5.25), as did a depthwise layer's (26.4
  / 0.53). There XLA computes the weight gradient with its roles swapped (the output
  gradient slides over the input, the batch contracted), so its gradients can be fast
  too, where the grouped rule's im2col copies ``kh*kw`` times an output longer than the
  input (``auto_sweep.py --random 40 --seed 58 --odd`` in bfloat16: 576->8 5x5 in 8
  groups at 5x5 padded 4, batch 64, forward+backward 6.89x ``"xla"``'s). Measured pass by
  pass on 37 such layers (``plan_passes.py passes``, 5 rounds, Zen 5 EPYC, float32 and
  bfloat16; ms ``"xla"`` / ``"gemm"``):
  - the input gradient, XLA's up to 16x16 input pixels (``GROUPED_DX_PIXELS``): 576->8 5x5
    padded 4 at 5x5, batch 64, 2.11 / 49.72; 576->64 8.18 / 106.13; 256->16 5x5 at 8x8,
    batch 16, 1.10 / 10.92; 512->32 3x3 at 14x14, batch 8, 2.38 / 4.79; 32->32 5x5 at
    16x16 2.45 / 4.07; lost by 1.1-1.5x on four (128->128 in 4 groups at 8x8 3.43 /
    2.70, 576->576 in 8 groups at 5x5 30.11 / 19.57). Larger images lost: 128->128 in 4
    groups at 56x56, batch 4, 39.39 / 21.42; 64->128 5x5 padded 4 at 64x64 155.57 / 29.87;
    256->256 at 28x28 8.19 / 5.85;
  - the weight gradient, XLA's for groups of ``GROUPED_WIDE`` channels and up to
    ``FEW_GROUP_OUTPUTS`` outputs on images up to 5x5 (``GROUPED_DW_PIXELS``), where
    im2col's product is a matrix of a few columns: 576->8 2.75 / 44.60, padded 3 2.25 /
    27.95, 3x3 2.12 / 13.23; 576->64 34.16 / 54.49 (bfloat16 34.12 / 53.70, with
    im2col's weight gradient 1.39x all-``"xla"``); 512->8 3x3 1.31 / 8.42, batch 8 0.68 /
    1.07; 1024->16 at 3x3 2.12 / 6.65; 512->32 in 4 groups at 4x4 2.22 / 1.96. Narrower
    groups lost (1.13 / 0.73 at 16 a group, 1.24 / 0.77 at 32), as did larger images
    (512->64 at 8x8 30.29 / 13.49, 512->32 at 14x14 31.12 / 3.71).
  Those two rules now hold only where ``"dots"`` does not run (float64; bfloat16 without
  bfloat16 dot instructions), but for XLA's weight gradient, which every dtype keeps
  where it swaps the roles (below). Where ``"dots"`` runs, random draws of such layers
  found im2col's weight gradient losing widely (``plan_passes.py`` on random grouped
  layers padded beyond half the kernel: 2-8 groups of 2-64 channels and 1-32 outputs,
  3x3-7x7 kernels, 2x2-14x14 images, batch 1-64; 22 layers a draw, 7 rounds, Zen 5 EPYC;
  forward+backward / all-``"xla"``): XLA's forward pass and input gradient with im2col's
  weight gradient read 0.17-10.33x, over 1.10x on 76 of 151 (layer, dtype) pairs.
  ``"dots"``' weight gradient was the fastest pass on most (576->576 in 8 groups 5x5 at
  5x5: 3.59 ms against XLA's 31.75 and im2col's 18.45); its input gradient was slow for
  kernels from 5x5 on wide groups (96->24 in 3 groups 7x7 padded 6 at 7x7: 23.37 ms
  against XLA's 1.20), its weight gradient for groups of one or two outputs (576->8 5x5
  at 5x5: 43.53 ms against XLA's 2.62), and its forward pass and input gradient for wide
  groups of few outputs in large batches (512->32 in 8 groups at 3x3, batch 64: every
  pass ``"dots"`` 2.20x, XLA's forward pass and input gradient 1.01x). So:
  - ``"xla"`` for every pass for groups of up to 2 outputs (``PAST_FEW_OUTPUTS``), of up
    to 4 channels on images up to 4x4 (``PAST_NARROW_GROUP``, ``PAST_TINY_PIXELS``; 16->24
    in 8 groups 5x5 at 2x2, batch 64: XLA's weight gradient 0.14 ms, ``"dots"``' 0.28,
    im2col's 0.98), and of ``GROUPED_WIDE`` channels and up to ``FEW_GROUP_OUTPUTS``
    outputs on images up to 5x5, where XLA swaps the roles;
  - with ``"dots"``: its gradients on images larger than 16x16 and, for groups narrower
    than ``GROUPED_WIDE``, with a 3x3 kernel (``DOTS_MAX_TAPS``); else XLA's input
    gradient with ``"dots"``' weight gradient. The forward pass is XLA's: those pairs
    were timed forward+backward, and ``auto_sweep.py --random 40 --seed 115 --odd``
    found ``"dots"``' forward pass of 80->672 in 8 groups at 27x27 padded 2, batch 1, at
    1.31x XLA's. Forward alone, time / XLA's (21 interleaved rounds, the Zen 5 EPYC),
    ``"dots"``': 1.06-3.11x in float32 on 8 of 10 such layers (3x3 and 5x5, 2-8 groups,
    8x8 to 56x56, batch 1-32; 3.11x for 32->32 5x5 padded 4 at 17x17 in 4 groups), 0.86x
    and 0.68x on two; 0.79-1.71x in bfloat16 on 5. Forward+backward with XLA's forward
    pass / with ``"dots"``': 0.07-0.30x / 0.06-0.35x in float32, 0.07-0.78x / 0.07-0.81x
    in bfloat16.
  Over five draws (two used to set the bounds, three not) and ``plans grouped_full``,
  float32 and bfloat16, 151 pairs: ``auto`` 0.06-1.31x, over 1.10x on one layer (256->64
  in 8 groups 7x7 padded 6 at 2x2, batch 4, 1.2 ms: 1.31x, 1.11x in bfloat16). Every pass
  ``"xla"`` where taken; ``"dots"`` everywhere 0.06-0.64x where taken; XLA's forward pass
  and input gradient with ``"dots"``' weight gradient 0.09-1.31x where taken, against
  every pass ``"dots"`` 0.06-2.48x there. ``auto``'s bound (at most 1.10x ``"xla"``'s
  time) held without these rules on the fixed sweep; they are there because a layer of
  flax, equinox or plain ``lax`` pays the same 10-120x, and random layers found
  im2col's losses.
* Memory: a lowering whose temporaries (a padded copy of the input for ``"matmul"`` and
  ``"gemm"``) would exceed twice the operands and result, and 16 MiB, is replaced by
  ``"xla"``. Measured: depthwise 3x3 at dilation 18, ``"same"``, (8, 256, 33, 33):
  ``"matmul"`` needed 111.6 MiB of temporaries forward+backward against lax's 25.5.
* Symbolic sizes (``jax.export``): the rules above that do not depend on sizes, and
  ``"xla"`` where a rule would compare an unknown size.
* ``impl="autotune"`` replaces these rules by timings taken on the machine that runs the
  call (``_tune.py``).
* CPU, fewer than 32x32 output pixels, 3x3 or smaller kernels, 16 or more input
  channels, 17 to 96 channels in or out, stride 1, at least 6144 images x output
  pixels, not ``thin`` (64->8 at 28x28 read 1.18x), in half precision at least 64
  channels in or out (32->32 at 16x16 batch 64 read 1.09x and 1.16x in bfloat16
  forward+backward, in two sessions' sweeps), not float32 on AMD's CPUs (below):
  ``"matmul"``'s weight gradient
  (``benchmarks/plan_passes.py plans small``;
  forward+backward, time / all-``"xla"``'s, 11 interleaved runs, the forward pass and
  input gradient as ``auto`` has them, ``"matmul"`` / ``"gemm"``, float32 then
  bfloat16): 128->128 at 16x16 batch 32 0.93-0.97x / 0.90-0.93x and 0.82x / 0.82x; at
  28x28 batch 8 0.72-0.79x / 0.78-0.84x and 0.72x / 0.78x; 64->64 at 16x16 batch 32
  0.75-0.77x / 0.76-0.81x and 0.91x / 0.92x; 96->96 at 24x24 0.69-0.83x / 0.71-0.82x and
  0.91x / 0.94x; 24->24 at 16x16 batch 128 0.79x / 0.79x and 0.87x / 0.86x; 32->32 at
  16x16 batch 64 0.88-0.92x / 0.98-0.99x and 1.09x / 1.15x. Strided, where
  ``"matmul"``'s taps are strided slices: 64->128 stride 2 from 32x32 1.14x / 0.84x (one
  run before 0.93x / 0.79x) and 0.98x / 0.91x; 16->32 from 32x32 batch 64 1.10x / 0.92x
  and 1.07x / 1.01x. ``"gemm"`` there is faster alone, but not in the ResNet-18 step
  (below): it stays on ``"xla"``. Fewer rows lost: 128->128 at 28x28 batch 6 (4704)
  1.05-1.19x, batch 4 (3136) 1.17-1.23x, at 20x20 batch 12 (4800) 0.91-1.13x; 64->64 at
  14x14 batch 16 (3136) 1.21-1.42x, 32->64 stride 2 to 8x8 batch 64 (4096) 1.27-1.32x.
  Wider layers lost too: 256->256 at 8x8 1.09-1.11x / 1.53-1.58x, at 14x14 1.15-1.27x /
  1.91-2.02x, 512->512 at 4x4 1.11-1.12x / 1.67-1.71x, 192->192 at 17x17 1.10-1.12x /
  1.99-2.06x, 128->256 stride 2 1.04-1.09x / 1.12x; and layers of 16 channels, which XLA
  runs on Eigen (16->16 at 16x16 batch 128: 1.28-1.50x / 1.21-1.42x). On the Zen 5
  EPYC, float32, 35 layers the rule gave ``"matmul"`` (16-96 channels, 8x8 to 28x28,
  batch 8-128; forward pass and input gradient ``"eigen"``'s; 7 rounds): alone, with
  ``"matmul"``'s weight gradient 0.70-1.61x all-``"xla"``'s (9 layers over 1.10x), with
  XLA's 0.75-1.40x (median 0.90x; over 1.10x only 16->32 at 8x8 batch 128, whose
  Eigen passes lose there), XLA's / ``"matmul"``'s 0.64-1.25x (median 0.92x); four in a
  row (``plan_passes.py chains``), ``"matmul"``'s 0.80-1.55x, XLA's 0.63-1.00x,
  faster on all 35 (XLA's weight gradient runs on one core beside the next layer's
  input gradient: ``_overlapped``). So AMD's CPUs keep XLA's in float32. In the ResNet-18
  step (``bench --model resnet18``, one run each): ``"matmul"`` for its four layers here
  0.83x flax.nnx's time in both layouts, compile 1.44x flax's (one run later 0.86-0.87x,
  1.45-1.48x); ``"gemm"`` 0.82x but compile 1.56-1.63x (56 more kernels); without the
  rule 0.85-0.88x, compile 1.26-1.34x. With ``"matmul"`` for its three unstrided layers
  here and ``"gemm"`` for the strided one: 0.81-0.82x, compile 1.70-1.71x. One process
  per variant, 5 compile rounds and 15 interleaved steps each, time / flax.nnx's (NCHW,
  NHWC): that plan 0.83x, 0.80x, compile 1.64x, 1.58x; the strided layer on ``"xla"``
  (this rule) 0.81x, 0.81x, compile 1.46x, 1.42x; no rule 0.84x, 0.83x, compile 1.45x,
  1.32x. An earlier machine read these layers level (0.91-1.04x, one pass moved). On the
  EPYC 128->128 at 16x16 batch 32 read 1.34-1.41x in three runs (1.05x in a fourth), so
  128 channels keep ``"xla"``'s (ResNet-18 there: 1.00x flax.nnx's step against
  1.01-1.02x, 296 kernels against 327); 64->64 at 16x16, 96->96 at 24x24 and 32->32 at
  16x16 read 1.06-1.08x ``"xla"``'s weight gradient there, within the bound, and keep
  the rule for the Xeon's 0.69-0.92x.
* Everything else: ``"xla"``. Measured: 256->256 3x3 at 14x14 (a ``"gemm"`` weight
  gradient was 1.35-2.2x), 512->512 at 4x4 (1.05-1.16x with one pass moved).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, _trim
from .._checks import ConvParams
from .._typing import DTypeLike, Impl, Padding, Size2
from . import _cpu, _dots, _eigen, _gemm, _tune
from ._registry import (
    AUTO,
    AUTOTUNE,
    PASSES,
    PLATFORMS,
    REFERENCE,
    check_impl,
    get_lowering,
    lowerings,
)

AUTO_MEMORY = 2  # auto's bound: temporaries <= 2x operands and result (README) ...
SMALL_BYTES = 16 * 2**20  # ... or this much, which never matters
REFUSED_MEMORY = 64  # an explicit impl is refused beyond 64x operands and result ...
REFUSED_BYTES = 2**30  # ... and 1 GiB: a typo'd dilation, not a plan
MIN_PIXELS = 32 * 32  # smaller outputs: XLA's CPU convolution is fine
SMALL_1X1_PIXELS = 8 * 8  # smaller images: a 1x1 layer's matmul keeps the pixels apart
UNALIGNED_1X1_PIXELS = 16 * 16  # ... and smaller ones of a size not a multiple of:
ALIGNED_PIXELS = 16
GROUPED_PIXELS = 28 * 28  # from this many output pixels a grouped forward pass pays as taps
MIN_ROWS = 6144  # a weight gradient summing fewer images x output pixels: XLA's is fine
MIN_MACS = 2**24  # a call of fewer multiply-adds is dispatch: no shaping for Eigen
SMALL_CHANNELS = 96  # below MIN_PIXELS, layers up to this wide take im2col's weight gradient
SMALL_HALF = 64  # ... and in half precision, layers at least this wide
HALF_FEW_CHANNELS = 64  # half precision on large images up to this wide: XLA's weight gradient
HALF_LARGE_ELEMENTS = 128 * 1024  # ... large: from this many channels x output pixels an image
MIN_CHANNELS = 16  # fewer (a stem): per-tap matmuls are too thin, only im2col pays
LARGE_TAPS = _eigen.LARGE_TAPS  # kernels from 5x5 on (25 taps): the large-kernel rules
LARGE_ROWS_TAPS = 2 * MIN_ROWS * LARGE_TAPS  # ... whose padded weight gradient pays as taps
WIDE = 32  # channels per group from which a large kernel's forward pass pays as matmuls
HALF_TAPS_CHANNELS = 64  # ... in half precision, for one image, from this many
BIG_STEM_TAPS = 49  # a stem's kernel from 7x7 on: its weight gradient as im2col
STEM_KERNEL, STEM_STRIDE = (7, 7), (2, 2)  # AMD: such a stem of 2 channels or more ...
STEM_PIXELS = 96 * 96  # ... on at least this many output pixels an image, and ...
STEM_ROWS = 32 * 1024  # ... this many images x output pixels: im2col's input gradient
STEM_DW_ROWS = 96 * 1024  # ... and from this many, im2col's weight gradient as well
THIN_TAP = 1024  # below this many weights per tap, a large kernel's weight gradient stays xla
THIN_OUT = 32  # a padded layer of up to this many outputs and twice as many inputs (or
# any of 16 outputs): XLA's CPU weight gradient is fast (YNNPACK), patches do not pay
THIN_ROWS = 16 * 1024  # 32 outputs in fewer images x output pixels: XLA's weight gradient
THIN_WIDE = 128  # ... unless several images of this many input channels or more
MANY_GROUPS = 16  # grouped layers of fewer groups and channels a group keep XLA's forward
GROUPED_WIDE = 64  # ... and with fewer groups, groups narrower than this on YNNPACK ...
GROUPED_WORK = 2**16  # ... in calls of fewer images x output pixels x channels a group
GROUPED_WORK_HALF = 96 * 1024  # ... (half precision)
GROUPED_DX_PIXELS = 16 * 16  # few groups, an output longer than an input up to this
# many pixels: XLA's input gradient ...
GROUPED_DW_PIXELS = 5 * 5  # ... up to this many, and wide groups of up to ...
FEW_GROUP_OUTPUTS = 8  # ... this many outputs: XLA's weight gradient (see the notes)
PAST_FEW_OUTPUTS = 2  # ... groups of up to this many outputs: every pass XLA's, as ...
PAST_NARROW_GROUP = 4  # ... for groups of up to this many channels on images of up to ...
PAST_TINY_PIXELS = 4 * 4  # ... this many pixels; with "dots", kernels of up to ...
DOTS_MAX_TAPS = 3 * 3  # ... this many taps (narrower groups than GROUPED_WIDE), or images
# larger than GROUPED_DX_PIXELS: "dots"' gradients; else XLA's input gradient, "dots"'
# weight gradient (XLA's forward pass for both)
WIDE_DOTS_OUTPUTS = 8  # wide groups of this many outputs and more on small images: "dots"
WIDENING = 2  # a grouped layer of thin groups widening them more than this: see the notes
DEPTHWISE_GPU_TAPS = 9  # GPU depthwise kernels up to 3x3 run fused taps (measured there)
EIGEN_CHANNELS = 96  # dense CPU layers up to this many channels steer XLA to Eigen ...
UNPADDED_CHANNELS = 256  # ... and unpadded ones up to this many, their forward pass
UNPADDED_MIN_PIXELS = 6 * 6  # ... on at least this many output pixels, or for kernels
UNPADDED_NARROW_INPUTS = 48  # ... from 5x5 on fewer than this many input channels ...
UNPADDED_LARGE_PIXELS = 12 * 12  # ... this many
UNPADDED_WIDE_ROWS = 20 * 20  # 256 wide, unpadded, up to 3x3: XLA's forward up to this many rows
CHAIN_IMAGES = 32  # AMD, float32: up to this many images, an even count, and ...
CHAIN_CHANNELS = 16  # ... channels in and out multiples of this: XLA's weight gradient
PAIR_CHANNELS = 64  # AMD, float32, padded and unstrided: this many channels in and out ...
PAIR_ROWS = 2**16  # ... up to this many images x output pixels: XLA's weight gradient
EDGE_CHANNELS = 128  # AMD, float32: up to this many channels on 32x32 output pixels, too
STRIDED_CHANNELS = 64  # AMD: a padded, strided layer of up to this many input channels ...
STRIDED_ROWS = 24 * 1024  # ... in up to this many images x output pixels: XLA's weight gradient
PAST_MIN_MACS = 2**17  # a window longer than its image moves from this many multiply-adds
PAST_FEW_CHANNELS = 16  # ... in bfloat16, up to this many input channels on images of ...
PAST_FEW_PIXELS = 2 * 2  # ... up to this many pixels, a 5x5 kernel or larger: XLA's forward
PAST_GEMM_ROWS = 64  # ... its padded weight gradient moves with the input gradient below
# this many images x output pixels (float32's im2col)
PAST_FEW_INPUT_ROWS = 64  # ... an over-padded float32 one stays XLA's below this many images
# x input pixels
NARROW_TAPS = 32  # ... float32's forward pass to "dots" up to this many channels in or out
PAST_DOTS_OUTPUTS = 64  # ... a kernel longer than the output only: "dots"' gradients up to
PAST_DOTS_LINE_OUTPUTS = 128  # ... this many outputs, this many for a kernel not square
DOTS_MIN_ROWS = 128  # "dots" (bfloat16 dot instructions): from this many images x output pixels ...
DOTS_MAX_PIXELS = 32 * 32  # ... up to this many output pixels an image (larger: below)
DOTS_LARGE_ELEMENTS = 2**20  # ... beyond, an input gradient up to this many inputs an image
DOTS_1X1_CHANNELS = 32  # ... 1x1 layers this wide in and out: the gradients
DOTS_CHANNELS = 256  # ... strided 3x3 layers this wide in and out: every pass
DOTS_WEIGHT_GRAD = (64, 128)  # ... strided 3x3 layers of this many inputs and outputs: the
# forward pass and the weight gradient
DOTS_ROWS_CHANNELS = 32  # ... unstrided 3x3 layers this wide in and out: every pass
DOTS_FORWARD_PIXELS = 16 * 16  # ... 3x3 layers' forward pass up to this many output pixels
# an image (larger images: the gradients; thinner layers: none, see the notes)
DOTS_KERNEL = (3, 3)  # ... the kernel measured (others, 1x1 aside: not measured)


class Plan(NamedTuple):
    """The lowering (a registered name) used for each pass of one convolution."""

    forward: str
    input_grad: str
    weight_grad: str


def auto_plan(
    input_shape, weight_shape, params: ConvParams, groups: int, dtype, platform: str
) -> Plan:
    """``impl="auto"``'s rules for an ``(N, C, H, W) x (O, C/groups, kh, kw)`` call."""
    call = (input_shape, weight_shape, params, groups, dtype, platform)
    return _with_dots(_past_the_image(_rules(*call), *call), *call)


def _past_the_image(
    plan: Plan, input_shape, weight_shape, params: ConvParams, groups: int, dtype, platform: str
) -> Plan:
    """``plan`` where, on a CPU, a pass's convolution slides a window longer than the
    image it slides over, where XLA's CPU convolution is 7-120x slower (see the notes).
    The call is the trimmed one (``_trim.py``: taps that meet only padding dropped, so a
    7x7 "same" kernel on a 2x2 image is a 3x3 one here; some of the measurements below
    were of untrimmed calls):

    * the forward pass slides the kernel over the input: ``"gemm"``;
    * the input gradient slides it over the output gradient: ``"gemm"``, and a strided or
      unpadded layer's weight gradient with it (a padded, unstrided one's, which XLA
      does well, stays, but below ``PAST_GEMM_ROWS`` images x output pixels);
    * the weight gradient slides the output gradient over the input (an output larger
      than the input: padding beyond half the kernel): ``"dots"`` (float32; ``"matmul"``
      where ``"dots"`` does not run), but XLA's below ``PAST_FEW_INPUT_ROWS`` images x
      input pixels in float32;
    * in bfloat16 with bfloat16 dot instructions, every such pass: ``"dots"`` (but the
      forward pass of up to 16 input channels on a 2x2 image with a 5x5 kernel or
      larger, which XLA runs fast); in float32,
      a layer of up to ``NARROW_TAPS`` channels in or out whose kernel is longer than the
      input: ``"dots"`` for every pass; longer than the output only: ``"dots"``'
      gradients, for wider layers too up to ``PAST_DOTS_OUTPUTS`` outputs (or
      ``PAST_DOTS_LINE_OUTPUTS`` for a kernel that is not square);
    * fewer than ``PAST_MIN_MACS`` multiply-adds, or a patch embedding: the plan as it was.

    Grouped layers keep their plans, but for few groups of more than one channel an
    output larger than the input: ``"xla"`` for groups of one or two outputs, of a few
    channels on tiny images, or of many channels and few outputs on small ones; else,
    where ``"dots"`` runs, XLA's forward pass and ``"dots"``' gradients on images larger
    than 16x16 and for 3x3 kernels of narrower groups, XLA's forward pass and input
    gradient with ``"dots"``' weight gradient for the rest; where it does not, XLA's
    forward pass (fast there, on Eigen), its input gradient on small images, else
    im2col's. With more groups, XLA's forward
    pass for the small images' ``"dots"`` (1.00 / 1.58 ms, 128->128 in 16 groups at 3x3
    padded 2).
    """
    cg, kh, kw = weight_shape[1:]
    h, w = input_shape[2:]
    if platform != "cpu" or not _checks.is_static(h, w):
        return plan
    mh, mw = params.output_size((h, w), (kh, kw))
    known = _checks.is_static(mh, mw)
    forward = kh > h or kw > w
    input_grad = known and (kh > mh or kw > mw)
    weight_grad = known and (mh > h or mw > w)
    if groups > 1:
        if not weight_grad or cg == 1:
            return plan
        if groups >= MANY_GROUPS:  # small images' "dots" forward pass lost here
            return plan._replace(forward="xla") if plan.forward == "dots" else plan
        pixels = h * w  # XLA's gradients are fast on small images here (see the notes)
        outputs = weight_shape[0] // groups
        few_out = cg >= GROUPED_WIDE and outputs <= FEW_GROUP_OUTPUTS
        tiny_narrow = cg <= PAST_NARROW_GROUP and pixels <= PAST_TINY_PIXELS
        swapped = few_out and pixels <= GROUPED_DW_PIXELS
        if outputs <= PAST_FEW_OUTPUTS or tiny_narrow or swapped:
            return Plan("xla", "xla", "xla")  # XLA's weight gradient, its roles swapped
        large = pixels > GROUPED_DX_PIXELS
        if _dots_run(params, dtype):  # XLA's forward pass, fast here (see the notes)
            if large or (kh * kw <= DOTS_MAX_TAPS and cg < GROUPED_WIDE):
                return Plan("xla", "dots", "dots")
            return Plan("xla", "xla", "dots")
        return Plan("xla", "gemm" if large else "xla", "gemm")  # im2col's, as measured
    n, o = input_shape[0], weight_shape[0]
    patches = kh * kw > 1 and _gemm.tiles((kh, kw), params, (mh, mw))
    if not (forward or input_grad or weight_grad) or patches:
        return plan  # (a patch embedding's plan is one matmul already)
    if _checks.is_static(n, mh, mw) and n * o * mh * mw * cg * kh * kw < PAST_MIN_MACS:
        return plan  # dispatch, where XLA's own is as fast
    single = jnp.dtype(dtype) == jnp.float32
    if _bf16_dots(params, groups, dtype, platform):
        # XLA's forward pass of few channels on a 2x2 image stays fast (see the notes)
        few = cg <= PAST_FEW_CHANNELS and h * w <= PAST_FEW_PIXELS and kh * kw >= LARGE_TAPS
        taps = Plan("xla" if few else "dots", "dots", "dots")
    else:
        narrow = single and min(cg, o) <= NARROW_TAPS
        if narrow and forward:  # "dots"' forward pass: its gradients too (see the notes)
            return Plan("dots", "dots", "dots")
        only_dx = input_grad and not forward  # the kernel longer than the output only
        if only_dx and _long_only_for_the_input_grad(cg, o, (kh, kw), params, dtype):
            return Plan(plan.forward, "dots", "dots")
        over_padded = "dots" if _dots_run(params, dtype) else "matmul"  # float32's
        taps = Plan("gemm", "gemm", over_padded)  # (a narrow forward pass returned above)
    same = params.stride == (1, 1) and params.padded
    # a few images x output pixels: the weights outweigh the images, and XLA's weight
    # gradient, laid out for its own kernels, cost a transposed copy (see the notes)
    few_rows = _checks.is_static(n) and n * mh * mw < PAST_GEMM_ROWS and taps.input_grad == "gemm"
    if weight_grad:  # XLA's for few images x input pixels in float32 (see the notes)
        few_images = single and _checks.is_static(n) and n * h * w < PAST_FEW_INPUT_ROWS
        dw = "xla" if few_images else taps.weight_grad
    else:
        dw = taps.input_grad if input_grad and (not same or few_rows) else plan.weight_grad
    return Plan(
        taps.forward if forward else plan.forward,
        taps.input_grad if input_grad else plan.input_grad,
        dw,
    )


def _long_only_for_the_input_grad(cg: int, o: int, kernel, params: ConvParams, dtype) -> bool:
    """Whether a float32 layer whose kernel is longer than its output (not its input)
    takes ``"dots"``' gradients: up to ``NARROW_TAPS`` channels in or out, up to
    ``PAST_DOTS_OUTPUTS`` outputs, or up to ``PAST_DOTS_LINE_OUTPUTS`` for a kernel that
    is not square (see the notes)."""
    if not _dots_run(params, dtype):  # (float32 here: bfloat16's "dots" returned before)
        return False
    line = kernel[0] != kernel[1]
    return min(cg, o) <= NARROW_TAPS or o <= (PAST_DOTS_LINE_OUTPUTS if line else PAST_DOTS_OUTPUTS)


def _dots_run(params: ConvParams, dtype) -> bool:
    """Whether ``"dots"`` runs a call of this dtype as fast as measured: float32, or
    bfloat16 on this CPU's bfloat16 dot instructions (``_dots.bf16_dots``), the result
    in the input's dtype."""
    if params.preferred_element_type is not None:
        return False
    if jnp.dtype(dtype) == jnp.float32:
        return True
    return jnp.dtype(dtype) == jnp.dtype(jnp.bfloat16) and _dots.bf16_dots()


def _bf16_dots(params: ConvParams, groups: int, dtype, platform: str) -> bool:
    """Whether ``"dots"`` may run a dense bfloat16 call on this CPU's bfloat16 dot
    instructions (``_dots.bf16_dots``), its result in bfloat16."""
    half = jnp.dtype(dtype) == jnp.dtype(jnp.bfloat16)
    return platform == "cpu" and groups == 1 and half and _dots_run(params, dtype)


def _with_dots(
    plan: Plan, input_shape, weight_shape, params: ConvParams, groups: int, dtype, platform: str
) -> Plan:
    """``plan`` with ``"dots"`` in the passes it was measured to win: bfloat16 on a CPU
    with bfloat16 dot instructions (see the notes)."""
    cg, kh, kw = weight_shape[1:]
    n, o = input_shape[0], weight_shape[0]
    mh, mw = params.output_size(input_shape[2:], (kh, kw))
    if not _checks.is_static(n, mh, mw) or not DOTS_MIN_ROWS <= n * mh * mw:
        return plan
    if not _bf16_dots(params, groups, dtype, platform):
        return plan
    if mh * mw > DOTS_MAX_PIXELS:
        return _dots_on_large_images(plan, input_shape, weight_shape, params)
    if (kh, kw) == (1, 1):
        if min(cg, o) < DOTS_1X1_CHANNELS:
            return plan
        return Plan("matmul" if params.stride != (1, 1) else plan.forward, "dots", "dots")
    if (kh, kw) != DOTS_KERNEL or params.dilation != (1, 1):
        return plan
    forward = "dots" if mh * mw <= DOTS_FORWARD_PIXELS else plan.forward
    if params.stride == (1, 1):  # row-stacked (``_dots.stacks_rows``)
        if min(cg, o) < DOTS_ROWS_CHANNELS:
            return plan
        return Plan(forward, "dots", "dots")
    if min(cg, o) >= DOTS_CHANNELS:  # strided: im2col
        return Plan(forward, "dots", "dots")
    if cg < DOTS_WEIGHT_GRAD[0] or o < DOTS_WEIGHT_GRAD[1]:
        return plan
    return Plan(forward, plan.input_grad, "dots")


def _dots_on_large_images(plan: Plan, input_shape, weight_shape, params: ConvParams) -> Plan:
    """``_with_dots`` beyond ``DOTS_MAX_PIXELS`` output pixels an image: an unstrided 3x3
    layer from ``DOTS_ROWS_CHANNELS`` channels in and out takes the row-stacked weight
    gradient, and its input gradient up to ``DOTS_LARGE_ELEMENTS`` input elements an
    image (see the notes)."""
    cg, kh, kw = weight_shape[1:]
    unstrided = params.stride == (1, 1) and params.dilation == (1, 1)
    if (kh, kw) != DOTS_KERNEL or not unstrided or min(cg, weight_shape[0]) < DOTS_ROWS_CHANNELS:
        return plan
    elements = cg * input_shape[2] * input_shape[3]
    small = _checks.is_static(elements) and elements <= DOTS_LARGE_ELEMENTS
    return Plan(plan.forward, "dots" if small else plan.input_grad, "dots")


def _rules(
    input_shape, weight_shape, params: ConvParams, groups: int, dtype, platform: str
) -> Plan:
    """The rules of the notes but ``"dots"``'s."""
    cg, kh, kw = weight_shape[1:]
    n, o = input_shape[0], weight_shape[0]
    depthwise = cg == 1 and groups > 1
    if platform == "gpu" and depthwise and kh * kw <= DEPTHWISE_GPU_TAPS:
        return Plan("matmul", "matmul", "xla")
    if platform != "cpu":
        return Plan("xla", "xla", "xla")
    if depthwise:
        return Plan("matmul", "matmul", "matmul")
    mh, mw = params.output_size(input_shape[2:], (kh, kw))
    if (kh, kw) == (1, 1) and groups == 1:
        if params.stride != (1, 1):  # a projection shortcut: see the notes
            return Plan("xla", "xla", "gemm")
        pixels = mh * mw
        known = _checks.is_static(n, pixels)
        tiny = known and pixels < SMALL_1X1_PIXELS
        # gemm's copies around one matmul shared by several images, of rows of a size
        # that is not a multiple of 16 pixels, on small images (see the notes)
        copies = known and n > 1 and not _gemm.per_image(cg, o, pixels)
        unaligned = copies and pixels < UNALIGNED_1X1_PIXELS and pixels % ALIGNED_PIXELS != 0
        # ... where the weights are at most the activations in and out of the batch
        light = (tiny or unaligned) and o * cg <= n * pixels * (cg + o)
        return Plan("matmul", "matmul", "matmul") if light else Plan("gemm", "gemm", "gemm")
    if not _checks.is_static(mh, mw):  # unknown sizes: no bet
        return Plan("xla", "xla", "xla")
    if kh * kw > 1 and _gemm.tiles((kh, kw), params, (mh, mw)):  # a patch embedding: see the notes
        return Plan("gemm", "gemm", "gemm")
    itemsize = np.dtype(dtype).itemsize
    half = itemsize <= 2
    on_ynn = _eigen.ynn_convolutions()  # XLA's CPU convolutions go to YNNPACK here
    # ... and this dtype's too (half precision is converted for it; float64's convolution
    # is a slow generic loop)
    ynn_grad = itemsize <= 4 and on_ynn
    batch = _checks.is_static(n)  # a symbolic batch (jax.export): no bet on the rows
    rows = n * mh * mw if batch else None  # images x output pixels, where known
    if groups > 1:  # XLA's CPU weight gradient of a grouped convolution is very slow
        # few groups: XLA's unstrided forward pass on YNNPACK is fast, unless the call is
        # long enough in images x output pixels x channels a group, or the groups wide
        work = GROUPED_WORK_HALF if half else GROUPED_WORK
        long = cg >= GROUPED_WIDE or (rows is not None and rows * cg >= work)
        windows = params.stride == (1, 1) and kh * kw > 1  # each tap copies a window
        fast_xla = ynn_grad and windows and not long
        few_groups = groups < MANY_GROUPS and (cg < MANY_GROUPS or fast_xla)
        as_taps = mh * mw >= GROUPED_PIXELS and not few_groups
        # one batched dot a pass: on small images, unstrided or wide groups of several
        # outputs (few narrow groups: XLA's forward pass); on larger ones, unstrided few
        # groups of MIN_CHANNELS and more with a kernel larger than 1x1 (see the notes)
        wide = cg >= GROUPED_WIDE and o // groups >= WIDE_DOTS_OUTPUTS
        few_wide = groups < MANY_GROUPS and cg >= MIN_CHANNELS and windows
        small = mh * mw < GROUPED_PIXELS and (params.stride == (1, 1) or wide)
        if (small or few_wide) and params.dilation == (1, 1) and _dots_run(params, dtype):
            few_narrow = groups < MANY_GROUPS and cg < MIN_CHANNELS
            return Plan("xla" if few_narrow else "dots", "dots", "dots")
        # each tap's matmul would contract a few channels into many: im2col's contracts the
        # taps too (its half-precision patches lost; a 1x1 kernel has none)
        thin = cg < MIN_CHANNELS and o // groups > WIDENING * cg
        patches = half and kh * kw > 1
        forward = ("xla" if patches else "gemm") if thin else "matmul"
        return Plan(forward if as_taps else "xla", "gemm", "gemm")
    ynn = _eigen.shapes(dtype) and on_ynn  # Eigen is the alternative to YNNPACK
    blocked = ynn and batch and _eigen.blocked_pays(n, cg, o, mh * mw)
    padded = params.padded
    # XLA's weight gradient on YNNPACK is fast on few outputs and on short calls
    few = o <= MIN_CHANNELS or (padded and o <= THIN_OUT and cg >= 2 * o)
    thin = few and ynn_grad
    # 32 outputs in a short call: YNNPACK's weight gradient, unless several wide images
    short_thirty_two = (
        ynn_grad
        and o == THIN_OUT
        and rows is not None
        and rows < THIN_ROWS
        and (n == 1 or cg < THIN_WIDE)
    )
    forward, input_grad = "xla", "xla"
    if ynn:  # XLA would hand it to YNNPACK: Eigen's convolution may be faster
        forward, input_grad = _steered(cg, o, kh * kw, rows, mh * mw, params)
    if rows is not None and rows < MIN_ROWS:  # a weight gradient too short to pay for patches
        return Plan(forward, input_grad, "xla")
    if mh * mw < MIN_PIXELS:  # small images: im2col pays for narrow 3x3 layers only
        wide = _eigen.ynn_takes(cg, o) and not thin and (not half or max(cg, o) >= SMALL_HALF)
        narrow = MIN_CHANNELS <= cg and wide and max(cg, o) <= SMALL_CHANNELS
        taps = params.stride == (1, 1) and kh * kw < LARGE_TAPS  # matmul's unstrided taps
        # AMD's float32: XLA's, which runs beside the next layer's pass (see the notes)
        patches = batch and narrow and taps and not _beside_next_layer(dtype)
        return Plan(forward, input_grad, "matmul" if patches else "xla")
    if cg < MIN_CHANNELS:
        if half:
            return Plan("xla", "xla", "xla")
        strided = _strided_stem(cg, (kh, kw), params, rows, mh * mw)
        input_grad = "gemm" if not ynn or strided else "xla"
        # ... and in a longer call its weight gradient too (see the notes)
        long = strided and rows is not None and rows >= STEM_DW_ROWS
        return Plan("xla", input_grad, "gemm" if long else _stem_weight_grad(kh * kw, ynn))
    if kh * kw >= LARGE_TAPS:
        small = cg * o // groups < THIN_TAP  # per-tap weight gradients too small
        short = ynn_grad and padded and rows is not None and rows * kh * kw < LARGE_ROWS_TAPS
        # half precision, one image of few channels: YNNPACK's forward pass (see the notes)
        one_narrow = half and batch and n == 1 and cg < HALF_TAPS_CHANNELS
        if not padded and cg >= WIDE and forward == "xla" and not one_narrow:
            forward = "matmul"
        # per-tap matmuls pay from 48 channels a group; unstrided (no strided slices);
        # strided, YNNPACK's weight gradient (gemm's patches lost on one machine)
        if params.stride != (1, 1):
            taps = "xla" if ynn_grad else "gemm"
        else:
            taps = "matmul" if cg > WIDE else "gemm"
        # padded, with YNNPACK's forward pass: its weight gradient on AMD's (see the notes)
        amd_padded = ynn_grad and padded and forward == "xla" and _cpu.amd()
        keep = small or short or thin or short_thirty_two or amd_padded
        return Plan(forward, input_grad, "xla" if keep else taps)
    if not _eigen.ynn_takes(cg, o):  # XLA's own runs on Eigen, and faster
        return Plan(forward, input_grad, "xla")
    if forward == "eigen" and blocked:
        return Plan(forward, input_grad, "xla" if _overlapped(n, cg, o, dtype) else "eigen")
    large = padded and ynn_grad and _few_on_large_images(cg, o, mh * mw, half)
    paired = padded and params.stride == (1, 1) and _paired(cg, o, rows, dtype)
    edge = _at_the_edge(cg, o, mh * mw, dtype)
    short_strided = padded and ynn_grad and _short_strided(cg, rows, params)
    keep = thin or large or short_thirty_two or paired or edge or short_strided
    return Plan(forward, input_grad, "xla" if keep else "gemm")


def _steered(
    cg: int, o: int, taps: int, rows: int | None, pixels: int, params: ConvParams
) -> tuple[str, str]:
    """The forward pass and input gradient of a dense layer of ``cg`` input and ``o``
    output channels, ``taps`` kernel taps, ``rows`` images x output pixels (``None``
    where the batch is symbolic) and ``pixels`` output pixels an image, which XLA's CPU
    backend would give to YNNPACK: ``"eigen"`` where it can shape the call (an axis of
    stride 1) and Eigen was measured faster, else ``"xla"`` (see the module notes):

    * an unpadded convolution of up to 256 channels, whose forward pass YNNPACK ran
      1.1-4.4x slower, from ``MIN_MACS`` multiply-adds on (smaller calls are dispatch:
      24->256 3x3 to 2x2 pixels, batch 8, 1.26x) and 6x6 output pixels (smaller outputs
      lost: 128->256 3x3 to 4x4, batch 32, 1.35x), 12x12 for kernels from 5x5 on fewer
      than 48 input channels (16->48 7x7 to 8x8 1.18-1.66x), and, 256 channels wide (in
      or out) with a kernel below 5x5, from ``UNPADDED_WIDE_ROWS`` images x output
      pixels: below, Eigen's ran 1.08-1.26x YNNPACK's time (forward, 21 interleaved
      rounds, the Zen 5 EPYC: 256->256 3x3 at 14x14, batch 1, 1.08-1.23x over five runs,
      batch 2 1.12x and 1.26x; at 12x12, batch 4, 1.09x; at 20x20, batch 1, 1.10x; at
      10x10 1.12x; 128->256, 256->128, 64->256 and 256->64 at 14x14, batch 1, 1.23x,
      1.09x, 1.11x, 1.14x), above 0.79-0.98x (batch 3, 4 and 8 at 14x14, batch 1 at
      28x28), and narrower layers read 0.75-1.01x (192, 160 and 128 channels at 14x14,
      batch 1; BENCHMARKS.md, 2026-12-07, ninth session);
    * a narrow layer on small enough images, in a call of at least ``MIN_ROWS`` rows
      (shorter calls ran 1.3-1.9x slower) and, for the forward pass, at least 16 output
      channels (8 outputs: 1.10-3.8x slower).
    """
    if cg < MIN_CHANNELS or 1 not in params.stride:
        return "xla", "xla"
    if not _eigen.ynn_takes(cg, o):  # YNNPACK declines it: XLA's is Eigen's
        return "xla", "xla"
    long = rows is not None and rows >= MIN_ROWS
    narrow = long and max(cg, o) <= EIGEN_CHANNELS and _eigen.fits(cg, o, pixels, taps)
    large_narrow = taps >= LARGE_TAPS and cg < UNPADDED_NARROW_INPUTS
    least = UNPADDED_LARGE_PIXELS if large_narrow else UNPADDED_MIN_PIXELS
    # 256 channels wide in a short call: YNNPACK's forward pass (see the notes)
    short = rows is not None and rows <= UNPADDED_WIDE_ROWS and taps < LARGE_TAPS
    width = max(cg, o)
    fits = width < UNPADDED_CHANNELS or (width == UNPADDED_CHANNELS and not short)
    unpadded = not params.padded and fits and pixels >= least
    big = rows is None or rows * cg * o * taps >= MIN_MACS
    forward = (unpadded and big) or (narrow and o >= MIN_CHANNELS)
    return ("eigen" if forward else "xla"), ("eigen" if narrow else "xla")


def _overlapped(n: int, cg: int, o: int, dtype) -> bool:
    """Whether, between other layers, XLA's weight gradient beats Eigen's blocked one
    (``_eigen.blocked_pays``) on a float32 layer of ``n`` images, ``cg`` input and ``o``
    output channels: on AMD's CPUs, up to ``CHAIN_IMAGES`` images, an even count, and
    channels in and out multiples of ``CHAIN_CHANNELS``.

    Why. YNNPACK runs a convolution of 64 output channels on one core (jaxlib 0.10.2; it
    splits the work by output channels only: 64->64 3x3 at 32x32, batch 32, 11.3 ms
    whether the process has one core or two; 128->128 at 16x16 5.4 ms on two, 10.4 on
    one; ``benchmarks/ynn_cores.py``), so its weight gradient runs beside the next
    layer's input gradient, where Eigen's blocks take both cores. Alone, the blocks won:
    with XLA's weight gradient the 38 layers this rule moves took 0.85-1.31x the blocks'
    time forward+backward (median 1.13x), 0.77-1.00x all-``"xla"``'s (``plan_passes.py
    plans blocked``, 9 rounds). Between layers (``plan_passes.py chains blocked``: 4
    layers in a row, forward+backward, 11 rounds, the Zen 5 EPYC), XLA's weight gradient
    took 0.68-1.10x the blocks' time (median 0.90x) on the 37 layers this rule moves
    (ResNet-18's 64->64 at 32x32, batch 32: 0.87x and 0.90x in two runs); of those it
    leaves, odd batches 1.39-2.07x (7, 11 and 13 images; 9 read 0.88x), 24 and 56
    channels 0.81-1.24x and 1.05-1.06x, 48 and 64 images 0.89-1.01x. In the ResNet-18
    step (same-process A/Bs, time / flax.nnx's, blocks / XLA's): 0.865x / 0.855x, 0.883x
    / 0.862x and 0.897x / 0.862x channels-first, 0.888x / 0.876x channels-last,
    compiling 12 kernels fewer. Half precision and Intel's CPUs (where the blocks ran
    0.33-0.73x XLA's weight gradient alone) keep the blocks: not measured in chains."""
    aligned = cg % CHAIN_CHANNELS == 0 and o % CHAIN_CHANNELS == 0
    return _beside_next_layer(dtype) and n % 2 == 0 and n <= CHAIN_IMAGES and aligned


def _paired(cg: int, o: int, rows: int | None, dtype) -> bool:
    """Whether a padded, unstrided layer of ``cg`` input and ``o`` output channels and
    ``rows`` images x output pixels keeps XLA's weight gradient over ``"gemm"``'s, between
    layers: ``PAIR_CHANNELS`` channels in and out, up to ``PAIR_ROWS`` rows, float32 on
    AMD's CPUs.

    Why. XLA's weight gradient of up to 64 outputs runs on one core (YNNPACK, jaxlib
    0.10.2; ``benchmarks/ynn_cores.py --weight-grad``: 1.02-1.10 cores busy at 48 and 64
    outputs, 1.61-1.93 at 128), and so does the next 64-channel layer's input
    gradient, so in a network the two share the CPU's two cores. Alone, XLA's took 1.44x
    ``"gemm"``'s time (64->64 3x3 at 112x112, batch 2: 18.0 / 12.5 ms, 1.13 cores busy),
    where wider inputs take longer: 128->64 2.0x and 32->64 1.85x, and 48->48 2.1x. Four
    3x3 layers in a row, forward+backward, time / all-``"xla"``'s (``plan_passes.py chains
    wide_images|mid_images``, 9 rounds, the Zen 5 EPYC), ``"gemm"``'s weight gradient /
    XLA's on 64->64, images x output pixels in brackets: on YNNPACK's passes (from 80x80
    on) 1.15x (3 at 96x96, 28 K), 1.00x (2 at 112x112), 1.01x (2 at 128x128), 1.08x (1 at
    160x160), 0.99x (1 at 224x224, 50 K), 1.08x (4 at 112x112) and 1.08x (8 at 96x96, 74 K)
    against XLA's 1.00; on Eigen's passes 0.78 / 0.71 (8 at 56x56), 0.77 / 0.64 (4 at
    56x56), 0.79 / 0.70 (6 at 64x64), 0.82 / 0.68 (3 at 64x64), 0.81 / 0.73 (12 at
    64x64, 49 K), 0.80 / 0.76 (16 at 56x56), 0.79 / 0.76 (24 at 48x48), 0.88 / 0.79 (16
    at 48x48), 1.00 / 0.90 (8 at 72x72), 0.77 / 0.78 (20 at 56x56, 63 K), 0.77 / 0.76 (11
    at 48x48) and 0.94 / 0.94 (4 at 80x80). From 74 K rows ``"gemm"``'s won: 0.77 / 0.85
    (32 at 48x48), 0.78 / 0.87 (24 at 56x56), 0.70 / 0.79 (28 at 56x56), 0.61 / 0.76-0.78
    (32 at 56x56, twice), 0.74 / 0.92 (16 at 80x80), and on YNNPACK's passes 0.78x and
    0.64x (12 and 16 at 96x96). Other widths kept ``"gemm"``'s: 48->48 0.72-0.92x, 96->96
    0.62-0.99x and 64->128 0.64-0.89x on YNNPACK's passes; a 128->64 layer moved alone
    before three 64->64 ones read 0.84-1.01x against the rules' 0.69-0.95x (worse on five
    of six). Half precision (whose rules give these layers XLA's or the blocks' already),
    the Xeons, strided and unpadded layers were not measured between layers."""
    short = rows is not None and rows <= PAIR_ROWS
    return cg == o == PAIR_CHANNELS and short and _beside_next_layer(dtype)


def _beside_next_layer(dtype) -> bool:
    """Whether a weight gradient of XLA's measured faster between layers, where YNNPACK
    runs it on one core beside the next layer's input gradient, than the patches or
    blocks that won alone: float32 on AMD's CPUs (``_overlapped``; the small-images rule
    in the notes). Half precision and Intel's CPUs were not measured between layers."""
    return jnp.dtype(dtype) == jnp.float32 and _cpu.amd()


def _at_the_edge(cg: int, o: int, pixels: int, dtype) -> bool:
    """Whether a layer of ``cg`` input and ``o`` output channels on ``pixels`` output
    pixels an image, at the small-images rule's edge (``MIN_PIXELS``, 32x32) and up to
    ``EDGE_CHANNELS`` wide, keeps XLA's weight gradient between layers, as that rule's
    smaller images do: float32 on AMD's CPUs (``_beside_next_layer``).

    Measured (the Zen 5 EPYC; four 3x3 layers in a row, forward+backward, 11 rounds,
    time / all-``"xla"``'s, ``"gemm"``'s weight gradient / XLA's): 128->128 at 32x32,
    batch 8, 1.02x and 1.19x in two runs / 1.00x; batch 16 1.02x; batch 32 0.99x; 96->96
    at 32x32, batch 8, with Eigen's passes, 1.03x / 0.88x; 64->128 stride 2 from 64x64,
    batch 8, 1.03x / 1.02x. Wider or larger, ``"gemm"``'s won: 192->192 and 256->256 at
    32x32, batch 8, 0.94x and 0.93x; 128->128 at 40x40 and 48x48, 0.94x and 0.82x.
    ResNet-18 on 64x64 inputs, batch 8 (its 128-channel layers at 32x32; 3 compiles, 9
    rounds, time / flax.nnx's): 0.924x and compile 1.38x with XLA's weight gradient on
    its unstrided 128-channel layers, against 0.930x and 1.66x (BENCHMARKS.md,
    2026-12-07, ninth session)."""
    return pixels <= MIN_PIXELS and max(cg, o) <= EDGE_CHANNELS and _beside_next_layer(dtype)


def _short_strided(cg: int, rows: int | None, params: ConvParams) -> bool:
    """Whether a padded, strided layer of ``cg`` input channels and ``rows`` images x
    output pixels, whose weight gradient XLA hands to YNNPACK, keeps it on an AMD CPU:
    up to ``STRIDED_CHANNELS`` channels and ``STRIDED_ROWS`` rows.

    Measured on the Zen 4 EPYC (``jax.grad`` in the weight, forward pass included, 21
    interleaved rounds, one or two runs; ``"gemm"``'s / XLA's; padding 1, float32):
    64->128 3x3 stride 2 from 128x128, batch 2 and 4, 1.09x and 1.09-1.11x; 4x4 from
    128x128, batch 2 and 4, 1.15x and 1.14-1.18x (pix2pix's, 1.13x forward+backward in
    ``auto_sweep.py``), from 96x96 1.20-1.25x; 3x3 from 96x96 1.15x; 32->64 4x4 from
    128x128 1.10x, 3x3 from 96x96 1.15-1.28x; 16->32 from 128x128 1.37x; level on 24->48
    (0.94x), 48->48 from 96x96 (0.99x) and one image from 160x160 (0.99x). With more
    rows XLA's still won at 20 K and 24 K (64->128, batch 5 and 6: 3x3 1.09-1.14x and
    1.08-1.15x, 4x4 1.22x and 1.11x; 32->64 at batch 6 1.08-1.09x), was level at 28 K
    (batch 7: 1.04x) and lost from 32 K (batch 8: 0.81-0.88x); wider, ``"gemm"``'s won:
    96->192 and 128->256 3x3 from 96x96, batch 4, 0.85-0.91x and 0.88-0.90x; so did it unpadded
    (64->96 3x3 stride 2 from 129x129, batch 4: 0.62x, where XLA's weight gradient is
    slow, as in the notes). In bfloat16 (converted to float32 for YNNPACK) XLA's won too:
    64->128 4x4 and 3x3 from 128x128 and 96x96, batch 4, forward+backward 1.16x and
    1.23x. On the Zen 5 EPYC, where the other AMD rules were made, these layers were not
    measured (64->128 stride 2 from 64x64 to 32x32, batch 8, read level there:
    ``_at_the_edge``); Intel's CPUs keep the patches (the default rule, in the notes)."""
    short = rows is not None and rows <= STRIDED_ROWS
    return _cpu.amd() and params.stride != (1, 1) and cg <= STRIDED_CHANNELS and short


def _few_on_large_images(cg: int, o: int, pixels: int, half: bool) -> bool:
    """Whether a padded layer has few enough channels on large enough images that
    YNNPACK's weight gradient was not beaten by im2col's on the EPYC: float32 up to 32
    channels on images too large for ``"eigen"`` (``_eigen.fits``); half precision
    up to 64 channels from 128 K channels x output pixels an image on."""
    wide = max(cg, o)
    if half:
        return wide <= HALF_FEW_CHANNELS and wide * pixels >= HALF_LARGE_ELEMENTS
    return wide <= THIN_OUT and not _eigen.fits(cg, o, pixels)


def _strided_stem(cg: int, kernel, params: ConvParams, rows: int | None, pixels: int) -> bool:
    """AMD, float32, YNNPACK: a 7x7 stride-2 stem of 2-15 channels on a large image in a
    long call takes im2col's input gradient, and from ``STEM_DW_ROWS`` its weight
    gradient (see the notes)."""
    long = rows is not None and rows >= STEM_ROWS and pixels >= STEM_PIXELS
    shape = tuple(kernel) == STEM_KERNEL and params.stride == STEM_STRIDE
    return _cpu.amd() and cg >= 2 and shape and params.dilation == (1, 1) and long


def _stem_weight_grad(taps: int, ynn: bool) -> str:
    """The weight gradient of a layer of fewer than 16 input channels (a stem)."""
    if not ynn:
        return "gemm"
    if taps >= BIG_STEM_TAPS and not _cpu.amd():  # im2col's patch rows are long enough
        return "gemm"
    return "xla"  # YNNPACK's (Eigen's blocks won on one machine, lost on another)


def _capable(plan: Plan, platform: str) -> Plan:
    """``plan`` with every pass on a lowering declared able to serve it there (else xla)."""
    return Plan(
        *(
            name if get_lowering(name).supports(p, platform) else "xla"
            for name, p in zip(plan, PASSES)
        )
    )


def _memory(name: str, input_shape, weight_shape, params: ConvParams, groups: int, dtype):
    """``(temporaries, operands and result)`` in bytes for lowering ``name``, or ``None``
    when a size is symbolic (``jax.export``) or the lowering gives no estimate."""
    estimate = get_lowering(name).workspace
    if estimate is None or not _checks.is_static(*input_shape):
        return None
    itemsize = np.dtype(dtype).itemsize
    n, o = input_shape[0], weight_shape[0]
    mh, mw = params.output_size(input_shape[2:], weight_shape[2:])
    operands = int(np.prod(input_shape)) + int(np.prod(weight_shape)) + n * o * mh * mw
    work = estimate(tuple(input_shape), tuple(weight_shape), params, groups, itemsize)
    return work, operands * itemsize


def _within(name: str, factor: int, floor: int, *call) -> bool:
    memory = _memory(name, *call)
    return memory is None or memory[0] <= max(factor * memory[1], floor)


def resolve(
    fn: str,
    impl: str,
    input_shape,
    weight_shape,
    params: ConvParams,
    groups: int,
    dtype,
    platform: str | None = None,
) -> Plan:
    """The plan for a checked call of ``fn``; ``impl`` is ``"auto"`` or a lowering name.

    A lowering named by the caller serves every pass it can; the passes it cannot (the
    gradients of a forward-only kernel) follow ``"auto"``. ``"auto"`` keeps to lowerings
    whose temporaries stay within twice the operands and result; a named lowering is
    refused only where they would be absurd (``REFUSED_MEMORY``).
    """
    platform = platform or jax.default_backend()
    # the call as it runs: without the taps that only meet padding (``_trim.py``)
    kernel, params = _trim.trimmed(tuple(input_shape)[2:], tuple(weight_shape)[2:], params)
    call = (tuple(input_shape), (*tuple(weight_shape)[:2], *kernel), params, groups, dtype)
    auto = Plan(
        *(
            name if _within(name, AUTO_MEMORY, SMALL_BYTES, *call) else "xla"
            for name in _capable(auto_plan(*call, platform), platform)
        )
    )
    if impl == AUTO:
        return auto
    if impl == AUTOTUNE:
        return _autotuned(fn, auto, call, platform)
    lowering = get_lowering(impl)
    if not lowering.supports("forward", platform):
        raise ValueError(
            f"{fn}: `impl` (={impl!r}) runs on {lowering.platforms}, not on {platform!r}"
        )
    if not _within(impl, REFUSED_MEMORY, REFUSED_BYTES, *call):
        work, operands = _memory(impl, *call)
        raise ValueError(
            f"{fn}: `impl` (={impl!r}) would need {work / 2**30:.3g} GiB of temporaries for "
            f"this call ({work / operands:.3g}x its operands and result: the padding or "
            f"dilation is huge); use impl='auto' or 'xla'"
        )
    return Plan(*(impl if lowering.supports(p, platform) else a for p, a in zip(PASSES, auto)))


def _autotuned(fn: str, auto: Plan, call, platform: str) -> Plan:
    """``impl="autotune"``: the fastest lowering per pass, timed here (``_tune.py``)."""
    if platform != jax.default_backend():
        raise ValueError(
            f"{fn}: `impl` (='autotune') times the lowerings on this machine's "
            f"{jax.default_backend()!r} devices, so it cannot plan for {platform!r}"
        )
    candidates = {
        p: [
            name
            for name, lowering in lowerings().items()
            if lowering.supports(p, platform) and _within(name, AUTO_MEMORY, SMALL_BYTES, *call)
        ]
        for p in PASSES
    }
    return Plan(*_tune.tuned(auto, candidates, *call))


def choose_plan(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    *,
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    groups: int = 1,
    dtype: DTypeLike = "float32",
    impl: Impl | str = "auto",
    platform: str | None = None,
) -> Plan:
    """The plan :func:`conv2d` uses for a call with these shapes and hyperparameters.

    Args:
      input_shape: ``(N, C, H, W)``.
      weight_shape: ``(O, C // groups, kh, kw)``.
      stride, padding, dilation, groups: as in :func:`conv2d`.
      dtype: the input's dtype (default float32).
      impl: ``"auto"`` (default), ``"autotune"`` (times the candidate lowerings of each
        pass on this machine's devices the first time it meets a call, ``_tune.py``) or a
        lowering's name (``"xla"``, ``"matmul"``, ``"gemm"`` or a registered one; a
        forward-only lowering gets ``"auto"``'s gradient passes).
      platform: ``"cpu"``, ``"gpu"`` or ``"tpu"``; default ``jax.default_backend()``.

    Returns:
      ``Plan(forward, input_grad, weight_grad)``: the lowering of each pass.

    >>> choose_plan((8, 256, 56, 56), (64, 256, 1, 1), platform="cpu")
    Plan(forward='gemm', input_grad='gemm', weight_grad='gemm')
    >>> choose_plan((8, 256, 56, 56), (256, 256, 3, 3), padding=1, platform="cpu")
    Plan(forward='xla', input_grad='xla', weight_grad='gemm')
    >>> choose_plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1, platform="gpu")
    Plan(forward='xla', input_grad='xla', weight_grad='xla')
    """
    fn = "choose_plan"
    impl = check_impl(fn, impl)
    if impl == REFERENCE:
        raise ValueError(
            f"{fn}: `impl` (='reference') has no plan: it is JAX's generic "
            f"lowering of the vmap structure"
        )
    x_shape = _checks.as_shape(fn, "input_shape", input_shape, (4,))
    w_shape = _checks.as_shape(fn, "weight_shape", weight_shape, (4,))
    groups = _checks.check_weight_shape(
        fn, x_shape, w_shape, groups, ("input_shape", "weight_shape"), of_shapes=True
    )
    if platform is not None and platform not in PLATFORMS:
        raise ValueError(f"{fn}: `platform` (={platform!r}) must be one of {PLATFORMS}")
    params = _checks.conv_params(
        fn,
        (x_shape[2], x_shape[3]),
        (w_shape[2], w_shape[3]),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{fn}: `dtype` (={dtype!r}) is not a dtype") from None
    return resolve(fn, impl, x_shape, w_shape, params, groups, dtype, platform)
