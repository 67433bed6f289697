"""Whole networks: one training step of ResNet-18, MobileNet-v1, ConvNeXt and VGG-11 in
every library.

A network is a list of convolutions (``Conv``) and the blocks that wire them
(``Net.blocks``); each library builds the same convolutions in its own layer and runs
the same wiring (``_body``), so the entries differ only in their convolution layer and
layout. A step is forward, backward, softmax cross-entropy and an SGD-with-momentum
update, jitted with its parameters and momenta donated, as a training loop runs it.

* ResNet-18 in its CIFAR form: a 3x3 stem, four stages of two basic blocks (64, 128,
  256, 512 channels; stride 2 from the second stage), 1x1 projection shortcuts where
  the shape changes, no normalisation; global average pooling, a dense layer.
* MobileNet-v1 for 32x32 inputs: a 3x3 stem (stride 1), then 13 pairs of a depthwise
  3x3 and a pointwise 1x1 convolution, 32 to 1024 channels, four of them with stride 2.
* ConvNeXt for 32x32 inputs: a 2x2 patch embedding of stride 2, four stages of 2, 2, 4
  and 2 inverted blocks (a depthwise 7x7, a 1x1 to four times the width, a ReLU, a 1x1
  back, the identity added; 48 to 384 channels), a 2x2 stride-2 downsampling before the
  last three; no normalisation.
* VGG-11 for 32x32 inputs, as CIFAR-10 tutorials train it: eight 3x3 convolutions (64
  to 512 channels) and five 2x2 max poolings of stride 2, the last two convolutions on
  2x2 images; no normalisation, one dense layer.

Every convolution has a bias and is followed by a ReLU (a residual block's second one
after the sum), but in ConvNeXt's blocks, which have one ReLU, inside. ``normalised``
puts batch normalisation after every convolution, as real ResNets and MobileNets train:
the batch's statistics per channel (training mode), one function shared by every JAX
library in its layout and ``torch.nn.functional.batch_norm`` in torch, without a learned
scale and shift or running averages (elementwise work, and the same in every entry), so
that the parameters stay those of the convolutions and the head. jaxconv's channels-first
entry normalises through ``jaxconv.nn.channels_last``, as that layer's users are told to
(on axis 1 XLA copies each activation into channels-first order and back); the entry
``jaxconv.nn NCHW axis-1 norm`` shows what it costs without.

A step in half precision (``jax_entries(dtype=...)``, ``torch_entries(dtype=...)``) is
mixed precision, as such networks train: the parameters, their gradients, the momenta and
the loss stay float32, and the network computes in ``dtype`` (``computed_in``: the JAX
entries cast the parameters and the input on the way in; torch runs under
``torch.autocast``). Batch normalisation computes its statistics in float32 (as flax's
``BatchNorm`` does by default) and returns ``dtype``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._timing import kernel_count, operation_count, temp_bytes

LR, MOMENTUM = 0.01, 0.9
EPS = 1e-5  # batch normalisation's variance offset (torch's and flax's default)
CLASSES, SIDE = 10, 32


@dataclasses.dataclass(frozen=True)
class Conv:
    """A ``k x k`` convolution, ``ci -> co``, padding ``k // 2`` unless ``patches``
    (none: a kernel as large as its stride)."""

    ci: int
    co: int
    k: int = 3
    stride: int = 1
    groups: int = 1
    patches: bool = False

    @property
    def pad(self) -> int:
        return 0 if self.patches else self.k // 2


@dataclasses.dataclass(frozen=True)
class Net:
    """``convs`` in call order; ``blocks`` say how many each block takes: ``"conv"``
    (conv, ReLU), ``"res"`` (two convs and the identity), ``"proj"`` (two convs and a
    1x1 shortcut), ``"inverted"`` (three convs, a ReLU after the second, and the
    identity) or ``"pool"`` (none: 2x2 max pooling of stride 2)."""

    name: str
    convs: tuple[Conv, ...]
    blocks: tuple[str, ...]
    norm: bool = False  # batch normalisation after every convolution (``normalised``)

    @property
    def features(self) -> int:
        return self.convs[-1].co


def resnet18(width: int = 64) -> Net:
    convs, blocks = [Conv(3, width)], ["conv"]
    ci = width
    for stage in range(4):
        co = width * 2**stage
        for block in range(2):
            stride = 2 if stage and not block else 1
            convs += [Conv(ci, co, 3, stride), Conv(co, co)]
            if stride > 1 or ci != co:
                convs.append(Conv(ci, co, 1, stride))
                blocks.append("proj")
            else:
                blocks.append("res")
            ci = co
    return Net("resnet18", tuple(convs), tuple(blocks))


# (output channels / width, stride) of each depthwise + pointwise pair
MOBILENET_PAIRS = (
    *((2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2)),
    *((16, 1),) * 5,
    *((32, 2), (32, 1)),
)


def mobilenet(width: int = 32) -> Net:
    convs = [Conv(3, width)]
    ci = width
    for mult, stride in MOBILENET_PAIRS:
        co = width * mult
        convs += [Conv(ci, ci, 3, stride, groups=ci), Conv(ci, co, 1)]
        ci = co
    return Net("mobilenet", tuple(convs), ("conv",) * len(convs))


CONVNEXT_DEPTHS = (2, 2, 4, 2)


def convnext(width: int = 48) -> Net:
    convs, blocks = [Conv(3, width, 2, 2, patches=True)], ["conv"]
    ci = width
    for stage, depth in enumerate(CONVNEXT_DEPTHS):
        co = width * 2**stage
        if stage:
            convs.append(Conv(ci, co, 2, 2, patches=True))
            blocks.append("conv")
        for _ in range(depth):
            convs += [Conv(co, co, 7, groups=co), Conv(co, 4 * co, 1), Conv(4 * co, co, 1)]
            blocks.append("inverted")
        ci = co
    return Net("convnext", tuple(convs), tuple(blocks))


# VGG-11's layers: output channels / 64 of each 3x3 convolution, 0 for a max pooling
VGG11 = (1, 0, 2, 0, 4, 4, 0, 8, 8, 0, 8, 8, 0)


def vgg11(width: int = 64) -> Net:
    """VGG-11's convolutions on 32x32 images (as in CIFAR-10 tutorials): its last two
    3x3 layers see 2x2 images, a kernel longer than the image (``_plan.py``)."""
    convs, blocks = [], []
    ci = 3
    for mult in VGG11:
        if mult:
            convs.append(Conv(ci, width * mult))
            ci = width * mult
        blocks.append("conv" if mult else "pool")
    return Net("vgg11", tuple(convs), tuple(blocks))


def normalised(net: Net) -> Net:
    """``net`` with batch normalisation after every convolution, named ``<name>+bn``."""
    return dataclasses.replace(net, name=f"{net.name}+bn", norm=True)


MODELS: dict[str, Callable[..., Net]] = {
    "resnet18": resnet18,
    "mobilenet": mobilenet,
    "convnext": convnext,
    "vgg11": vgg11,
}


def _body(net: Net, convs, x, relu: Callable, pool: Callable, norm: Callable, halve: Callable):
    """The wiring every library shares: ``convs[i]`` is a callable for ``net.convs[i]``;
    ``norm`` follows each of them in a ``normalised`` network; ``halve`` is a ``"pool"``
    block, ``pool`` the global pooling before the head."""
    layers = iter([lambda y, conv=conv: norm(conv(y)) for conv in convs] if net.norm else convs)
    for block in net.blocks:
        if block == "pool":
            x = halve(x)
            continue
        if block == "conv":
            x = relu(next(layers)(x))
            continue
        if block == "inverted":
            depthwise, wide, narrow = next(layers), next(layers), next(layers)
            x = x + narrow(relu(wide(depthwise(x))))
            continue
        first, second = next(layers), next(layers)
        shortcut = next(layers)(x) if block == "proj" else x
        x = relu(second(relu(first(x))) + shortcut)
    return pool(x)


# ---------------------------------------------------------------------------- JAX entries


def _filled(shapes):
    """float32 parameters for abstract ones, the same way in every library: normal,
    scaled by ``sqrt(2 / fan)`` with ``fan`` the size over the largest axis (a kernel's
    fan-in). Each library's own initialisers, run eagerly, take longer than the step."""
    rng = np.random.default_rng(0)

    def fill(a):
        fan = max(int(np.prod(a.shape)) // max(a.shape, default=1), 1)
        values = rng.standard_normal(a.shape) * np.sqrt(2 / fan)
        return jnp.asarray(values, jnp.float32)

    return jax.tree.map(fill, shapes)


def batch_norm(y: jax.Array, channel: int, axis_name: str | None = None) -> jax.Array:
    """``y`` normalised by its batch's mean and variance per channel (axis ``channel``),
    over every other axis and, under a ``vmap`` over the images, over ``axis_name``;
    computed in float32 or wider, returned in ``y``'s dtype."""
    axes = tuple(a for a in range(y.ndim) if a != channel)
    wide = y if jnp.dtype(y.dtype).itemsize >= 4 else y.astype(jnp.float32)

    def mean(v):
        m = jnp.mean(v, axes, keepdims=True)
        return m if axis_name is None else jax.lax.pmean(m, axis_name)

    centred = wide - mean(wide)
    return (centred * jax.lax.rsqrt(mean(jnp.square(centred)) + EPS)).astype(y.dtype)


def computed_in(apply: Callable, dtype) -> Callable:
    """``apply(params, x)`` computed in ``dtype`` from float32 ``params`` and ``x``: both
    cast on the way in, so that gradients reach the float32 parameters (mixed precision).
    """
    if jnp.dtype(dtype) == jnp.float32:
        return apply
    cast = lambda a: a.astype(dtype)  # noqa: E731
    return lambda params, x: apply(jax.tree.map(cast, params), cast(x))


def _jax_net(
    net: Net, convs, head, spatial: tuple[int, int], channel: int, axis_name=None, norm_last=False
):
    """``norm_last``: a channels-first network's normalisation through
    ``jaxconv.nn.channels_last``."""
    norm = lambda y: batch_norm(y, channel, axis_name)  # noqa: E731
    if norm_last:
        from jaxconv.nn import channels_last

        norm = channels_last(lambda y: batch_norm(y, y.ndim - 1, axis_name))
    pool = lambda y: jnp.mean(y, spatial)  # noqa: E731
    return lambda x: head(_body(net, convs, x, jax.nn.relu, pool, norm, _halver(spatial)))


def _halver(spatial: tuple[int, int]) -> Callable:
    """2x2 max pooling of stride 2 over the ``spatial`` axes."""

    def halve(y):
        window = tuple(2 if axis in spatial else 1 for axis in range(y.ndim))
        return lax.reduce_window(y, -jnp.inf, lax.max, window, window, "VALID")

    return halve


def _nnx_model(net: Net, conv: Callable, spatial, channel: int, norm_last: bool = False):
    from flax import nnx

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.convs = nnx.List([conv(c, rngs) for c in net.convs])
            self.head = nnx.Linear(net.features, CLASSES, rngs=rngs)

        def __call__(self, x):
            return _jax_net(net, self.convs, self.head, spatial, channel, norm_last=norm_last)(x)

    graphdef, shapes = nnx.split(nnx.eval_shape(lambda: Model(nnx.Rngs(0))), nnx.Param)
    return (lambda p, x: nnx.merge(graphdef, p)(x)), _filled(shapes)


def _jaxconv(net: Net, data_format: str, impl: str = "auto", norm_last: bool = True):
    import jaxconv.nn

    def conv(c: Conv, rngs):
        return jaxconv.nn.Conv2d(
            c.ci,
            c.co,
            c.k,
            c.stride,
            c.pad,
            groups=c.groups,
            data_format=data_format,
            impl=impl,
            rngs=rngs,
        )

    if data_format == "NCHW":
        return _nnx_model(net, conv, (2, 3), 1, norm_last)
    return _nnx_model(net, conv, (1, 2), 3)


def _flax_nnx(net: Net):
    from flax import nnx

    def conv(c: Conv, rngs):
        return nnx.Conv(
            c.ci,
            c.co,
            (c.k, c.k),
            strides=c.stride,
            padding=c.pad,
            feature_group_count=c.groups,
            rngs=rngs,
        )

    return _nnx_model(net, conv, (1, 2), 3)


def _flax_linen(net: Net, x):
    from flax import linen

    class Model(linen.Module):
        @linen.compact
        def __call__(self, x):
            convs = [
                linen.Conv(
                    c.co,
                    (c.k, c.k),
                    strides=c.stride,
                    padding=c.pad,
                    feature_group_count=c.groups,
                )
                for c in net.convs
            ]
            return _jax_net(net, convs, linen.Dense(CLASSES), (1, 2), 3)(x)

    model = Model()
    return model.apply, _filled(jax.eval_shape(model.init, jax.random.key(0), x))


def _equinox(net: Net):
    import equinox as eqx

    def model():
        keys = jax.random.split(jax.random.key(0), len(net.convs) + 1)
        convs = [
            eqx.nn.Conv2d(c.ci, c.co, c.k, c.stride, c.pad, groups=c.groups, key=key)
            for c, key in zip(net.convs, keys)
        ]
        return convs, eqx.nn.Linear(net.features, CLASSES, key=keys[-1])

    is_leaf = lambda a: isinstance(a, jax.ShapeDtypeStruct)  # noqa: E731
    shapes, static = eqx.partition(eqx.filter_eval_shape(model), is_leaf)
    params = _filled(shapes)

    def apply(p, x):  # equinox layers take one image (C, H, W): vmap over the batch
        convs, head = eqx.combine(p, static)
        return jax.vmap(_jax_net(net, convs, head, (1, 2), 0, "images"), axis_name="images")(x)

    return apply, params


def _train_step(apply: Callable) -> Callable:
    """``(params, momenta, x, labels) -> (params, momenta, loss)``: SGD with momentum."""

    def loss(params, x, labels):
        logits = apply(params, x).astype(jnp.float32)
        picked = jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1)
        return -jnp.mean(picked)

    def step(params, momenta, x, labels):
        value, grads = jax.value_and_grad(loss)(params, x, labels)
        momenta = jax.tree.map(lambda m, g: MOMENTUM * m + g, momenta, grads)
        params = jax.tree.map(lambda p, m: p - LR * m, params, momenta)
        return params, momenta, value

    return step


class Step(NamedTuple):
    """One compiled training step: a zero-argument runner, and what compiling it took."""

    run: Callable[[], Any]
    compile_s: float  # trace + lower + compile
    temp: Any  # XLA's temporary bytes, where the backend reports them
    kernels: int  # _timing.kernel_count
    operations: int  # _timing.operation_count


def compile_step(apply: Callable, params, x, labels) -> Step:
    """One training step of ``apply`` on ``(params, x, labels)``, compiled and counted."""
    momenta = jax.tree.map(jnp.zeros_like, params)
    t0 = time.perf_counter()
    traced = jax.jit(_train_step(apply), donate_argnums=(0, 1)).trace(params, momenta, x, labels)
    compiled = traced.lower().compile()
    compile_s = time.perf_counter() - t0
    state = [params, momenta]  # donated to each step: the runner keeps the new ones

    def run():
        state[0], state[1], value = compiled(state[0], state[1], x, labels)
        jax.block_until_ready(value)

    return Step(
        run, compile_s, temp_bytes(compiled), kernel_count(compiled), operation_count(traced)
    )


def jax_entries(
    net: Net, batch: int, equinox: bool = True, autotune: bool = True, dtype="float32"
) -> dict[str, tuple]:
    """``{entry: (apply, params, x, labels)}`` for every JAX library, in its layout;
    ``apply`` computes in ``dtype`` from the float32 ``params`` and ``x``."""
    rng = np.random.default_rng(0)
    x_nchw = jnp.asarray(rng.standard_normal((batch, 3, SIDE, SIDE), np.float32))
    x_nhwc = jnp.transpose(x_nchw, (0, 2, 3, 1))
    labels = jnp.asarray(rng.integers(0, CLASSES, batch), jnp.int32)
    out = {
        "jaxconv.nn NCHW": (*_jaxconv(net, "NCHW"), x_nchw, labels),
        "jaxconv.nn NHWC": (*_jaxconv(net, "NHWC"), x_nhwc, labels),
        "flax.nnx.Conv": (*_flax_nnx(net), x_nhwc, labels),
        "flax.linen.Conv": (*_flax_linen(net, x_nhwc), x_nhwc, labels),
    }
    if net.norm:  # the normalisation on axis 1, as without ``channels_last``
        axis_1 = _jaxconv(net, "NCHW", norm_last=False)
        out["jaxconv.nn NCHW axis-1 norm"] = (*axis_1, x_nchw, labels)
    if autotune:  # tunes in its first compile round (later rounds and the file cache reuse it)
        out["jaxconv.nn NCHW autotune"] = (*_jaxconv(net, "NCHW", "autotune"), x_nchw, labels)
    if equinox:
        try:
            out["equinox Conv2d"] = (*_equinox(net), x_nchw, labels)
        except ImportError:
            pass
    return {name: (computed_in(e[0], dtype), *e[1:]) for name, e in out.items()}


def param_count(params) -> int:
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))


# --------------------------------------------------------------------------- torch entries


def torch_model(net: Net):
    """The network built of ``torch.nn.Conv2d`` layers (NCHW)."""
    import torch
    from torch.nn import functional

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = torch.nn.ModuleList(
                torch.nn.Conv2d(c.ci, c.co, c.k, c.stride, c.pad, groups=c.groups)
                for c in net.convs
            )
            self.head = torch.nn.Linear(net.features, CLASSES)

        def forward(self, x):
            pool = lambda y: y.mean((2, 3))  # noqa: E731
            norm = lambda y: functional.batch_norm(y, None, None, training=True, eps=EPS)  # noqa: E731
            halve = lambda y: functional.max_pool2d(y, 2)  # noqa: E731
            return self.head(_body(net, self.convs, x, torch.relu, pool, norm, halve))

    return Model()


def torch_entries(
    net: Net, batch: int, cuda: bool = False, dtype="float32"
) -> dict[str, Callable[[], None]]:
    """``{entry: run}``: one eager training step of ``torch.nn.Conv2d`` networks, NCHW
    and channels_last, on the CPU or with ``cuda`` on a GPU (empty when torch, or its
    CUDA build, is not installed); the forward pass and the loss under
    ``torch.autocast`` to ``dtype`` unless it is float32."""
    try:
        import torch
    except ImportError:
        return {}
    if cuda and not torch.cuda.is_available():
        return {}
    device = "cuda" if cuda else "cpu"
    half = None if jnp.dtype(dtype) == jnp.float32 else getattr(torch, jnp.dtype(dtype).name)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((batch, 3, SIDE, SIDE), np.float32)).to(device)
    labels = torch.from_numpy(rng.integers(0, CLASSES, batch)).to(device)
    out: dict[str, Callable[[], None]] = {}
    for name, fmt in [
        ("torch NCHW", torch.contiguous_format),
        ("torch channels_last", torch.channels_last),
    ]:
        torch.manual_seed(0)
        model = torch_model(net).to(device, memory_format=fmt)
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        xf = x.contiguous(memory_format=fmt)

        def run(model=model, opt=opt, xf=xf):
            opt.zero_grad()
            with torch.autocast(device, dtype=half or torch.bfloat16, enabled=half is not None):
                loss = torch.nn.functional.cross_entropy(model(xf), labels)
            loss.backward()
            opt.step()
            if cuda:
                torch.cuda.synchronize()

        out[name] = run
    return out
