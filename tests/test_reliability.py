"""Special values, portable artifacts, bounded memory and sharded runs."""

import copy
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import export, lax

import jaxconv
import jaxconv.linen as jaxconv_linen
import jaxconv.nn
from tests.helpers import ON_GPU

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _rand(*shape, seed=0, dtype=jnp.float32):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype)


def test_nan_and_inf_propagate_as_in_lax():
    x = _rand(2, 3, 9, 9).at[0, 0, 0, 0].set(jnp.nan).at[1, 2, 4, 4].set(jnp.inf)
    w = _rand(4, 3, 3, 3, seed=1).at[3, 1, 1, 1].set(-jnp.inf)
    ours = jaxconv.conv2d(x, w, padding=1)
    theirs = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(theirs))
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(theirs))
    assert np.isnan(ours).any() and np.isinf(ours).any()


@pytest.mark.parametrize("impl", jaxconv.impls())
def test_zero_size_batch_returns_empty_result_of_the_right_shape(impl):
    x, w = jnp.ones((0, 3, 7, 7)), jnp.ones((5, 3, 3, 3))
    y = jaxconv.conv2d(x, w, stride=2, impl=impl)
    assert y.shape == lax.conv_general_dilated(x, w, (2, 2), "VALID").shape == (0, 5, 3, 3)
    assert jax.grad(lambda w: jaxconv.conv2d(x, w, impl=impl).sum())(w).shape == w.shape


@pytest.mark.skipif(ON_GPU, reason="bitwise repeatability is promised on CPU only")
def test_repeated_calls_are_bitwise_identical_on_cpu():
    x, w = _rand(2, 8, 16, 16), _rand(8, 8, 3, 3, seed=1)
    f = jax.jit(lambda x, w: jaxconv.conv2d(x, w, padding="same"))
    first = np.asarray(f(x, w))
    for _ in range(3):
        np.testing.assert_array_equal(np.asarray(f(x, w)), first)
    np.testing.assert_array_equal(np.asarray(jaxconv.conv2d(x, w, padding="same")), first)


def test_exported_conv2d_round_trips_with_a_symbolic_batch():
    w = _rand(8, 3, 3, 3)
    f = jax.jit(lambda x, w: jaxconv.conv2d(x, w, padding=1, padding_mode="reflect", groups=1))
    (b,) = export.symbolic_shape("b")
    exp = export.export(f)(jax.ShapeDtypeStruct((b, 3, 9, 9), jnp.float32), w)
    restored = export.deserialize(exp.serialize())
    for n in (1, 5):
        x = _rand(n, 3, 9, 9, seed=n)
        np.testing.assert_array_equal(restored.call(x, w), f(x, w))


def test_exported_module_forward_round_trips():
    layer = jaxconv.nn.Conv2d(3, 6, 3, stride=2, padding="same", groups=3, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(layer)
    params = nnx.to_pure_dict(state)  # plain arrays: what an exported artifact can carry

    @jax.jit
    def forward(params, x):
        local = copy.deepcopy(state)  # a fresh container for this trace's arrays
        nnx.replace_by_pure_dict(local, params)
        return nnx.merge(graphdef, local)(x)

    x = _rand(2, 3, 10, 10)
    restored = export.deserialize(export.export(forward)(params, x).serialize())
    np.testing.assert_array_equal(restored.call(params, x), forward(params, x))
    np.testing.assert_allclose(restored.call(params, x), layer(x), rtol=1e-6, atol=1e-6)


def _temp_bytes(f, *shapes):
    args = [jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes]
    return jax.jit(f).lower(*args).compile().memory_analysis().temp_size_in_bytes


@pytest.mark.parametrize("pass_", ["fwd", "fwd+bwd"])
def test_temporary_memory_stays_within_twice_lax(pass_):
    """The lesson layer at batch 64 (compiled only, nothing is allocated)."""
    shapes = ((64, 100, 68, 68), (100, 100, 5, 5))
    ours = lambda x, w: jaxconv.conv2d(x, w)
    theirs = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "VALID")
    if pass_ == "fwd+bwd":
        ours, theirs = (
            jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), (0, 1)) for f in (ours, theirs)
        )
    mine, base = _temp_bytes(ours, *shapes), _temp_bytes(theirs, *shapes)
    assert mine <= 2 * max(base, 1), (mine, base)


@pytest.mark.skipif(ON_GPU, reason="fakes 8 CPU devices")
def test_sharded_runs_match_unsharded():
    """examples/06_sharding.py: batch, kernels and both sharded; a sharded training step."""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
    }
    done = subprocess.run(
        [sys.executable, "examples/06_sharding.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for case in "abcd":
        assert f"({case}) OK" in done.stdout
    assert "each device's convolution makes [2] of 16 output channels" in done.stdout


def test_repeated_calls_with_the_same_shapes_trace_and_compile_once():
    """jaxconv keeps no per-call state that would make jit retrace: a jitted function, an
    NNX training step and a Linen apply each trace once over calls with new values."""
    from jaxconv._conv2d import planned_fn

    traces = []

    @jax.jit
    def f(x, w):
        traces.append("f")
        return jaxconv.conv2d(x, w, padding=1, groups=2)

    x, w = jnp.ones((2, 4, 8, 8), jnp.float32), jnp.ones((6, 2, 3, 3), jnp.float32)
    for i in range(3):
        f(x + i, w * i)
    assert traces == ["f"] and f._cache_size() == 1

    layer = jaxconv.nn.Conv2d(4, 6, 3, padding=1, rngs=nnx.Rngs(0))

    @nnx.jit
    def step(layer, x):
        traces.append("step")
        grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(layer)
        nnx.update(
            layer, jax.tree.map(lambda p, g: p - 1e-3 * g, nnx.state(layer, nnx.Param), grads)
        )

    for i in range(3):
        step(layer, x + i)
    assert traces.count("step") == 1

    module = jaxconv_linen.Conv2d(6, 3, padding=1)
    params = module.init(jax.random.key(0), x)
    apply = jax.jit(module.apply)
    for i in range(3):
        apply(params, x + i)
    assert apply._cache_size() == 1

    before = planned_fn.cache_info()
    for _ in range(2):  # eager calls reuse the rule-carrying function of the same call
        jaxconv.conv2d(x, w, padding=1, groups=2)
    after = planned_fn.cache_info()
    assert after.misses - before.misses <= 1 and after.hits - before.hits >= 1
