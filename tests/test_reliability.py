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
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import export, lax

import jaxconv
import jaxconv.linen as jaxconv_linen
import jaxconv.nn
from jaxconv._checks import same_padding
from jaxconv.testing import strategies as S
from tests.helpers import ON_GPU, conv_kwargs

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _rand(*shape, seed=0, dtype=jnp.float32):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype)


def _ieee_conv(x, w, case, pad_value=0.0):
    """The rule written out in NumPy, elementwise (no BLAS): every output sums weight x
    window over the taps and its group's channels, padding included."""
    pads = {"valid": ((0, 0), (0, 0)), "same": None}.get(case.padding, case.padding)
    if pads is None:
        pads = same_padding(x.shape[-2:], case.kernel, case.stride, case.dilation)
    xp = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=pad_value)
    n, _, hp, wp = xp.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw), g = case.stride, case.dilation, case.groups
    mh, mw = (hp - (kh - 1) * dh - 1) // sh + 1, (wp - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n, g, o // g, mh, mw), x.dtype)
    for i in range(kh):
        for j in range(kw):
            win = xp[:, :, i * dh :: sh, j * dw :: sw][:, :, :mh, :mw]
            win = win.reshape(n, g, 1, cg, mh, mw)
            tap = w[:, :, i, j].reshape(1, g, o // g, cg, 1, 1)
            with np.errstate(invalid="ignore"):  # Inf - Inf and 0 x Inf: NaN, on purpose
                y = y + (win * tap).sum(axis=3)
    return y.reshape(n, o, mh, mw)


@settings(max_examples=12)
@given(
    case=S.cases(batch=True, unbatched=False, max_channels=2),
    dtype=st.sampled_from([np.float32, np.float64]),
    spots=st.lists(
        st.tuples(st.booleans(), st.integers(0, 10**6), st.sampled_from([np.nan, np.inf, -np.inf])),
        min_size=1,
        max_size=4,
    ),
)
def test_non_finite_values_follow_one_rule_in_every_impl(case, dtype, spots):
    """NaN and Inf reach the same outputs in every impl, as the rule says: exactly the
    outputs whose window reads them, in their group (lax's float64 CPU loop spreads them
    to every group). Left out: outputs where a non-finite weight lands on zero padding,
    which lax itself makes NaN or not by dtype and kernel size (README)."""
    x, w = (np.array(a, dtype) for a in case.arrays())
    for on_weight, where, value in spots:
        a = w if on_weight else x
        a.flat[where % a.size] = value
    want = _ieee_conv(x, w, case)
    bad_w = (~np.isfinite(w)).astype(dtype)
    unsure = _ieee_conv(np.zeros_like(x), bad_w, case, pad_value=1.0) > 0
    for impl in jaxconv.impls():
        y = np.asarray(jaxconv.conv2d(x, w, **conv_kwargs(case), impl=impl))
        for label, test in (("NaN", np.isnan), ("+Inf", np.isposinf), ("-Inf", np.isneginf)):
            np.testing.assert_array_equal(
                test(y)[~unsure], test(want)[~unsure], err_msg=f"{impl}: {label}"
            )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("impl", jaxconv.impls())
def test_a_nan_stays_in_its_depthwise_group(impl, dtype):
    """XLA's 64-bit CPU loop lets depthwise groups read one another, and lax's batching
    rule folds jaxconv's vmap over groups into such a convolution: a NaN in one channel
    reached every output (found by the property test above)."""
    x = np.ones((2, 4, 3, 3), dtype)
    x[0, 1, 0, 0] = np.nan
    y = jaxconv.conv2d(x, np.ones((8, 1, 1, 1), dtype), groups=4, impl=impl)
    want = np.zeros((2, 8), bool)
    want[0, 2:4] = True  # the two outputs of channel 1's group, of the first image
    np.testing.assert_array_equal(np.isnan(np.asarray(y)).any(axis=(2, 3)), want)


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


# Calls whose input gradient, as lax's transpose derives it, jaxlib 0.10's XLA aborts on
# (``jaxconv.lowering._xla.swap_breaks_input_grad``): input (H, W), kernel, stride,
# padding, dilation. Each has an axis of kernel 2, stride 2, low padding 1 that tiles its
# input, and a kernel that outweighs the output gradient along the other.
SWAP_BREAKS = [
    ((6, 4), (2, 3), (2, 1), ((1, 1), (0, 0)), (1, 1)),
    ((6, 3), (2, 3), (2, 1), ((1, 1), (1, 1)), (1, 2)),
    ((1, 6), (2, 2), (1, 2), ((0, 1), (1, 1)), (1, 1)),
]
# Near misses, whose gradients XLA compiles.
SWAP_SAFE = [
    ((6, 3), (2, 3), (2, 1), ((1, 1), (0, 0)), (1, 1)),  # one output column, kernel 3
    ((6, 5), (2, 3), (2, 1), ((1, 1), (0, 0)), (1, 1)),  # three output columns
    ((5, 4), (2, 3), (2, 1), ((1, 1), (0, 0)), (1, 1)),  # the windows do not tile 5 rows
    ((6, 4), (2, 3), (2, 1), ((1, 0), (0, 0)), (1, 1)),  # nor with 1 pixel of padding
    ((6, 4), (2, 3), (2, 1), ((0, 0), (0, 0)), (1, 1)),  # unpadded
]


def _swap_params(call):
    _, _, stride, padding, dilation = call
    return jaxconv._checks.ConvParams(stride, padding, dilation)


def _lax_input_grad(call):
    in_size, kernel, stride, padding, dilation = call
    x, w = jnp.ones((1, 1, *in_size)), jnp.ones((1, 1, *kernel))
    f = lambda x: lax.conv_general_dilated(x, w, stride, padding, rhs_dilation=dilation)
    ct = jnp.ones(jax.eval_shape(f, x).shape)
    return jax.jit(lambda x, ct: jax.vjp(f, x)[1](ct)[0])(x, ct)


def test_the_swap_prediction_separates_the_aborts_from_their_near_misses():
    """The prediction holds XLA's aborting calls and none of their near misses, nor
    realistic layers; XLA compiles the near misses' gradients (a missed abort would take
    this process down). benchmarks/xla_swap_crash.py checks it on 480 drawn calls."""
    from jaxconv.lowering._xla import swap_breaks_input_grad

    def predicted(call):
        return swap_breaks_input_grad(call[0], call[1], _swap_params(call))

    assert all(predicted(call) for call in SWAP_BREAKS)
    assert not any(predicted(call) for call in SWAP_SAFE)
    layers = [  # ResNet's 3x3 and shortcuts, ConvNeXt's 2x2 downsampling, a 7x7 stem
        ((32, 32), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
        ((32, 32), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)),
        ((16, 16), (1, 1), (2, 2), ((0, 0), (0, 0)), (1, 1)),
        ((16, 16), (2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1)),
        ((224, 224), (7, 7), (2, 2), ((3, 3), (3, 3)), (1, 1)),
    ]
    assert not any(predicted(call) for call in layers)
    for call in SWAP_SAFE:
        assert _lax_input_grad(call).shape == (1, 1, *call[0])


@pytest.mark.parametrize("call", SWAP_BREAKS)
@pytest.mark.parametrize("impl", ["xla", "eigen", "auto"])
def test_gradients_that_xla_would_abort_on_compile_and_agree(call, impl):
    """Where lax's own transpose would abort the process, the lowerings on lax's
    convolution pad first; their gradients equal im2col's."""
    in_size, kernel, stride, padding, dilation = call
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 3, *in_size)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((4, 3, *kernel)), jnp.float32)

    def grads(impl):
        def loss(x, w):
            y = jaxconv.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, impl=impl)
            return jnp.sum(jnp.sin(y))

        return jax.jit(jax.grad(loss, (0, 1)))(x, w)

    for ours, theirs in zip(grads(impl), grads("gemm")):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_the_property_suites_oracle_differentiates_where_lax_transposes_abort():
    """``check_conv``'s oracle applies the padding first: its derivatives compile on a
    call whose lax transpose aborts, and equal the padded call's."""
    in_size, kernel, stride, padding, dilation = SWAP_BREAKS[0]
    case = S.ConvCase(
        convention="lax",
        n=2,
        groups=1,
        ci=3,
        co=4,
        in_size=in_size,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
        seed=3,
    )
    x, w, _ = case.arrays(np.float32)
    out, vjp = jax.vjp(jax.jit(case.oracle), x, w)
    ct = jnp.asarray(np.random.default_rng(4).standard_normal(out.shape), jnp.float32)
    dx, dw = jax.jit(vjp)(ct)
    loss = lambda x, w: jnp.vdot(
        jaxconv.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, impl="gemm"), ct
    )
    ref_dx, ref_dw = jax.grad(loss, (0, 1))(x, w)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-5, atol=1e-5)
