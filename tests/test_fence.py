"""The fence (``jaxconv/lowering/_fence.py``): the identity, bit for bit, which on a CPU
keeps XLA from fusing an activation's producer into the transposing copy that a weight
gradient reads."""

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxconv
from jaxconv.lowering import _matmul, _registry, _xla, register_lowering, unregister_lowering
from jaxconv.lowering._fence import fence
from jaxconv.lowering._registry import get_lowering
from tests.helpers import ON_GPU, fresh_traces, fusions_with

SPECIAL = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-40, -3.5, 2.0**-149, 65504.0]


def _bits(a):
    a = np.asarray(a)
    return a.view(np.dtype(f"u{a.dtype.itemsize}")) if a.dtype.kind in "fc" else a


FIRSTS = ["nonzero", "zero", "negative zero", "nan"]
CASES = [(d, f) for d in ["float32", "bfloat16", "float16", "complex64"] for f in FIRSTS]


@pytest.mark.parametrize("dtype,first", CASES + [("int32", "nonzero"), ("int32", "zero")])
def test_the_fence_is_the_identity_bit_for_bit(dtype, first):
    """Both of the conditional's branches (the first element picks one: zero takes the
    double negation) return every value's bits, NaN, the sign of zero and infinities
    included; under ``jit``, ``vmap``, and eagerly."""
    head = {"nonzero": 1.5, "zero": 0.0, "negative zero": -0.0, "nan": np.nan}[first]
    values = np.array([head] + SPECIAL * 3, np.float64)[:24].reshape(2, 3, 4)
    if dtype == "int32":
        values = np.nan_to_num(values, posinf=7, neginf=-7).astype(np.int64) % 1000
    x = jnp.asarray(values).astype(dtype)
    if dtype == "complex64":
        x = x + 1j * jnp.flip(x)
    for out in (jax.jit(fence)(x), jax.jit(jax.vmap(fence, 1, 1))(x), fence(x)):
        assert out.dtype == x.dtype and out.shape == x.shape
        np.testing.assert_array_equal(_bits(out), _bits(x))
    # the test on another array, ``key`` (a weight's first element), batched or not
    key = jnp.asarray([head, 1.0, 2.0], jnp.float32)
    keyed = jax.jit(fence)
    outs = (
        keyed(x, key),
        jax.vmap(keyed, (1, None), 1)(x, key),
        jax.vmap(keyed, (None, 0))(x, key),
    )
    for out in outs[:2] + (outs[2][0],):
        assert out.dtype == x.dtype and out.shape == x.shape
        np.testing.assert_array_equal(_bits(out), _bits(x))


def test_the_fence_passes_tangents_and_cotangents_through():
    x = jnp.arange(1.0, 7.0).reshape(2, 3)
    t = jnp.full_like(x, 0.5)
    y, dy = jax.jvp(jax.jit(fence), (x,), (t,))
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(dy, t)
    np.testing.assert_array_equal(jax.grad(lambda v: jnp.sum(fence(v) ** 2))(x), 2 * x)
    key = jnp.zeros(4)  # the tested array has no derivative of its own
    grads = jax.grad(lambda v, k: jnp.sum(fence(v, k) ** 2), (0, 1))(x, key)
    np.testing.assert_array_equal(grads[0], 2 * x)
    np.testing.assert_array_equal(grads[1], jnp.zeros(4))
    (ct,) = jax.linear_transpose(lambda v: fence(v, key), x)(t)
    np.testing.assert_array_equal(ct, t)


def test_the_fence_leaves_empty_arrays_and_symbolic_sizes_alone():
    empty = jnp.zeros((0, 3), jnp.float32)
    assert jax.jit(fence)(empty).shape == (0, 3)
    (n,) = jax.export.symbolic_shape("n")
    exp = jax.export.export(jax.jit(fence))(jax.ShapeDtypeStruct((n, 3), jnp.float32))
    x = jnp.arange(12.0, dtype=jnp.float32).reshape(4, 3)
    np.testing.assert_array_equal(exp.call(x), x)


def _weight_gradient_program(impl: str) -> str:
    """The optimised program of a weight gradient whose layer reads a ReLU's output lying
    channels-last, as every layer of a network does on a CPU: the ReLU is the producer
    that XLA would fuse into the weight gradient's transposing copy."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((8, 16, 16, 32)), jnp.float32)
    b = jnp.asarray(rng.standard_normal((1, 1, 1, 32)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((32, 32, 3, 3)), jnp.float32)

    def loss(w, x, b):
        a = jnp.transpose(jax.nn.relu(x + b), (0, 3, 1, 2))
        return jnp.sum(jaxconv.conv2d(a, w, padding=1, impl=impl) ** 2)

    return jax.jit(jax.grad(loss)).lower(w, x, b).compile().as_text()


@pytest.fixture
def unfenced_xla():
    """``"xla"``'s weight gradient without the fence: the bug the check below must see."""
    register_lowering("test_unfenced", _xla.lax_conv, transposable=True)
    yield "test_unfenced"
    unregister_lowering("test_unfenced")


@pytest.mark.parametrize("impl", ["xla", "eigen", "auto"])
def test_a_weight_gradient_transposes_the_activation_from_a_buffer(impl, unfenced_xla):
    """On a CPU no transposing copy of the weight gradient recomputes the ReLU (the fence
    is in the program, a conditional); without the fence one does, so the check can fail.
    Other backends lower the fence to nothing."""
    text = _weight_gradient_program(impl)
    if ON_GPU:
        assert " conditional(" not in text
        return
    assert " conditional(" in text
    assert fusions_with(text, "transpose", "maximum") == []
    assert fusions_with(_weight_gradient_program(unfenced_xla), "transpose", "maximum") != []


def _readers_of_the_input(size: int) -> tuple[list[tuple[str, str]], int]:
    """``(result type, op)`` of each instruction that reads the input in a layer's
    forward+backward program with ``impl="xla"`` (float32, the input a parameter;
    ``size`` differs between calls, so that no trace is reused), and how many
    conditionals (fences) the program holds."""
    x = jnp.ones((4, 16, size, size), jnp.float32)
    w = jnp.ones((24, 16, 3, 3), jnp.float32)
    loss = lambda x, w: jnp.sum(jaxconv.conv2d(x, w, padding=1, impl="xla") ** 2)
    text = jax.jit(jax.grad(loss, (0, 1))).lower(x, w).compile().as_text()
    entry = text[text.index("ENTRY") :]
    name = re.search(rf"(%\S+) = f32\[4,16,{size},{size}\]\S* parameter\(0\)", entry)[1]
    readers = re.findall(rf"= (\S+) ([a-z-]+)\([^\n]*{re.escape(name)}[,)]", entry)
    return sorted(readers), text.count(" conditional(")


def test_xla_forward_pass_and_weight_gradient_read_one_fence(monkeypatch):
    """With ``"xla"`` for the forward pass and the weight gradient, both read the input
    through one fence (``Lowering.shared_input``): on a CPU only the fence reads the
    input (its conditional, which takes it as a bitcast, and its test, a scalar), so
    the input is transposed once for both. Where the forward pass reads the input
    itself, a transposing copy of the input reads it too, so the check can fail.
    Elsewhere the fence is nothing."""
    shared, fences = _readers_of_the_input(12)
    unshared = dataclasses.replace(get_lowering("xla"), shared_input=None)
    try:
        with monkeypatch.context() as patch:
            patch.setitem(_registry._REGISTRY, "xla", unshared)
            fresh_traces()
            copied, _ = _readers_of_the_input(13)
    finally:
        fresh_traces()
    if ON_GPU:
        assert fences == 0
        return
    assert fences == 1
    assert [op for _, op in shared] == ["bitcast", "fusion"]
    assert shared[1][0] in ("s32[]", "pred[]")
    assert any(op == "fusion" and "[4,13,13,16]" in kind for kind, op in copied)


def test_derivatives_through_the_shared_fence_equal_lax():
    """float32, where the fence is in the program (the suite's other derivative tests run
    in float64, which is not fenced): with the forward pass reading the fenced input
    inside the JVP rule, gradients, second derivatives (the Hessian, and forward mode in
    the input over the weight gradient, whose rule reads the fence) and a vmapped
    gradient equal lax's."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((3, 4, 7, 6)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((5, 4, 3, 3)), jnp.float32)

    def losses(conv):
        loss = lambda x, w: jnp.sum(jnp.sin(conv(x, w)))
        return (
            jax.jit(jax.grad(loss, (0, 1)))(x, w),
            jax.jit(jax.hessian(loss, (0, 1)))(x, w),
            jax.jit(jax.jacfwd(jax.grad(loss, 1), 0))(x, w),
            jax.jit(jax.vmap(jax.grad(loss, 1), (0, None)))(x[:, None], w),
        )

    ours = losses(lambda x, w: jaxconv.conv2d(x, w, padding=1, impl="xla"))
    theirs = losses(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1))))
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _depthwise_products(batch: int) -> int:
    """How many products the kernels of a MobileNet block's training program compute (a
    depthwise 3x3, a bias and ReLU, a pointwise 1x1): the depthwise forward pass takes
    nine, and nine more in each kernel that computes it again. ``batch`` differs between
    calls, so that no trace is reused across a monkeypatch."""
    rng = np.random.default_rng(0)
    x, w, b, w2 = (
        jnp.asarray(rng.standard_normal(s), jnp.float32)
        for s in ((batch, 32, 12, 12), (32, 1, 3, 3), (1, 32, 1, 1), (64, 32, 1, 1))
    )

    def loss(x, w):
        y = jaxconv.conv2d(x, w, groups=32, impl="matmul")
        return jnp.sum(jaxconv.conv2d(jax.nn.relu(y + b), w2) ** 2)

    text = jax.jit(jax.grad(loss, (0, 1))).lower(x, w).compile().as_text()
    return len(re.findall(r" = \S+ multiply\(", text))


def test_depthwise_taps_are_computed_once(monkeypatch):
    """On a CPU the fence keeps XLA from computing the fused taps of the forward pass again
    inside their consumers (the weight gradient's reduction, the input gradient, the next
    layer's input); its conditional tests a weight, so that no kernel computes an output
    element of the taps for the test (XLA fuses the tested array's producer into it);
    elsewhere the fence is nothing."""
    fenced = _depthwise_products(batch=4)
    monkeypatch.setattr(_matmul, "fence", lambda y, key=None: y)
    unfenced = _depthwise_products(batch=5)
    if ON_GPU:
        assert fenced == unfenced
    else:  # twice nine products fewer (testing an output element cost nine more)
        assert fenced + 18 <= unfenced


def test_the_benchmark_switches_the_fence_off_and_back_on():
    """``benchmarks/fence_ab.py`` compares steps with and without the fence: its switch
    must take the conditional out of a CPU program and put it back."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "fence_ab.py"
    spec = importlib.util.spec_from_file_location("fence_ab", path)
    fence_ab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fence_ab)

    def program(size):
        x = jnp.ones((size, 3), jnp.float32)
        return jax.jit(lambda v: fence(v + 1)).lower(x).compile().as_text()

    try:
        fence_ab._set_fence(False)
        assert " conditional(" not in program(5)
    finally:
        fence_ab._set_fence(True)
    assert (" conditional(" in program(6)) == (not ON_GPU)


@pytest.mark.parametrize("impl,groups", [("xla", 1), ("matmul", 8)])
def test_only_float32_is_fenced(impl, groups):
    """In bfloat16 the fence did not pay (``_fence.pays``): no conditional in the program;
    in float32 one, on a CPU."""
    rng = np.random.default_rng(0)

    def program(dtype):
        x = jnp.asarray(rng.standard_normal((2, 8, 6, 6)), dtype)
        w = jnp.asarray(rng.standard_normal((8, 8 // groups, 3, 3)), dtype)
        loss = lambda x, w: jnp.sum(
            jaxconv.conv2d(x, w, padding=1, groups=groups, impl=impl).astype(jnp.float32) ** 2
        )
        return jax.jit(jax.grad(loss, (0, 1))).lower(x, w).compile().as_text()

    assert " conditional(" not in program(jnp.bfloat16)
    assert (" conditional(" in program(jnp.float32)) == (not ON_GPU)


@pytest.mark.parametrize("kernel,fenced", [(5, False), (7, True)])
def test_half_precision_depthwise_taps_beyond_five_by_five_are_fenced(kernel, fenced):
    """Beyond 5x5 half-precision depthwise taps stay unrolled, and their forward pass goes
    through a fence (``_matmul.matmul_forward``); up to 5x5 it does not, as in float32's
    loop over rows."""
    x = jnp.ones((2, 8, 10, 10), jnp.bfloat16)
    w = jnp.ones((8, 1, kernel, kernel), jnp.bfloat16)
    conv = lambda x, w: jaxconv.conv2d(x, w, padding=kernel // 2, groups=8, impl="matmul")
    program = jax.jit(conv).lower(x, w).compile().as_text()
    assert (" conditional(" in program) == (fenced and not ON_GPU)
