"""jaxconv.nn.channels_last: a channels-last layer inside a channels-first network."""

import re

import flax.linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxconv import linen as jl
from jaxconv import nn as jn
from tests.helpers import RTOL, assert_close

TOL = RTOL["float32"]


def _x(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _normalised(axis):
    """Batch normalisation (training statistics, no parameters) over all axes but ``axis``."""

    def norm(y):
        axes = tuple(a for a in range(y.ndim) if a != axis % y.ndim)
        centred = y - jnp.mean(y, axes, keepdims=True)
        return centred * jax.lax.rsqrt(jnp.mean(centred * centred, axes, keepdims=True) + 1e-5)

    return norm


def test_nnx_batch_norm_channels_last_equals_it_on_axis_1():
    """Outputs, running statistics (training), evaluation mode, a keyword passed on, and
    gradients through a Conv2d: the same as ``nnx.BatchNorm(axis=1)``. The images are not
    square, so a transpose that swapped height and width would not fit."""
    conv = jn.Conv2d(3, 6, 3, padding=1, rngs=nnx.Rngs(0))
    last = nnx.BatchNorm(6, momentum=0.5, rngs=nnx.Rngs(0))
    first = nnx.BatchNorm(6, axis=1, momentum=0.5, rngs=nnx.Rngs(0))
    last.scale[...] = first.scale[...] = jnp.arange(1.0, 7.0, dtype=jnp.float32)  # not ones
    x = _x((4, 3, 7, 5))
    assert_close(jn.channels_last(last)(conv(x)), first(conv(x)), TOL)
    assert float(jnp.max(jnp.abs(last.mean[...]))) > 1e-3  # updated, and alike
    assert_close(last.mean[...], first.mean[...], TOL)
    assert_close(last.var[...], first.var[...], TOL)
    x2 = _x((4, 3, 7, 5), seed=1)
    y = jn.channels_last(last)(conv(x2), use_running_average=True)
    assert_close(y, first(conv(x2), use_running_average=True), TOL)

    def loss(conv, norm, wrap):
        return jnp.sum(jnp.sin(wrap(norm)(conv(x))))

    g_last = nnx.grad(loss, argnums=(0, 1))(conv, last, jn.channels_last)
    g_first = nnx.grad(loss, argnums=(0, 1))(conv, first, lambda f: f)
    assert_close(g_last[0].weight[...], g_first[0].weight[...], 1e-4)
    assert_close(g_last[1].scale[...], g_first[1].scale[...], 1e-4)


def test_any_function_of_an_unbatched_image_and_a_new_channel_count():
    """A function that mixes channels (so a channel axis in the wrong place gives other
    values, or another shape) on an unbatched (C, H, W) image, and under jit and vmap."""
    w = _x((4, 6), seed=2)
    mix = lambda y: jnp.tanh(y @ w)  # noqa: E731  (H, W, 4) -> (H, W, 6)
    x = _x((4, 5, 3))
    expected = jnp.tanh(jnp.einsum("chw,cd->dhw", x, w))
    assert_close(jn.channels_last(mix)(x), expected, TOL)
    assert_close(jax.jit(jn.channels_last(mix))(x), expected, TOL)
    batch = _x((2, 4, 5, 3), seed=3)
    assert_close(jax.vmap(jn.channels_last(mix))(batch), jn.channels_last(mix)(batch), TOL)


def test_linen_batch_norm_in_compact_equals_it_on_axis_1():
    class Net(flax.linen.Module):
        axis: int

        @flax.linen.compact
        def __call__(self, x):
            y = jl.Conv2d(6, 3, padding=1)(x)
            if self.axis == 1:
                return flax.linen.BatchNorm(use_running_average=False, axis=1)(y)
            return jl.channels_last(flax.linen.BatchNorm(use_running_average=False))(y)

    x = _x((3, 2, 6, 4))
    variables = Net(1).init(jax.random.key(0), x)
    out = {}
    for axis in (1, -1):
        out[axis] = Net(axis).apply(variables, x, mutable=["batch_stats"])
    assert_close(out[-1][0], out[1][0], TOL)
    assert_close(out[-1][1]["batch_stats"]["BatchNorm_0"]["mean"],
                 out[1][1]["batch_stats"]["BatchNorm_0"]["mean"], TOL)  # fmt: skip


def _layout_kernels(compiled) -> int:
    """Kernels of an optimised CPU program that transpose or copy: entry-level fusions
    holding a ``transpose`` or ``copy``, and bare ones."""
    text = compiled.as_text()
    bodies = dict(re.findall(r"\n%?([\w.\-]+) \([^\n]*\{\n(.*?)\n\}", text, re.S))
    entry = text[text.index("\nENTRY") :]
    called = re.findall(r" fusion\([^\n]*calls=%?([\w.\-]+)", entry)
    fused = sum(bool(re.search(r" (?:transpose|copy)\(", bodies.get(c, ""))) for c in called)
    return fused + len(re.findall(r" = \S+ (?:transpose|copy)\(", entry))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA's CPU layouts")
def test_channels_first_network_copies_as_little_as_a_channels_last_one():
    """Two channels-first layers with a batch normalisation between them, forward and
    backward: on axis 1, XLA copies the activation into channels-first order and back;
    through ``channels_last`` its transposes cancel with the convolutions', so the program
    transposes no more than the channels-last network's but for its two ends (the input
    into channels-last order, its gradient out of it)."""

    def kernels(data_format, norm):
        rngs = nnx.Rngs(0)
        c1 = jn.Conv2d(16, 32, 3, padding=1, data_format=data_format, rngs=rngs)
        c2 = jn.Conv2d(32, 32, 3, padding=1, data_format=data_format, rngs=rngs)
        x = _x((8, 16, 12, 10) if data_format == "NCHW" else (8, 12, 10, 16))

        def loss(convs, x):
            return jnp.sum(convs[1](jax.nn.relu(norm(convs[0](x)))) ** 2)

        graph, params = nnx.split((c1, c2))
        grad = jax.grad(lambda p, x: loss(nnx.merge(graph, p), x), (0, 1))
        return _layout_kernels(jax.jit(grad).lower(params, x).compile())

    on_axis_1 = kernels("NCHW", _normalised(1))
    through = kernels("NCHW", jn.channels_last(_normalised(-1)))
    channels_last_network = kernels("NHWC", _normalised(-1))
    assert through <= channels_last_network + 2 < on_axis_1, (
        through,
        channels_last_network,
        on_axis_1,
    )


def test_bad_arguments_name_channels_last_and_the_value():
    with pytest.raises(TypeError, match=r"channels_last: `layer` must be callable.*int 3"):
        jn.channels_last(3)
    with pytest.raises(ValueError, match=r"channels_last: `x` must have rank 3 or 4.*\(5, 4\)"):
        jn.channels_last(jnp.tanh)(jnp.ones((5, 4)))
    with pytest.raises(TypeError, match=r"channels_last: `x` must be an array, got str"):
        jn.channels_last(jnp.tanh)("image")
    flat = lambda y: y.reshape(y.shape[0], -1)  # noqa: E731
    with pytest.raises(ValueError, match=r"`layer\(x\)` must have rank 3 or 4.*\(2, 60\)"):
        jn.channels_last(flat)(jnp.ones((2, 3, 4, 5)))
