"""jaxconv.nn.Conv2d (NNX) and jaxconv.linen.Conv2d (Linen)."""

import re

import flax.linen
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import given, settings

import jaxconv
from jaxconv import linen as jl
from jaxconv import nn as jn
from jaxconv.testing import strategies as S
from tests.helpers import RTOL, assert_close, import_torch, torch_reference

TOL = RTOL["float64"]
CONFIGS = [
    dict(kernel_size=3),
    dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
    dict(kernel_size=3, padding="same", padding_mode="reflect", groups=2),
    dict(kernel_size=1, bias=False),
    dict(kernel_size=3, padding=((0, 2), (1, 0)), padding_mode="circular"),
    dict(kernel_size=3, padding=2, padding_mode="replicate", stride=2, groups=4),
]


def _nnx(cfg, ci=4, co=8, **kw):
    return jn.Conv2d(ci, co, **cfg, param_dtype=jnp.float64, rngs=nnx.Rngs(0), **kw)


def _x(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_modules_equal_conv2d_and_each_other(cfg):
    layer = _nnx(cfg)
    x = _x((2, 4, 9, 10))
    w = layer.weight[...]
    b = layer.bias[...] if layer.bias is not None else None
    expected = jaxconv.conv2d(
        x, w, b, **{k: v for k, v in cfg.items() if k not in ("kernel_size", "bias")}
    )
    assert_close(layer(x), expected, TOL)
    assert_close(layer(x[0]), expected[0], TOL)  # unbatched
    lin = jl.Conv2d(8, **cfg, param_dtype=jnp.float64)
    params = {"params": {"weight": w, **({"bias": b} if b is not None else {})}}
    assert jax.tree.map(jnp.shape, lin.init(jax.random.key(1), x)) == jax.tree.map(
        jnp.shape, params
    )
    assert_close(lin.apply(params, x), expected, TOL)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_nchw_equals_nhwc_after_transpose(cfg):
    nchw = _nnx(cfg)
    nhwc = _nnx(cfg, data_format="NHWC")
    x = _x((2, 4, 9, 10))
    to_nhwc = lambda a: jnp.moveaxis(a, -3, -1)
    assert_close(nhwc(to_nhwc(x)), to_nhwc(nchw(x)), TOL)
    assert_close(nhwc(to_nhwc(x[1])), to_nhwc(nchw(x[1])), TOL)


@settings(max_examples=15)
@given(S.torch_cases())
def test_modules_equal_torch_forward_and_gradients(c):
    layer, x, y_torch, ct, grads = torch_reference(c)
    ours = jn.Conv2d.from_torch(layer)
    assert ours.weight[...].dtype == jnp.float64
    assert_close(ours(x), y_torch, TOL)
    # jitted, as a training step is (eagerly each operation compiles for its shape)
    gx = jax.jit(jax.grad(lambda x: jnp.vdot(ct, ours(x))))(x)
    gm = nnx.jit(nnx.grad(lambda m: jnp.vdot(ct, m(x))))(ours)
    assert_close(gx, grads["x"], TOL)
    assert_close(gm.weight[...], grads["weight"], TOL)
    if c["bias"]:
        assert_close(gm.bias[...], grads["bias"], TOL)
    lin = jl.Conv2d(**jl.conv2d_kwargs_from_torch(layer))
    params = jl.params_from_torch(layer)
    assert_close(lin.apply(params, x), y_torch, TOL)
    g, gx = jax.jit(jax.grad(lambda p, x: jnp.vdot(ct, lin.apply(p, x)), (0, 1)))(params, x)
    assert_close(gx, grads["x"], TOL)
    assert_close(g["params"]["weight"], grads["weight"], TOL)
    if c["bias"]:
        assert_close(g["params"]["bias"], grads["bias"], TOL)


def test_torch_import_round_trip_is_exact():
    torch = import_torch()
    layer = torch.nn.Conv2d(
        6, 4, (3, 2), stride=2, padding=(1, 0), dilation=(2, 1), groups=2, padding_mode="reflect"
    )
    ours = jn.Conv2d.from_torch(layer)
    np.testing.assert_array_equal(ours.weight[...], layer.weight.detach().numpy())
    np.testing.assert_array_equal(ours.bias[...], layer.bias.detach().numpy())
    assert ours.config.padding_mode == "reflect" and ours.config.groups == 2
    assert ours.config.stride == (2, 2) and ours.config.dilation == (2, 1)
    params = jl.params_from_torch(layer)["params"]
    np.testing.assert_array_equal(params["weight"], layer.weight.detach().numpy())
    # and back: the torch module loaded with our weights computes the same thing
    back = torch.nn.Conv2d(
        6, 4, (3, 2), stride=2, padding=(1, 0), dilation=(2, 1), groups=2, padding_mode="reflect"
    )
    back.load_state_dict(
        {
            "weight": torch.tensor(np.asarray(ours.weight[...])),
            "bias": torch.tensor(np.asarray(ours.bias[...])),
        }
    )
    x = torch.randn(2, 6, 7, 7)
    np.testing.assert_allclose(back(x).detach().numpy(), layer(x).detach().numpy(), rtol=0)


def test_from_torch_refuses_other_objects():
    torch = import_torch()
    with pytest.raises(
        TypeError, match="Conv2d.from_torch: expected a torch.nn.Conv2d, got Linear"
    ):
        jn.Conv2d.from_torch(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="params_from_torch: expected a torch.nn.Conv2d, got dict"):
        jl.params_from_torch({"weight": 1})


def test_torch_modules_in_odd_states():
    """bfloat16 modules import as bfloat16 (exactly); meta-device and uninitialised lazy
    modules, and unreadable tensors, get one named line instead of torch's errors."""
    torch = import_torch()
    module = torch.nn.Conv2d(4, 6, 3).to(torch.bfloat16)
    layer = jn.Conv2d.from_torch(module)
    assert layer.weight.dtype == jnp.bfloat16
    exact = module.weight.detach().to(torch.float32).numpy()
    np.testing.assert_array_equal(np.asarray(layer.weight[...], np.float32), exact)
    params = jl.params_from_torch(module)["params"]
    assert params["weight"].dtype == params["bias"].dtype == jnp.bfloat16
    x = torch.randn(2, 4, 8, 8).to(torch.bfloat16)
    ours = np.asarray(layer(jnp.asarray(x.to(torch.float32).numpy(), jnp.bfloat16)), np.float32)
    assert_close(ours, module(x).detach().to(torch.float32).numpy(), 2e-2)
    for odd, pattern in (
        (torch.nn.Conv2d(4, 6, 3, device="meta"), "`weight` is on the 'meta' device"),
        (torch.nn.LazyConv2d(6, 3), "the LazyConv2d is not initialised yet"),
    ):
        for fn, name in (
            (jn.Conv2d.from_torch, "Conv2d.from_torch"),
            (jl.params_from_torch, "params_from_torch"),
            (jl.conv2d_kwargs_from_torch, "conv2d_kwargs_from_torch"),
        ):
            with pytest.raises(ValueError, match=f"{name}: .*{re.escape(pattern)}"):
                fn(odd)
    graph = torch.nn.Conv2d(4, 6, 3)  # a weight that is a non-leaf tensor needing grad
    weight = graph.weight * 2.0
    del graph.weight
    graph.weight = weight
    np.testing.assert_array_equal(
        np.asarray(jn.Conv2d.from_torch(graph).weight[...]), weight.detach().numpy()
    )


def _ks_statistic(a, b):
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return np.max(
        np.abs(
            np.searchsorted(a, grid, "right") / a.size - np.searchsorted(b, grid, "right") / b.size
        )
    )


@pytest.mark.parametrize("ci,co,k,groups", [(16, 32, 3, 1), (8, 8, 5, 4), (64, 16, 1, 1)])
def test_init_matches_torch_in_distribution(ci, co, k, groups):
    """Weights and biases follow torch's default init: same bounds, same distribution.

    Tolerance: the two-sample Kolmogorov-Smirnov statistic between our draws and torch's
    must stay below the alpha = 1e-4 critical value, 2.15 * sqrt((n + m) / (n m)).
    """
    torch = import_torch()
    draws = 60
    ours = [jn.Conv2d(ci, co, k, groups=groups, rngs=nnx.Rngs(s)) for s in range(draws)]
    torch.manual_seed(0)
    theirs = [torch.nn.Conv2d(ci, co, k, groups=groups) for _ in range(draws)]
    bound = 1 / np.sqrt(ci // groups * k * k)
    for name in ("weight", "bias"):
        a = np.concatenate([np.ravel(getattr(m, name)[...]) for m in ours])
        b = np.concatenate([getattr(m, name).detach().numpy().ravel() for m in theirs])
        assert getattr(ours[0], name).shape == tuple(getattr(theirs[0], name).shape)
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.95 * bound
        critical = 2.15 * np.sqrt((a.size + b.size) / (a.size * b.size))
        assert _ks_statistic(a, b) < critical, name


def _tiny_cnn(rngs, dtype=None):
    class Net(nnx.Module):
        def __init__(self):
            self.c1 = jn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect", dtype=dtype, rngs=rngs)
            self.c2 = jn.Conv2d(4, 8, 3, stride=2, groups=2, dtype=dtype, rngs=rngs)
            self.out = nnx.Linear(8, 3, rngs=rngs)

        def __call__(self, x):
            h = jax.nn.relu(self.c2(jax.nn.relu(self.c1(x))))
            return self.out(h.mean(axis=(-2, -1)).astype(jnp.float32))

    return Net()


def test_one_training_step_reduces_the_loss():
    model = _tiny_cnn(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((16, 1, 8, 8)), jnp.float32)
    y = jnp.arange(16) % 3

    def loss_fn(m):
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    @nnx.jit
    def step(m, o):
        loss, grads = nnx.value_and_grad(loss_fn)(m)
        o.update(m, grads)
        return loss

    before = step(model, opt)
    assert float(loss_fn(model)) < float(before)


def test_jit_grad_vmap_split_merge_state_update():
    model = _tiny_cnn(nnx.Rngs(1))
    x = jnp.ones((5, 1, 8, 8), jnp.float32)
    eager = model(x)
    assert_close(nnx.jit(lambda m, x: m(x))(model, x), eager, 1e-6)
    per_sample = nnx.vmap(lambda m, x: m(x[None])[0], in_axes=(None, 0))(model, x)
    assert_close(per_sample, eager, 1e-6)
    grads = nnx.grad(lambda m: m(x).sum())(model)
    assert grads.c1.weight[...].shape == (4, 1, 3, 3)
    graphdef, state = nnx.split(model)
    assert_close(nnx.merge(graphdef, state)(x), eager, 0.0)
    other = _tiny_cnn(nnx.Rngs(2))
    nnx.update(other, nnx.state(model))
    np.testing.assert_array_equal(other(x), eager)


def test_linen_jit_grad_vmap():
    layer = jl.Conv2d(6, 3, padding=1, groups=2)
    x = jnp.ones((3, 4, 6, 6), jnp.float32)
    params = layer.init(jax.random.key(0), x)
    eager = layer.apply(params, x)
    assert_close(jax.jit(layer.apply)(params, x), eager, 1e-6)
    assert_close(jax.vmap(layer.apply, (None, 0))(params, x), eager, 1e-6)
    g = jax.grad(lambda p: layer.apply(p, x).sum())(params)
    assert g["params"]["weight"].shape == (6, 2, 3, 3)


def test_bf16_compute_with_f32_params():
    layer = jn.Conv2d(3, 4, 3, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    y = layer(jnp.ones((1, 3, 5, 5), jnp.float32))
    assert layer.weight[...].dtype == jnp.float32 and y.dtype == jnp.bfloat16
    lin = jl.Conv2d(4, 3, dtype=jnp.bfloat16)
    params = lin.init(jax.random.key(0), jnp.ones((1, 3, 5, 5), jnp.float32))
    assert params["params"]["weight"].dtype == jnp.float32
    assert lin.apply(params, jnp.ones((1, 3, 5, 5), jnp.float32)).dtype == jnp.bfloat16


BAD_CONSTRUCTORS = [
    (
        dict(in_channels=3, out_channels=4, kernel_size=3, groups=2),
        ValueError,
        "Conv2d: `groups` (=2) must divide `in_channels` (=3)",
    ),
    (
        dict(in_channels=4, out_channels=6, kernel_size=3, groups=4),
        ValueError,
        "Conv2d: `groups` (=4) must divide `out_channels` (=6)",
    ),
    (
        dict(in_channels=0, out_channels=4, kernel_size=3),
        ValueError,
        "Conv2d: `in_channels` (=0) must be >= 1",
    ),
    (
        dict(in_channels=3, out_channels=4, kernel_size=0),
        ValueError,
        "Conv2d: `kernel_size` (=0) must be >= 1",
    ),
    (
        dict(in_channels=3, out_channels=4, kernel_size=3.0),
        TypeError,
        "Conv2d: `kernel_size` must be an int, got float 3.0",
    ),
    (
        dict(in_channels=3, out_channels=4, kernel_size=3, stride=(1, 0)),
        ValueError,
        "Conv2d: `stride[1]` (=0) must be >= 1",
    ),
    (
        dict(in_channels=3, out_channels=4, kernel_size=3, padding="full"),
        ValueError,
        "Conv2d: `padding` (='full') must be",
    ),
    (
        dict(in_channels=3, out_channels=4, kernel_size=3, padding_mode="mirror"),
        ValueError,
        "Conv2d: `padding_mode` (='mirror') must be one of",
    ),
    (
        dict(in_channels=3, out_channels=4, kernel_size=3, data_format="CHWN"),
        ValueError,
        "Conv2d: `data_format` (='CHWN') must be one of ('NCHW', 'NHWC')",
    ),
    (
        dict(in_channels=3, out_channels=4, kernel_size=3, bias="yes"),
        TypeError,
        "Conv2d: `bias` must be a bool, got str",
    ),
]


@pytest.mark.parametrize("kwargs,exc,message", BAD_CONSTRUCTORS)
def test_bad_constructor_arguments(kwargs, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        jn.Conv2d(**kwargs, rngs=nnx.Rngs(0))
    linen_kwargs = {k: v for k, v in kwargs.items() if k != "in_channels"}
    if "in_channels" not in message:
        with pytest.raises(exc, match=re.escape(message)):
            jl.Conv2d(**linen_kwargs).init(jax.random.key(0), jnp.ones((1, 4, 8, 8), jnp.float32))


def test_bad_inputs_name_the_module_and_shapes():
    layer = jn.Conv2d(3, 4, 3, rngs=nnx.Rngs(0))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Conv2d: expected 3 input channels (in_channels) on axis -3 of a NCHW input, got "
            "shape (2, 5, 8, 8)"
        ),
    ):
        layer(jnp.ones((2, 5, 8, 8), jnp.float32))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Conv2d: `x` must have rank 3 or 4 ((N, C, H, W) or unbatched (C, H, W) for "
            "data_format='NCHW'), got shape (8, 8)"
        ),
    ):
        layer(jnp.ones((8, 8), jnp.float32))
    nhwc = jn.Conv2d(3, 4, 3, data_format="NHWC", rngs=nnx.Rngs(0))
    with pytest.raises(
        ValueError, match=re.escape("on axis -1 of a NHWC input, got shape (2, 3, 8, 8)")
    ):
        nhwc(jnp.ones((2, 3, 8, 8), jnp.float32))
    with pytest.raises(
        ValueError,
        match=re.escape("Conv2d: `groups` (=2) must divide the channels of `x` (1, 5, 8, 8) (=5)"),
    ):
        jl.Conv2d(4, 3, groups=2).init(jax.random.key(0), jnp.ones((1, 5, 8, 8), jnp.float32))


def test_flax_linen_interop_inside_a_bigger_model():
    class Net(flax.linen.Module):
        @flax.linen.compact
        def __call__(self, x):
            x = jl.Conv2d(4, 3, padding="same", padding_mode="replicate")(x)
            return flax.linen.Dense(2)(x.mean(axis=(-2, -1)))

    x = jnp.ones((2, 1, 6, 6), jnp.float32)
    params = Net().init(jax.random.key(0), x)
    assert Net().apply(params, x).shape == (2, 2)


def test_layers_cast_integer_images_as_flax_does():
    """uint8 pixels with dtype=float32: cast like nnx.Conv / linen.Conv, same values."""
    x = jnp.asarray((np.arange(2 * 8 * 8 * 3) % 256).astype(np.uint8).reshape(2, 8, 8, 3))
    ref = nnx.Conv(3, 4, (3, 3), dtype=jnp.float32, rngs=nnx.Rngs(0))
    ours = jn.Conv2d(3, 4, 3, padding=1, data_format="NHWC", dtype=jnp.float32, rngs=nnx.Rngs(0))
    ours.weight[...] = jnp.transpose(ref.kernel[...], (3, 2, 0, 1))
    ours.bias[...] = ref.bias[...]
    assert ours(x).dtype == jnp.float32
    assert_close(ours(x), ref(x), RTOL["float32"])
    module = jl.Conv2d(4, 3, padding=1, data_format="NHWC", dtype=jnp.float32)
    variables = module.init(jax.random.key(0), x)
    assert module.apply(variables, x).dtype == jnp.float32


@pytest.mark.parametrize(
    "dtype,partitionable", [(jnp.float32, True), (jnp.float32, False), (jnp.bfloat16, True)]
)
def test_default_init_draws_the_same_values_as_jax_random_uniform(dtype, partitionable):
    """The layers draw their default weights and biases as one flat vector (it compiles
    faster); the values are exactly ``jax.random.uniform``'s for the shape, in either of
    JAX's threefry modes, and the layer's weight is that draw with torch's bound."""
    from jaxconv.layers._config import symmetric_uniform

    with jax.threefry_partitionable(partitionable):
        key = jax.random.key(7)
        for shape in [(4, 3, 3, 3), (), (0, 3)]:  # the layer's weight, a scalar, empty
            got = symmetric_uniform(key, shape, dtype, 0.3)
            want = jax.random.uniform(key, shape, dtype, -0.3, 0.3)
            assert got.shape == shape and got.dtype == want.dtype
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        layer = jn.Conv2d(6, 4, 3, groups=2, param_dtype=dtype, rngs=nnx.Rngs(3))
        rngs = nnx.Rngs(3)  # the layer draws its weight, then its bias
        bound = 1 / np.sqrt(3 * 3 * 3)
        for name, shape in (("weight", (4, 3, 3, 3)), ("bias", (4,))):
            want = jax.random.uniform(rngs.params(), shape, dtype, -bound, bound)
            got = getattr(layer, name)[...]
            assert got.dtype == want.dtype
            # the layer computes torch's bound as gain * sqrt(3 / fan_in): an ulp apart
            np.testing.assert_allclose(
                np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=1e-6
            )
