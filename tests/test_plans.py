"""The lowerings behind ``impl=``: each equals lax, mixes per pass, and stays in memory."""

import functools
import re
import unittest.mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax
from jax.test_util import check_grads

import jaxconv
from jaxconv._checks import ConvParams, conv_params
from jaxconv._conv2d import planned_fn
from jaxconv.cli import bench
from jaxconv.cli.bench._timing import equations
from jaxconv.lowering import Plan, _cpu, _dots, _eigen, _gemm, _plan, lowerings
from jaxconv.lowering._fold import lower
from jaxconv.lowering._gemm import blocks, gemm_conv, per_image
from jaxconv.testing import strategies as S
from tests.helpers import (
    RTOL,
    assert_close,
    conv_kwargs,
    fresh_traces,
    hlo_ops,
    lax_conv2d,
    lowered_ops,
    on_each_vendor,
)

LOWERING_NAMES = list(lowerings())  # every registered lowering is covered
GRADIENT_NAMES = [n for n, rec in lowerings().items() if rec.transposable]
HIGHEST = lax.Precision.HIGHEST


@settings(max_examples=15)
@given(S.cases(), st.sampled_from(LOWERING_NAMES), st.sampled_from(["float64", "complex128"]))
def test_every_lowering_equals_lax(case, impl, dtype):
    x, w = case.arrays(np.dtype(dtype))
    y = jaxconv.conv2d(x, w, **conv_kwargs(case), impl=impl)
    assert y.dtype == x.dtype and y.shape == lax_conv2d(x, w, case).shape
    assert_close(y, lax_conv2d(x, w, case), RTOL[dtype])


# every lowering serves the forward pass, and every transposable one each gradient pass,
# at least once, next to two others (drawn plans left the matmul gradients out: a weight
# gradient 0.1% off passed)
ROTATED_PLANS = [
    Plan(
        LOWERING_NAMES[i % len(LOWERING_NAMES)],
        GRADIENT_NAMES[(i + 1) % len(GRADIENT_NAMES)],
        GRADIENT_NAMES[(i + 2) % len(GRADIENT_NAMES)],
    )
    for i in range(max(len(LOWERING_NAMES), len(GRADIENT_NAMES)))
]


@pytest.mark.parametrize("plan", ROTATED_PLANS, ids=lambda p: "-".join(p))
@settings(max_examples=3)
@given(S.cases(max_channels=3, max_kernel=3))
def test_mixed_plans_equal_lax_in_value_gradients_and_jvp(plan, case):
    """Any lowering can serve any pass: the plan's three choices are independent."""
    x, w = case.arrays()
    if x.ndim == 3:
        x = x[None]
    params = conv_params(
        "test",
        case.in_size,
        case.kernel,
        stride=case.stride,
        padding=case.padding,
        dilation=case.dilation,
        precision=HIGHEST,
    )
    f = planned_fn(params, case.groups, plan)
    ref = lambda x, w: lax_conv2d(x, w, case)
    shape = jax.eval_shape(ref, x, w).shape
    ct = jnp.asarray(np.random.default_rng(case.seed).standard_normal(shape))

    @functools.partial(jax.jit, static_argnums=0)  # one program per function, not per op
    def value_grads_jvp(conv, x, w):
        grads = jax.grad(lambda x, w: jnp.vdot(ct, conv(x, w)), (0, 1))(x, w)
        return conv(x, w), *grads, jax.jvp(conv, (x, w), (-x, 2 * w))[1]

    for a, b in zip(value_grads_jvp(f, x, w), value_grads_jvp(ref, x, w)):
        assert_close(a, b, RTOL["float64"])


# "eigen" shapes float32 calls only: in float64 it is "xla"'s program (its derivatives of
# two orders, where it shapes, are tested in tests/test_eigen.py)
@pytest.mark.parametrize("impl", [n for n in LOWERING_NAMES if n != "eigen"])
def test_every_lowering_passes_check_grads_order_2_with_stride_dilation_groups(impl):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 4, 7, 8)))
    w = jnp.asarray(rng.standard_normal((6, 2, 3, 2)))
    conv = functools.partial(
        jaxconv.conv2d,
        stride=(2, 1),
        padding=((1, 0), (2, 1)),
        dilation=(1, 2),
        groups=2,
        impl=impl,
    )
    check_grads(conv, (x, w), order=2, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)
    per_pass = planned_fn(
        ConvParams((1, 1), ((1, 1), (1, 1)), (1, 1)),
        2,
        Plan(impl, "gemm" if impl != "gemm" else "xla", "matmul"),
    )
    check_grads(per_pass, (x, w), order=2, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("impl, groups", [("matmul", 4), ("matmul", 1), ("gemm", 1)])
def test_lowerings_trace_no_pad_or_slice_that_does_nothing(impl, groups):
    """A pad of nothing or a slice of everything is still an operation to trace,
    differentiate and lower (``_taps.pad_zeros``, ``slice_of``)."""
    x, w = jnp.ones((2, 4, 6, 6)), jnp.ones((4, 4 // groups, 3, 3))
    conv = lambda x, w: jaxconv.conv2d(x, w, groups=groups, impl=impl)  # no padding
    for eqn in equations(jax.make_jaxpr(conv)(x, w)):
        name = eqn.primitive.name
        if name == "pad":
            assert any(v != 0 for c in eqn.params["padding_config"] for v in c), eqn
        if name == "slice":
            shape = eqn.invars[0].aval.shape
            strides = eqn.params["strides"] or (1,) * len(shape)
            whole = tuple(eqn.params["limit_indices"]) == shape and set(strides) == {1}
            assert not (whole and not any(eqn.params["start_indices"])), eqn


def test_depthwise_matmul_lowering_is_elementwise_and_exact():
    """One input channel per group: the 1x1 convolutions are products, no dot at all."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2, 6, 9, 9)))
    w = jnp.asarray(rng.standard_normal((12, 1, 3, 3)))  # channel multiplier 2
    y = jaxconv.conv2d(x, w, padding=1, groups=6, impl="matmul")
    assert_close(
        y,
        lax.conv_general_dilated(
            x, w, (1, 1), ((1, 1), (1, 1)), feature_group_count=6, precision=HIGHEST
        ),
        RTOL["float64"],
    )
    hlo = (
        jax.jit(lambda x, w: jaxconv.conv2d(x, w, padding=1, groups=6, impl="matmul"))
        .lower(x, w)
        .as_text()
    )
    assert "convolution" not in hlo and "dot_general" not in hlo


def _depthwise_input_grad_case(stride, padding, dilation, kernel, shape=(2, 3, 11, 10)):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal(shape))
    w = jnp.asarray(rng.standard_normal((2 * shape[1], 1, kernel, kernel)))  # multiplier 2
    params = ConvParams((stride,) * 2, (padding, padding), (dilation,) * 2, HIGHEST)
    return x, w, params, planned_fn(params, shape[1], Plan("matmul", "matmul", "xla"))


@pytest.mark.parametrize(
    "stride, padding, dilation, kernel",
    [(1, (1, 1), 1, 3), (2, (1, 1), 1, 3), (3, (0, 2), 2, 3), (2, (4, 0), 1, 4), (1, (0, 0), 3, 2)],
)
def test_depthwise_matmul_input_gradient_is_a_fused_forward_pass(stride, padding, dilation, kernel):
    """The depthwise input gradient (spread, padded, flipped: `matmul_input_grad`) equals
    lax's at every stride, padding (a crop when it exceeds the kernel), dilation and
    channel multiplier; and it has no loop."""
    x, w, params, conv = _depthwise_input_grad_case(stride, padding, dilation, kernel)
    y, vjp = jax.vjp(conv, x, w)
    ct = jnp.asarray(np.random.default_rng(3).standard_normal(y.shape))
    oracle = functools.partial(
        lax.conv_general_dilated,
        window_strides=params.stride,
        padding=params.padding,
        rhs_dilation=params.dilation,
        feature_group_count=x.shape[1],
        precision=HIGHEST,
    )
    _, lax_vjp = jax.vjp(lambda x: oracle(x, w), x)
    assert_close(vjp(ct)[0], lax_vjp(ct)[0], RTOL["float64"])
    input_grad = jax.jit(jax.grad(lambda x: jnp.vdot(conv(x, w), ct))).lower(x).as_text()
    assert "while" not in input_grad and "convolution" not in input_grad


def test_depthwise_matmul_input_gradient_to_second_order():
    """Forward mode and second order through the input gradient written as a transpose
    (stride 2, a crop, an even kernel, a channel multiplier)."""
    x, w, _, conv = _depthwise_input_grad_case(2, (4, 0), 1, 4, shape=(1, 2, 9, 8))
    check_grads(conv, (x, w), order=2, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)


def test_one_by_one_matmul_lowering_is_one_dot():
    x, w = jnp.ones((2, 8, 5, 5)), jnp.ones((4, 8, 1, 1))
    hlo = jax.jit(lambda x, w: jaxconv.conv2d(x, w, impl="matmul")).lower(x, w).as_text()
    assert hlo.count("dot_general") == 1 and "convolution" not in hlo


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize(
    "x_shape,stride,per_image",
    [((3, 4, 12, 12), 1, True), ((3, 4, 12, 12), 2, True), ((3, 8, 3, 3), 1, False)],
)
def test_gemm_one_by_one_is_one_dot_on_the_input_as_it_lies(x_shape, stride, groups, per_image):
    """A 1x1 layer is one dot_general on the (subsampled) input, channels first: per
    image while the weights are small against an image (weights broadcast, the output
    as it comes), else one shared by the batch (its output transposed); equal to lax
    with both gradients."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal(x_shape))
    w = jnp.asarray(rng.standard_normal((4, x_shape[1] // groups, 1, 1)))
    conv = lambda x, w: jaxconv.conv2d(x, w, stride=stride, groups=groups, impl="gemm")
    ref = lambda x, w: lax.conv_general_dilated(
        x, w, (stride,) * 2, "VALID", feature_group_count=groups
    )
    grads = lambda f: jax.grad(lambda x, w: 0.5 * jnp.sum(f(x, w) ** 2), (0, 1))
    ops = lowered_ops(conv, x, w)
    assert ops.count("dot_general") == 1 and ("transpose" in ops) != per_image
    for ours, theirs in ((conv, ref), (grads(conv), grads(ref))):
        for a, b in zip(jax.tree.leaves(ours(x, w)), jax.tree.leaves(theirs(x, w))):
            assert_close(a, b, RTOL["float64"])


@pytest.mark.parametrize("groups", [1, 2])
def test_gemm_per_image_input_gradient_is_written_channels_first(groups):
    """The input gradient of a 1x1 layer multiplied image by image is one dot that writes
    ``(N*G, C, P)`` as it lies: JAX transposes the forward dot into one giving
    ``(P, C)`` per image and a transpose, which XLA folds into the dot only where the
    batch is one axis. With two (``N`` and ``G``) it kept them, and that dot, reading the
    output gradient across its rows, ran 2-10x slower on rows of 1024 and 4096 pixels
    (``_gemm.one_by_one``). Equal to lax; the compiled form is checked on a CPU."""
    rng = np.random.default_rng(4)
    n, c, o = 4, 3 * groups, 16 * groups
    x = jnp.asarray(rng.standard_normal((n, c, 32, 32)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((o, c // groups, 1, 1)), jnp.float32)
    assert per_image(c // groups, o // groups, 32 * 32)
    loss = lambda f: lambda x: 0.5 * jnp.sum(f(x) ** 2)
    ours = jax.jit(jax.grad(loss(lambda x: jaxconv.conv2d(x, w, groups=groups, impl="gemm"))))
    ref = jax.grad(
        loss(lambda x: lax.conv_general_dilated(x, w, (1, 1), "VALID", feature_group_count=groups))
    )
    assert_close(ours(x), ref(x), RTOL["float32"])
    if jax.default_backend() == "cpu":
        text = ours.lower(x).compile().as_text()
        dots = re.findall(r"= f32\[([\d,]+)\]\{[\d,]+\} dot\(", text)
        assert f"{n * groups},{c // groups},1024" in dots, dots


@pytest.mark.parametrize("stride", [1, 2])
def test_gemm_shared_one_by_one_contracts_the_channels_where_they_lie(stride):
    """An ungrouped 1x1 layer whose matmul is shared by the batch contracts the (subsampled)
    input's channel axis in place, ``(N, C, mh, mw)``, with no reshape before the dot: XLA
    then cancels a channels-last layer's transposes around it, which a reshape to
    ``(N, G, C, mh*mw)`` had kept as copies (``_gemm.shared_one_by_one``). Equal to lax
    in value and both gradients, channels-last."""
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.standard_normal((4, 9, 9, 16)))  # NHWC
    w = jnp.asarray(rng.standard_normal((24, 16, 1, 1)))
    mh = (9 - 1) // stride + 1
    assert not per_image(16, 24, mh * mh)
    conv = lambda x, w: jaxconv.conv2d(x, w, stride=stride, impl="gemm")
    nhwc = lambda f: lambda x, w: jnp.transpose(f(jnp.transpose(x, (0, 3, 1, 2)), w), (0, 2, 3, 1))
    ref = lambda x, w: lax.conv_general_dilated(x, w, (stride,) * 2, "VALID")
    dots = [
        e
        for e in equations(jax.make_jaxpr(conv)(jnp.transpose(x, (0, 3, 1, 2)), w))
        if e.primitive.name == "dot_general"
    ]
    assert [e.invars[0].aval.shape for e in dots] == [(4, 16, mh, mh)]
    grads = lambda f: jax.grad(lambda x, w: 0.5 * jnp.sum(f(x, w) ** 2), (0, 1))
    for ours, theirs in ((nhwc(conv), nhwc(ref)), (grads(nhwc(conv)), grads(nhwc(ref)))):
        for a, b in zip(jax.tree.leaves(ours(x, w)), jax.tree.leaves(theirs(x, w))):
            assert_close(a, b, RTOL["float64"])


@pytest.mark.parametrize(
    "x_shape,w_shape,stride,padding,dilation,groups,tiled",
    [
        ((2, 3, 32, 32), (8, 3, 4, 4), 4, 0, 1, 1, True),  # a patch embedding
        ((2, 3, 17, 18), (8, 3, 4, 4), 4, 0, 1, 1, True),  # the last rows cropped
        ((3, 6, 8, 8), (4, 6, 2, 2), 2, 1, 1, 1, True),  # padded
        ((2, 4, 9, 10), (6, 2, 3, 3), 3, ((1, 2), (0, 1)), 1, 2, True),  # grouped
        ((1, 5, 3, 12), (3, 5, 1, 4), (1, 4), 0, (2, 1), 1, True),  # 1x4: a kernel of 1 dilated
        ((3, 6, 7, 7), (4, 6, 7, 7), 2, 0, 1, 1, True),  # one window: the stride is moot
        ((2, 4, 3, 3), (5, 4, 5, 5), 3, 1, 1, 1, True),  # one window, padded
        ((2, 4, 5, 6), (6, 2, 4, 5), 3, 0, 1, 2, True),  # one window a group
        ((2, 4, 5, 7), (4, 4, 1, 7), 1, 0, 1, 1, False),  # one window along one axis only
        ((4, 4, 5, 5), (4, 4, 3, 3), 1, 0, 2, 1, False),  # one dilated window: gaps
        ((2, 4, 12, 12), (4, 4, 2, 2), 2, 0, (2, 1), 1, False),  # dilated: windows with gaps
        ((2, 4, 12, 12), (4, 4, 3, 3), 2, 0, 1, 1, False),  # overlapping windows
        ((2, 4, 12, 12), (4, 4, 2, 2), 3, 0, 1, 1, False),  # gaps between windows
    ],
)
def test_gemm_patches_that_tile_the_input_are_a_reshape_of_it(
    x_shape, w_shape, stride, padding, dilation, groups, tiled
):
    """Where the kernel is as large as its stride and undilated, or the output is one
    pixel of an undilated kernel, the windows tile the input: gemm's patch matrix is the
    input reshaped, and every pass is a dot_general
    with no loop, gather or stacked window (the input gradient no pad per tap); equal to
    lax with both gradients. Other windows build patches in blocks."""
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.standard_normal(x_shape))
    w = jnp.asarray(rng.standard_normal(w_shape))
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    conv = functools.partial(jaxconv.conv2d, impl="gemm", **kw)
    ref = functools.partial(jaxconv.conv2d, impl="xla", **kw)
    loss = lambda f: lambda x, w: 0.5 * jnp.sum(f(x, w) ** 2)
    passes = [conv, jax.grad(loss(conv), 0), jax.grad(loss(conv), 1)]
    for f, dots in zip(passes, (1, 2, 2)):  # a gradient's program holds the forward pass
        ops = lowered_ops(f, x, w)
        assert (ops.count("dot_general"), "while" in ops) == (dots, not tiled)
        if tiled:
            assert not {"gather", "concatenate", "dynamic_update_slice"} & set(ops)
            assert ops.count("pad") <= dots  # one to pad or crop, and its transpose
    for ours, theirs in ((conv, ref), (jax.grad(loss(conv), (0, 1)), jax.grad(loss(ref), (0, 1)))):
        for a, b in zip(jax.tree.leaves(ours(x, w)), jax.tree.leaves(theirs(x, w))):
            assert_close(a, b, RTOL["float64"])


def test_gemm_patches_are_looped_except_where_transposed_with_respect_to_the_input():
    """The forward pass and the weight gradient write the im2col patches in a loop over taps
    (one kernel for XLA to compile, not one per tap); the input gradient, which JAX
    transposes with respect to the input, stacks the windows (``_gemm.py``)."""
    x, w = jnp.ones((2, 8, 6, 6)), jnp.ones((4, 8, 3, 3))
    conv = functools.partial(jaxconv.conv2d, padding=1, impl="gemm")
    loss = lambda x, w: jnp.sum(conv(x, w) ** 2)
    programs = {
        "forward": jax.jit(conv).lower(x, w).as_text(),
        "weight_grad": jax.jit(jax.grad(loss, 1)).lower(x, w).as_text(),
        "input_grad": jax.jit(jax.grad(loss, 0)).lower(x, w).as_text(),
    }
    for pass_ in ("forward", "weight_grad"):
        assert "dynamic_update_slice" in programs[pass_], pass_
        assert "concatenate" not in programs[pass_], pass_
    # transposed, each stacked window is a zero padding of its cotangent back to the input
    assert programs["input_grad"].count("stablehlo.pad") >= 9


@given(st.integers(0, 12), st.integers(0, 80), st.integers(1, 10**6), st.integers(1, 10**8))
def test_gemm_blocks_are_the_largest_that_fit(n, mh, row_bytes, budget):
    b, rows = blocks(n, mh, row_bytes, budget)
    if n == 0 or mh == 0:
        return
    assert n % b == 0 and 1 <= rows <= mh
    fits = lambda b, r: b * r * row_bytes <= budget
    assert fits(b, rows) or (b, rows) == (1, 1)
    if rows < mh:  # part of an image only when one whole image does not fit ...
        assert b == 1 and not fits(1, mh)
        count = -(-mh // rows)  # ... in as few blocks as fit, of equal rows, which run
        assert not any(fits(1, -(-mh // c)) for c in range(1, count))
        assert count * rows - mh < count  # past the image by fewer rows than blocks
    else:
        assert not any(n % d == 0 and fits(d, mh) for d in range(b + 1, n + 1))


@settings(max_examples=30)
@given(S.cases(unbatched=False, max_channels=4), st.integers(1, 4))
def test_gemm_blocks_of_any_rows_equal_lax_with_gradients(case, rows):
    """With a budget of ``rows`` output rows a block (so an image is split, and the last
    block runs past it wherever ``rows`` does not divide its height), values and both
    gradients equal lax's."""
    x, w = case.arrays()
    small = lambda n, mh, row_bytes, budget: blocks(n, mh, row_bytes, rows * row_bytes)
    conv = functools.partial(jaxconv.conv2d, impl="gemm", **conv_kwargs(case))
    ref = lambda x, w: lax_conv2d(x, w, case)

    def values_and_grads(f):
        loss = lambda x, w: jnp.sum(jnp.sin(f(x, w)))
        return jax.jit(lambda x, w: (f(x, w), *jax.grad(loss, (0, 1))(x, w)))(x, w)

    with unittest.mock.patch.object(_gemm, "blocks", small):
        fresh_traces()  # these blocks traced, no earlier trace of the shapes reused
        ours = values_and_grads(conv)
    fresh_traces()  # and none of these traces left to later tests
    theirs = values_and_grads(ref)
    for a, b in zip(ours, theirs):
        assert_close(a, b, RTOL["float64"])


@pytest.mark.parametrize(
    "x_shape,w_shape,n_blocks",
    [
        ((32, 512, 4, 4), (512, 512, 3, 3), 2),  # weights 9.4 MB, patches 0.6 MB an image
        ((32, 256, 8, 8), (256, 256, 3, 3), 16),  # 2.4 MB, 1.2 MB an image
        ((8, 64, 56, 56), (64, 64, 3, 3), 24),  # activations outweigh the weights: rows
    ],
)
def test_gemm_blocks_may_hold_as_many_patches_as_the_weights(x_shape, w_shape, n_blocks):
    """Each block multiplies all the weights: a wide layer on small images, whose weights
    outweigh its activations, builds patches up to the weights' size, not one image's
    (one image a block ran 4.9-5.3x XLA's forward time at 512 channels, 4x4)."""
    x, w = jnp.zeros(x_shape, jnp.float32), jnp.zeros(w_shape, jnp.float32)
    params = ConvParams((1, 1), ((1, 1), (1, 1)), (1, 1), None)
    jaxpr = jax.make_jaxpr(lambda x, w: gemm_conv(x, w, params))(x, w)
    loops = [e.params["length"] for e in jaxpr.jaxpr.eqns if e.primitive.name == "scan"]
    assert loops == [n_blocks]


@pytest.mark.parametrize(
    "shape,ragged",
    [((6, 16, 130, 130), False), ((1, 64, 300, 40), True), ((2, 16, 144, 150), True)],
    ids=["row-blocks", "image-and-row-blocks", "ragged-row-blocks"],
)
def test_gemm_lowering_in_blocks_equals_lax_with_gradients(shape, ragged, monkeypatch):
    """Patches larger than input + output are built block by block in a lax.map; with a
    prime number of output rows (151, 73) the last block of rows runs past the image,
    cropped."""
    chosen = []
    monkeypatch.setattr(_gemm, "blocks", lambda *a: chosen.append((a[1], blocks(*a))) or blocks(*a))
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    w = jnp.asarray(rng.standard_normal((4, shape[1], 3, 3)), jnp.float32)
    params = ConvParams((2, 1), ((1, 2), (1, 1)), (1, 2), HIGHEST)
    hlo = jax.jit(lambda x, w: gemm_conv(x, w, params)).lower(x, w).as_text()
    assert "while" in hlo  # the block loop
    ref = lambda x, w: lax.conv_general_dilated(
        x, w, (2, 1), ((1, 2), (1, 1)), rhs_dilation=(1, 2), precision=HIGHEST
    )
    assert_close(gemm_conv(x, w, params), ref(x, w), RTOL["float32"])
    ct = jnp.asarray(rng.standard_normal(ref(x, w).shape), jnp.float32)
    ours = jax.grad(lambda x, w: jnp.vdot(ct, gemm_conv(x, w, params)), (0, 1))(x, w)
    theirs = jax.grad(lambda x, w: jnp.vdot(ct, ref(x, w)), (0, 1))(x, w)
    for a, b in zip(ours, theirs):
        assert_close(a, b, 1e-4)
    assert any(rows < mh for mh, (_, rows) in chosen)  # blocks of rows were taken
    assert any(mh % rows for mh, (_, rows) in chosen) == ragged


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("impl", LOWERING_NAMES)
def test_half_precision_lowerings_accumulate_in_float32(impl, dtype):
    """4608-term sums of exactly representable products: one rounding at the end only."""
    x = jnp.full((1, 512, 5, 5), 1.0 + 2.0**-7, dtype)
    w = jnp.full((2, 512, 3, 3), 1.0 + 2.0**-7, dtype)
    exact = 4608 * (1.0 + 2.0**-7) ** 2
    y = lower(impl, "forward", x, w, ConvParams((1, 1), ((0, 0), (0, 0)), (1, 1)))
    assert y.dtype == jnp.dtype(dtype)
    assert float(jnp.max(jnp.abs(y.astype(jnp.float32) - exact))) <= exact * 2.0**-7


# ``impl="auto"``'s documented choices (jaxconv/lowering/_plan.py) for the benchmark suite.
SUITE_PLANS_CPU = {
    "lesson": Plan("matmul", "xla", "matmul"),
    "3x3-64": Plan("xla", "xla", "gemm"),
    "3x3-256": Plan("xla", "xla", "xla"),
    "1x1": Plan("gemm", "gemm", "gemm"),
    "stem": Plan("xla", "gemm", "gemm"),
    "depthwise": Plan("matmul", "matmul", "matmul"),
}


@pytest.fixture
def without_ynnpack(monkeypatch):
    """``auto``'s rules where XLA keeps its convolutions off YNNPACK (the ``"eigen"``
    rule is then off; it is tested in tests/test_eigen.py)."""
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: False)


@pytest.mark.parametrize("case", bench.SUITE, ids=lambda c: c.key)
def test_auto_returns_the_documented_plan_for_each_suite_shape(case, without_ynnpack):
    kw = dict(stride=case.stride, padding=case.pad, groups=case.groups)
    shapes = (
        (case.n_cpu, case.ci, case.side, case.side),
        (case.co, case.ci // case.groups, case.k, case.k),
    )
    assert jaxconv.choose_plan(*shapes, platform="cpu", **kw) == SUITE_PLANS_CPU[case.key]
    assert (
        jaxconv.choose_plan(*shapes, platform="cpu", dtype="float64", **kw)
        == SUITE_PLANS_CPU[case.key]
    )
    if case.key == "stem":  # measured slower in bfloat16: half precision keeps XLA
        assert jaxconv.choose_plan(*shapes, platform="cpu", dtype="bfloat16", **kw) == Plan(
            "xla", "xla", "xla"
        )
    gpu = Plan("matmul", "matmul", "xla") if case.key == "depthwise" else Plan("xla", "xla", "xla")
    assert jaxconv.choose_plan(*shapes, platform="gpu", **kw) == gpu
    assert jaxconv.choose_plan(*shapes, platform="tpu", **kw) == Plan("xla", "xla", "xla")
    assert jaxconv.choose_plan(*shapes, impl="gemm", **kw) == Plan("gemm", "gemm", "gemm")


def _temp_bytes(fn, *args):
    return jax.jit(fn).lower(*args).compile().memory_analysis().temp_size_in_bytes


def _loss_grads(f):
    return jax.grad(lambda x, w: 0.5 * jnp.sum(f(x, w) ** 2), (0, 1))


@pytest.mark.parametrize("case", bench.SUITE, ids=lambda c: c.key)
def test_temporary_memory_is_at_most_twice_lax(case):
    """Compiled temp sizes of auto and the im2col lowering, forward and forward+backward,
    against lax.conv on the same call (CPU batch of the benchmark)."""
    x = jnp.zeros((case.n_cpu, case.ci, case.side, case.side), jnp.float32)
    w = jnp.zeros((case.co, case.ci // case.groups, case.k, case.k), jnp.float32)
    pads = ((case.pad, case.pad),) * 2
    ref = lambda x, w: lax.conv_general_dilated(
        x, w, (case.stride,) * 2, pads, feature_group_count=case.groups
    )
    for impl in ("auto", "gemm"):
        ours = lambda x, w: jaxconv.conv2d(
            x, w, stride=case.stride, padding=case.pad, groups=case.groups, impl=impl
        )
        for wrap in (lambda f: f, _loss_grads):
            mine, theirs = _temp_bytes(wrap(ours), x, w), _temp_bytes(wrap(ref), x, w)
            assert mine <= 2 * theirs, (impl, wrap.__name__, mine, theirs)


@pytest.mark.parametrize("dilation", [18, 64])
def test_auto_keeps_the_memory_bound_for_huge_dilations(dilation):
    """DeepLab's dilated depthwise 3x3 ("same"): the matmul plan's padded copy would be
    4.4x (dilation 18) to 17x (64) the input, so auto keeps XLA's convolution, within
    twice lax's temporaries, forward and forward+backward."""
    side = 33 if dilation == 18 else 32
    x = jnp.zeros((8, 256, side, side), jnp.float32)
    w = jnp.zeros((256, 1, 3, 3), jnp.float32)
    kw = dict(padding="same", dilation=dilation, groups=256)
    ours = lambda x, w: jaxconv.conv2d(x, w, **kw)
    ref = lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), "SAME", rhs_dilation=(dilation,) * 2, feature_group_count=256
    )
    for wrap in (lambda f: f, _loss_grads):
        mine, theirs = _temp_bytes(wrap(ours), x, w), _temp_bytes(wrap(ref), x, w)
        assert mine <= 2 * max(theirs, 1), (mine, theirs)
    plan = jaxconv.choose_plan(x.shape, w.shape, platform="cpu", **kw)
    # dilation 64 reaches past the 32x32 map on both sides: only the centre tap is left
    # (``_trim.py``), a 1x1 depthwise layer, whose plan is the depthwise rule's
    assert plan == (("matmul",) * 3 if dilation >= side else ("xla",) * 3)
    forced = jaxconv.choose_plan(x.shape, w.shape, platform="cpu", impl="matmul", **kw)
    assert forced == ("matmul",) * 3  # asked for by name: allowed, it is not absurd


def test_large_depthwise_kernels_loop_over_kernel_rows():
    """A 31x31 depthwise forward pass of the matmul lowering (``auto``'s on a CPU) is a
    loop over the kernel's 31 rows, not 961 unrolled taps (which took 9.8 s to compile
    against 0.35 s for a loop over taps) nor a loop over taps (5-7x slower than the
    rows, _matmul.MAX_UNROLLED_TAPS); a 3x3 one stays one fused loop; a single row of
    more than 81 taps loops over them."""
    for kernel, loops in (((3, 3), []), ((31, 31), [31]), ((1, 83), [83])):
        x, w = jnp.ones((1, 4, 40, 90)), jnp.ones((4, 1, *kernel))
        padding = (kernel[0] // 2, kernel[1] // 2)
        conv = functools.partial(jaxconv.conv2d, padding=padding, groups=4, impl="matmul")
        traced = equations(jax.make_jaxpr(conv)(x, w))
        assert [e.params["length"] for e in traced if e.primitive.name == "scan"] == loops


@pytest.mark.parametrize(
    "kernel,dtype,rows",
    [
        (7, "float32", 7),
        (9, "float64", 9),
        (5, "float32", 0),
        (3, "float32", 0),
        (7, "bfloat16", 0),
        (11, "bfloat16", 11),
        (13, "float32", 13),
    ],
)
def test_depthwise_forward_beyond_5x5_loops_over_fused_kernel_rows(kernel, dtype, rows):
    """A depthwise forward pass of the matmul lowering beyond 5x5 (float32, float64) is a
    loop over the kernel's rows, each row's taps fused: XLA then computes it once, not
    again in each consumer (_matmul.MAX_FUSED_TAPS); 5x5, smaller and half precision up
    to 9x9 stay one fused loop, and beyond 9x9 every dtype loops over rows, not taps
    (_matmul.MAX_UNROLLED_TAPS). Equal to lax with both gradients, strided, dilated and
    padded unevenly, with two outputs per group."""
    x = jnp.ones((2, 4, 12, 13), dtype)
    w = jnp.ones((8, 1, kernel, kernel), dtype)
    conv = functools.partial(jaxconv.conv2d, padding=kernel // 2, groups=4, impl="matmul")
    jaxpr = jax.make_jaxpr(conv)(x, w)
    loops = [e.params["length"] for e in equations(jaxpr) if e.primitive.name == "scan"]
    assert loops == ([rows] if rows else [])
    rng = np.random.default_rng(7)
    x = jnp.asarray(rng.standard_normal((2, 4, 5 + kernel, 2 * kernel)))  # 6x9 outputs
    w = jnp.asarray(rng.standard_normal((8, 1, kernel, kernel)))
    kw = dict(stride=(2, 1), dilation=(1, 2), padding=((1, 4), (5, 2)), groups=4)
    ours = functools.partial(jaxconv.conv2d, impl="matmul", **kw)
    ref = functools.partial(jaxconv.conv2d, impl="xla", **kw)
    loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))
    assert_close(ours(x, w), ref(x, w), RTOL["float64"])
    for a, b in zip(jax.grad(loss(ours), (0, 1))(x, w), jax.grad(loss(ref), (0, 1))(x, w)):
        assert_close(a, b, RTOL["float64"])


@pytest.mark.parametrize(
    "x_shape,w_shape,padding,plan",
    [
        ((8, 100, 68, 68), (100, 100, 5, 5), 0, ("matmul", "xla", "matmul")),  # the lesson
        ((4, 16, 64, 64), (256, 16, 5, 5), 2, ("xla", "xla", "gemm")),  # padded: xla fwd
        ((4, 64, 64, 64), (64, 64, 5, 5), 2, ("xla", "xla", "matmul")),
        ((4, 16, 64, 64), (128, 16, 7, 7), 0, ("xla", "xla", "gemm")),  # 16 channels
        ((2, 16, 96, 96), (16, 16, 9, 9), 0, ("xla", "xla", "xla")),  # thin taps
    ],
)
def test_large_kernel_rules_follow_their_measurements(
    x_shape, w_shape, padding, plan, without_ynnpack
):
    """The >= 5x5 rules of _plan.py: matmul forward only unpadded with >= 32 channels;
    a weight gradient off XLA only with >= 1024 weights per tap, as one im2col product
    up to 32 input channels and as per-tap matmuls beyond (measured there)."""
    got = jaxconv.choose_plan(x_shape, w_shape, padding=padding, platform="cpu")
    assert got == plan


@pytest.mark.parametrize(
    "x_shape,w_shape,stride,padding,intel,amd",
    [  # forward+backward, time / all-"xla"'s on the Zen 5 EPYC (11 rounds): the patches'
        # weight gradient lost where YNNPACK runs the forward pass of a padded layer
        ((4, 16, 64, 64), (256, 16, 5, 5), 1, 2, "gemm", "xla"),  # gemm 1.10-1.12x
        ((1, 32, 112, 112), (64, 32, 5, 5), 1, 2, "gemm", "xla"),  # gemm 1.12-1.16x
        ((2, 96, 112, 112), (96, 96, 5, 5), 1, 2, "matmul", "xla"),  # matmul 1.20-1.37x
        ((4, 3, 224, 224), (64, 3, 7, 7), 2, 3, "gemm", "xla"),  # a stem: gemm 1.09-1.14x
        ((4, 3, 224, 224), (64, 3, 11, 11), 4, 2, "gemm", "xla"),  # gemm 1.07-1.11x
        # unpadded, or Eigen's forward pass: the patches stay (0.44x, 0.77x)
        ((4, 100, 68, 68), (100, 100, 5, 5), 1, 0, "matmul", "matmul"),
        ((16, 64, 32, 32), (48, 64, 5, 5), 1, 2, "matmul", "matmul"),
        ((2, 3, 224, 224), (64, 3, 3, 3), 1, 1, "xla", "xla"),  # a 3x3 stem: XLA's anyway
    ],
)
def test_amds_padded_large_kernels_keep_ynnpacks_weight_gradient(
    x_shape, w_shape, stride, padding, intel, amd, monkeypatch
):
    """Where XLA's convolutions run on YNNPACK, a padded layer whose forward pass is
    YNNPACK's keeps XLA's weight gradient on an AMD CPU from 5x5 on (stems from 7x7),
    where the Xeons' rules take the patches' (_plan.py)."""
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: True)
    kw = dict(stride=stride, padding=padding, platform="cpu")
    for vendor, expected in ((False, intel), (True, amd)):
        monkeypatch.setattr(_cpu, "amd", lambda vendor=vendor: vendor)
        assert jaxconv.choose_plan(x_shape, w_shape, **kw).weight_grad == expected, vendor


@pytest.mark.parametrize(
    "x_shape,w_shape,stride,dilation,amd,amd_dw",
    [  # forward+backward, "gemm"'s input gradient / all-"xla"'s on the Zen 5 EPYC (21 rounds);
        # the weight gradient alone, "gemm"'s / XLA's on a Zen 4 EPYC (15 rounds, 2 compiles)
        ((8, 3, 224, 224), (64, 3, 7, 7), 2, 1, "gemm", "gemm"),  # 0.82x; 0.96-1.04x
        ((12, 3, 224, 224), (64, 3, 7, 7), 2, 1, "gemm", "gemm"),  # -; 0.77-0.78x
        ((32, 3, 224, 224), (64, 3, 7, 7), 2, 1, "gemm", "gemm"),  # -; 0.97-0.99x
        ((8, 3, 256, 256), (64, 3, 7, 7), 2, 1, "gemm", "gemm"),  # -; 0.91-0.93x
        ((8, 4, 224, 224), (64, 4, 7, 7), 2, 1, "gemm", "gemm"),  # -; 0.87-0.90x
        ((8, 12, 224, 224), (64, 12, 7, 7), 2, 1, "gemm", "gemm"),  # -; 0.91-0.92x
        ((6, 3, 224, 224), (64, 3, 7, 7), 2, 1, "gemm", "xla"),  # -; 75 K rows: 1.00-1.14x
        ((8, 3, 192, 192), (64, 3, 7, 7), 2, 1, "gemm", "xla"),  # -; 74 K rows: 0.97-1.06x
        ((4, 3, 192, 192), (64, 3, 7, 7), 2, 1, "gemm", "xla"),  # 96x96 output pixels: 0.86-0.87x
        ((2, 3, 256, 256), (64, 3, 7, 7), 2, 1, "gemm", "xla"),  # 32 K images x pixels: 0.94x
        ((4, 2, 224, 224), (64, 2, 7, 7), 2, 1, "gemm", "xla"),  # two channels: 0.99x
        ((4, 12, 224, 224), (64, 12, 7, 7), 2, 1, "gemm", "xla"),  # 0.74x
        ((4, 3, 224, 224), (64, 3, 7, 7), 2, 1, "gemm", "xla"),  # -; 50 K rows: 1.11-1.15x
        ((2, 3, 224, 224), (64, 3, 7, 7), 2, 1, "xla", "xla"),  # 25 K images x pixels: 0.99x
        ((16, 3, 128, 128), (64, 3, 7, 7), 2, 1, "xla", "xla"),  # 64x64 output pixels: 1.00-1.08x
        ((4, 3, 160, 160), (64, 3, 7, 7), 2, 1, "xla", "xla"),  # 80x80: 1.01x
        ((4, 1, 224, 224), (64, 1, 7, 7), 2, 1, "xla", "xla"),  # one channel: 1.25x
        ((4, 3, 224, 224), (64, 3, 5, 5), 2, 1, "xla", "xla"),  # 5x5: 1.55x
        ((4, 3, 224, 224), (64, 3, 3, 3), 2, 1, "xla", "xla"),  # 3x3: 1.65x
        ((4, 3, 224, 224), (64, 3, 7, 7), 1, 1, "xla", "xla"),  # unstrided (1.33x at 112x112)
        ((4, 3, 224, 224), (96, 3, 11, 11), 4, 1, "xla", "xla"),  # AlexNet's: 1.67x
        ((8, 3, 224, 224), (64, 3, 7, 7), 2, 2, "xla", "xla"),  # dilated: not measured
        ((8, 16, 224, 224), (64, 16, 7, 7), 2, 1, "xla", "xla"),  # not a stem
    ],
)
def test_amds_strided_stems_take_im2cols_input_gradient(
    x_shape, w_shape, stride, dilation, amd, amd_dw, monkeypatch
):
    """Where XLA's convolutions run on YNNPACK, a 7x7 stride-2 stem of 2-15 channels on
    large images takes ``"gemm"``'s input gradient on an AMD CPU, in float32 (not in
    bfloat16), and XLA's elsewhere; in a longer call its weight gradient too (Intel's
    CPUs take it for every 7x7 stem); the forward pass does not move
    (``_plan._strided_stem``)."""
    padding = (w_shape[2] - 1) // 2 * dilation
    kw = dict(stride=stride, padding=padding, dilation=dilation, platform="cpu")
    intel, got = on_each_vendor(monkeypatch, lambda: jaxconv.choose_plan(x_shape, w_shape, **kw))
    assert (intel.input_grad, got.input_grad) == ("xla", amd)
    assert got.weight_grad == amd_dw
    assert got.forward == intel.forward == "xla"
    assert jaxconv.choose_plan(x_shape, w_shape, dtype=jnp.bfloat16, **kw).input_grad == "xla"


@pytest.mark.parametrize(
    "x_shape,w_shape,stride,amd",
    [  # four in a row, forward+backward, "gemm"'s weight gradient / XLA's (Zen 5 EPYC)
        ((8, 128, 32, 32), (128, 128, 3, 3), 1, "xla"),  # 1.02x and 1.19x / 1.00x
        ((16, 128, 32, 32), (128, 128, 3, 3), 1, "xla"),  # 1.02x
        ((8, 96, 32, 32), (96, 96, 3, 3), 1, "xla"),  # 1.03x / 0.88x (Eigen's passes)
        ((8, 64, 64, 64), (128, 64, 3, 3), 2, "xla"),  # to 32x32: 1.03x / 1.02x
        ((8, 192, 32, 32), (192, 192, 3, 3), 1, "gemm"),  # wider: 0.94x
        ((8, 256, 32, 32), (256, 256, 3, 3), 1, "gemm"),  # 0.93x
        ((8, 128, 32, 32), (256, 128, 3, 3), 1, "gemm"),  # widening to 256: not measured
        ((8, 128, 40, 40), (128, 128, 3, 3), 1, "gemm"),  # larger: 0.94x
    ],
)
def test_amds_layers_at_the_small_images_edge_keep_xlas_weight_gradient(
    x_shape, w_shape, stride, amd, monkeypatch
):
    """On AMD's CPUs, float32 layers of up to 128 channels on 32x32 output pixels keep
    XLA's weight gradient, as smaller images do there; the Xeons' rules take the
    patches', and bfloat16 its dots (``_plan._at_the_edge``)."""
    kw = dict(stride=stride, padding=1, platform="cpu")
    intel, got = on_each_vendor(monkeypatch, lambda: jaxconv.choose_plan(x_shape, w_shape, **kw))
    assert (intel.weight_grad, got.weight_grad) == ("gemm", amd)
    assert got[:2] == intel[:2]
    assert jaxconv.choose_plan(x_shape, w_shape, dtype=jnp.bfloat16, **kw).weight_grad == "dots"


@pytest.mark.parametrize(
    "x_shape,w_shape,stride,padding,amd",
    [  # "gemm"'s weight gradient / XLA's, forward pass included (Zen 4 EPYC, 21 rounds)
        ((4, 64, 128, 128), (128, 64, 4, 4), 2, 1, "xla"),  # pix2pix's: 1.14-1.18x
        ((2, 64, 128, 128), (128, 64, 3, 3), 2, 1, "xla"),  # 1.09x
        ((4, 32, 96, 96), (64, 32, 3, 3), 2, 1, "xla"),  # 1.15-1.28x
        ((4, 16, 128, 128), (32, 16, 3, 3), 2, 1, "xla"),  # 1.37x
        ((2, 64, 128, 128), (128, 64, 3, 3), (2, 1), 1, "xla"),  # 16 K rows, not measured
        ((6, 64, 128, 128), (128, 64, 4, 4), 2, 1, "xla"),  # 24 K rows: 1.11x
        ((7, 64, 128, 128), (128, 64, 3, 3), 2, 1, "gemm"),  # 28 K rows: level, 1.04x
        ((8, 64, 128, 128), (128, 64, 3, 3), 2, 1, "gemm"),  # 32 K rows: 0.81-0.88x
        ((4, 96, 96, 96), (192, 96, 3, 3), 2, 1, "gemm"),  # wider: 0.85-0.91x
        ((4, 64, 129, 129), (96, 64, 3, 3), 2, 0, "gemm"),  # unpadded: 0.62x
        ((2, 64, 64, 64), (128, 64, 3, 3), 1, 1, "gemm"),  # unstrided: not this rule
        ((3, 64, 128, 128), (128, 64, 3, 3), 2, 2, "xla"),  # over-padded: still padded
    ],
)
def test_amds_short_strided_layers_keep_ynnpacks_weight_gradient(
    x_shape, w_shape, stride, padding, amd, monkeypatch
):
    """Where XLA's convolutions run on YNNPACK, a padded, strided layer of up to 64 input
    channels in up to 24 K images x output pixels keeps XLA's weight gradient on an AMD
    CPU, in float32 and bfloat16 (which some other rules give XLA's anyway); the Xeons'
    rules take the patches', and the other passes do not move (``_plan._short_strided``)."""
    kw = dict(stride=stride, padding=padding, platform="cpu")
    intel, got = on_each_vendor(monkeypatch, lambda: jaxconv.choose_plan(x_shape, w_shape, **kw))
    assert (intel.weight_grad, got.weight_grad) == ("gemm", amd)
    assert got[:2] == intel[:2]
    half = jaxconv.choose_plan(x_shape, w_shape, dtype=jnp.bfloat16, **kw).weight_grad
    assert half == "xla" or amd == "gemm"
    # float64, which YNNPACK does not run, keeps the patches
    assert jaxconv.choose_plan(x_shape, w_shape, dtype=jnp.float64, **kw).weight_grad == "gemm"


AMD = _cpu.amd  # the function itself (``tests/conftest.py`` replaces it in each test)


def test_the_cpu_is_read_from_linuxs_cpuinfo(tmp_path, monkeypatch):
    """``_cpu.field`` reads a field's words from ``/proc/cpuinfo``, none where the file
    is missing; ``_cpu.amd`` is its vendor."""
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx512_bf16\n"
        "processor\t: 1\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu\n"
    )
    try:
        for text, vendor in ((None, False), ("AuthenticAMD", True), ("GenuineIntel", False)):
            if text:
                info.write_text(info.read_text().replace("AuthenticAMD", text))
            monkeypatch.setattr(_cpu, "CPU_INFO", str(info if text else tmp_path / "none"))
            AMD.cache_clear()
            assert AMD() is vendor
            assert _cpu.field("flags") == ({"fpu", "avx512_bf16"} if text else set())
    finally:
        AMD.cache_clear()


@pytest.mark.parametrize(
    "x_shape,w_shape,dtype,forward,on_ynn",
    [  # on_ynn: where XLA's convolutions run on YNNPACK, bfloat16 is shaped for Eigen
        # ("eigen" / "xla" forward, bfloat16: 0.48x, 0.26x and 0.26x, against "matmul"'s
        # 1.26x, 0.84x and 0.62x; Emerald-Rapids Xeon)
        ((1, 48, 112, 112), (32, 48, 5, 5), "bfloat16", "xla", "eigen"),  # matmul 1.20-1.68x
        ((1, 32, 112, 112), (64, 32, 5, 5), "float16", "xla", "xla"),  # 2.00x
        ((1, 64, 112, 112), (32, 64, 5, 5), "bfloat16", "matmul", "eigen"),  # 64: 0.74x
        ((2, 48, 112, 112), (32, 48, 5, 5), "bfloat16", "matmul", "eigen"),  # two: 0.62x
    ],
)
def test_one_image_of_few_channels_in_half_precision_keeps_xlas_forward(
    x_shape, w_shape, dtype, forward, on_ynn, monkeypatch
):
    """An unpadded large kernel's forward pass is ``"matmul"``'s from 32 channels on, but
    in half precision one image of fewer than 64 channels keeps XLA's (_plan.py); where
    XLA's convolutions run on YNNPACK, a bfloat16 one is Eigen's (``"eigen"``)."""
    for ynn, expected in ((False, forward), (True, on_ynn)):
        monkeypatch.setattr(_eigen, "ynn_convolutions", lambda ynn=ynn: ynn)
        got = jaxconv.choose_plan(x_shape, w_shape, dtype=dtype, platform="cpu")
        assert got.forward == expected, ynn


@pytest.mark.parametrize(
    "x_shape,w_shape,stride,plan",
    [
        ((32, 64, 32, 32), (128, 64, 1, 1), 2, ("xla", "xla", "gemm")),  # ResNet-18's
        ((32, 256, 8, 8), (512, 256, 1, 1), (2, 1), ("xla", "xla", "gemm")),
        ((32, 256, 8, 8), (256, 256, 1, 1), 1, ("gemm",) * 3),  # MobileNet's pointwise
        ((32, 16, 12, 12), (48, 16, 1, 1), 1, ("gemm",) * 3),  # 144 pixels: aligned
        ((32, 256, 16, 16), (512, 256, 1, 1), 1, ("gemm",) * 3),  # 16x16: not small
        ((64, 16, 7, 7), (24, 16, 1, 1), 1, ("matmul",) * 3),  # gemm's copies: 2.1x
        ((2, 96, 13, 13), (96, 96, 1, 1), 1, ("matmul",) * 3),  # 2.1x forward
        ((8, 24, 11, 11), (80, 24, 1, 1), 1, ("matmul",) * 3),  # 1.5x forward
        ((32, 256, 9, 9), (256, 256, 1, 1), 1, ("matmul",) * 3),
        ((1, 240, 13, 13), (80, 240, 1, 1), 1, ("gemm",) * 3),  # one image: no copies
        ((16, 16, 15, 15), (24, 16, 1, 1), 1, ("gemm",) * 3),  # gemm per image: no copies
        ((32, 1024, 2, 2), (1024, 1024, 1, 1), 1, ("gemm",) * 3),  # weights 4x activations
        ((128, 1024, 2, 2), (1024, 1024, 1, 1), 1, ("matmul",) * 3),  # at most activations
        ((4, 512, 7, 7), (2048, 512, 1, 1), 1, ("gemm",) * 3),  # ResNet-50's, batch 4
        ((32, 128, 16, 16), (128, 128, 1, 1), 2, ("xla", "xla", "gemm")),  # 8x8 out, strided
        ((4, 256, 56, 56), (512, 256, 1, 1), 2, ("xla", "xla", "gemm")),  # ResNet-50's
    ],
)
def test_one_by_one_rule_follows_its_network_measurement(x_shape, w_shape, stride, plan):
    """A strided 1x1 layer (a projection shortcut) stays on XLA's convolution but for
    its weight gradient, on gemm; an unstrided one uses gemm (_plan.py: measured in whole
    ResNet-18 and MobileNet-v1 steps), or the matmul plan where the weights are at most
    the batch's activations on images of fewer than 8x8 pixels, or of fewer than 16x16
    and not a multiple of 16 where gemm would copy several images around one shared
    matmul."""
    assert jaxconv.choose_plan(x_shape, w_shape, stride=stride, platform="cpu") == plan


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize(
    "x_shape,w_shape,stride,groups",
    [
        ((8, 3, 224, 224), (768, 3, 16, 16), 16, 1),  # ViT-B/16's patch embedding
        ((4, 3, 224, 224), (1024, 3, 14, 14), 14, 1),  # ViT-L/14's
        ((64, 3, 32, 32), (192, 3, 4, 4), 4, 1),  # a CIFAR ViT's
        ((8, 96, 56, 56), (192, 96, 2, 2), 2, 1),  # ConvNeXt's downsampling
        ((4, 512, 4, 4), (1024, 512, 2, 2), 2, 1),
        ((8, 128, 28, 28), (128, 32, 2, 2), 2, 4),
        ((8, 64, 1, 1024), (64, 64, 1, 4), (1, 4), 1),
        ((2, 512, 7, 7), (4096, 512, 7, 7), 1, 1),  # VGG's first classifier layer as a conv
        ((64, 384, 7, 7), (32, 384, 7, 7), 2, 1),  # one window, strided
        ((16, 128, 4, 4), (64, 32, 4, 4), 1, 4),
    ],
)
def test_patch_embeddings_are_one_matmul_on_a_cpu(x_shape, w_shape, stride, groups, dtype):
    """A kernel as large as its stride (ViT, ConvNeXt), or one window over the image (a
    classifier written as a convolution), takes gemm's reshaped patches on every pass of a
    CPU plan (_plan.py: 0.06-0.73x all-"xla"'s forward+backward for patches, 0.03-0.89x
    for one window, float32, bfloat16 and float64); other platforms keep XLA's
    convolution (not measured)."""
    kw = dict(stride=stride, groups=groups, dtype=dtype)
    assert jaxconv.choose_plan(x_shape, w_shape, platform="cpu", **kw) == ("gemm",) * 3
    assert jaxconv.choose_plan(x_shape, w_shape, platform="gpu", **kw) == ("xla",) * 3


@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_row_loops_hold_no_axes_of_size_one(multiplier):
    """The loops over kernel rows (forward, input gradient, weight gradient) hold their
    operands without axes of size 1 and count their rows themselves, scanning no array:
    XLA's CPU backend copied each operand whose size-1 axes it had laid out in another
    order than the loop's (a kernel each), and a scanned array of weights or indices was
    a transposed copy or an iota kernel (``_matmul._fused_rows``)."""
    x, w = jnp.ones((2, 4, 12, 13)), jnp.ones((4 * multiplier, 1, 7, 7))
    conv = functools.partial(jaxconv.conv2d, padding=3, groups=4, impl="matmul")
    grads = jax.grad(lambda x, w: jnp.sum(jnp.sin(conv(x, w))), (0, 1))
    scans = [e for e in equations(jax.make_jaxpr(grads)(x, w)) if e.primitive.name == "scan"]
    # the rows of the forward pass and the input gradient (one program where their shapes
    # agree), and of the weight gradient
    assert len(scans) >= 2 and {e.params["length"] for e in scans} == {7}
    for e in scans:
        assert len(e.invars) == e.params["num_consts"] + e.params["num_carry"]  # no xs
        assert all(1 not in v.aval.shape for v in e.invars), [v.aval.shape for v in e.invars]


@pytest.mark.parametrize(
    "kernel,padding,loops,second_order",
    [
        ((3, 2), ((1, 0), (2, 1)), [], True),  # one reduction
        ((5, 5), ((1, 4), (3, 2)), [], False),  # up to 5x5: one reduction
        ((7, 7), ((3, 1), (5, 6)), [7, 7], True),  # the forward pass's rows, the reduction's
        ((9, 3), ((4, 6), (0, 1)), [9, 9], False),
    ],
)
def test_depthwise_weight_gradient_reduces_taps_in_every_derivative(
    kernel, padding, loops, second_order
):
    """The matmul plan's depthwise weight gradient binds a primitive whose transpose is one
    variadic reduction over taps (``_matmul._taps_p``), beyond 5x5 one per kernel row in a
    loop over the rows (``_matmul.MAX_REDUCED_TAPS``): equal to lax's in value, in
    derivatives of order 2 (forward and reverse), under vmap over inputs or weights and
    with a channel multiplier, strided, dilated and padded unevenly; traced, the weight
    gradient holds no loop over taps; compiled on a CPU, its loops are over kernel rows
    (float64: the forward pass beyond 5x5 is a loop over the rows too; XLA's GPU
    compiler may unroll loops). Second derivatives (the same rules for every kernel) are
    checked for one kernel of each form."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((2, 3, 13, 12)))
    w = jnp.asarray(rng.standard_normal((6, 1, *kernel)))  # multiplier 2
    kw = dict(stride=(2, 1), padding=padding, dilation=(1, 2), groups=3)
    conv = functools.partial(jaxconv.conv2d, **kw, impl="matmul")
    ref = lambda x, w: lax.conv_general_dilated(
        x, w, (2, 1), padding, rhs_dilation=(1, 2), feature_group_count=3
    )
    order = 2 if second_order else 1
    check_grads(conv, (x, w), order=order, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)
    loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))
    batched = (((0, None), (jnp.stack([x, -2 * x]), w)), ((None, 0), (x, jnp.stack([w, w**2]))))
    for axes, args in batched:
        ours, theirs = (jax.jit(jax.vmap(jax.grad(loss(f), (0, 1)), axes)) for f in (conv, ref))
        for a, b in zip(ours(*args), theirs(*args)):
            assert_close(a, b, RTOL["float64"])
    weight_grad = jax.grad(loss(conv), 1)
    assert_close(weight_grad(x, w), jax.grad(loss(ref), 1)(x, w), RTOL["float64"])
    traced = list(equations(jax.make_jaxpr(weight_grad)(x, w)))
    lengths = [e.params["length"] for e in traced if e.primitive.name == "scan"]
    assert "jaxconv_depthwise_tap_sums" in [e.primitive.name for e in traced]
    assert kernel[0] * kernel[1] not in lengths, lengths
    ops = hlo_ops(weight_grad, x, w)
    assert "reduce" in ops, sorted(set(ops))
    if jax.default_backend() == "cpu":
        text = jax.jit(weight_grad).lower(x, w).compile().as_text()
        trips = [int(n) for n in re.findall(r'known_trip_count":\{"n":"(\d+)"', text)]
        assert ops.count("while") == len(loops) and sorted(trips) == loops, trips


@pytest.mark.parametrize(
    "weight_shape, plan",
    [
        ((64, 1, 3, 3), Plan("matmul", "matmul", "xla")),  # MobileNet's, measured
        ((128, 1, 3, 3), Plan("matmul", "matmul", "xla")),  # a channel multiplier of 2
        ((64, 1, 5, 5), Plan("xla", "xla", "xla")),  # larger kernels: not measured
        ((64, 2, 3, 3), Plan("xla", "xla", "xla")),  # grouped, not depthwise
    ],
)
def test_gpu_depthwise_rule_covers_what_was_measured(weight_shape, plan):
    groups = 64 // weight_shape[1]
    shapes = ((8, 64, 28, 28), weight_shape)
    kw = dict(padding=weight_shape[-1] // 2, groups=groups)
    assert jaxconv.choose_plan(*shapes, platform="gpu", **kw) == plan
    assert jaxconv.choose_plan(*shapes, platform="tpu", **kw) == Plan("xla", "xla", "xla")


@pytest.mark.parametrize("platform", ["cpu", "gpu"])
def test_one_input_channel_without_groups_is_not_depthwise(platform, without_ynnpack):
    """A dense layer of one input channel has one input channel per group, as a depthwise
    one does, but no groups: the depthwise rules' tap loops ran its gradients 1.2-5x
    slower than XLA on a CPU (benchmarks/auto_sweep.py), so it is planned as a dense layer."""
    dense = jaxconv.choose_plan((2, 1, 28, 28), (32, 1, 5, 5), padding=2, platform=platform)
    assert "matmul" not in dense
    depthwise = jaxconv.choose_plan(
        (2, 32, 28, 28), (32, 1, 3, 3), padding=1, groups=32, platform=platform
    )
    assert depthwise.forward == "matmul"


@pytest.mark.parametrize(
    "x_shape,w_shape,stride,groups,forward",
    [
        ((4, 128, 28, 28), (128, 4, 3, 3), 1, 32, "matmul"),  # ResNeXt
        ((8, 240, 28, 28), (240, 80, 1, 1), 1, 3, "matmul"),  # ShuffleNet's grouped 1x1
        ((4, 256, 28, 28), (256, 8, 3, 3), 2, 32, "xla"),  # 14x14 out: the taps did not pay
        ((16, 96, 28, 28), (96, 2, 3, 3), 1, 48, "matmul"),  # 2 a group, many groups
        ((8, 16, 64, 64), (96, 2, 5, 5), 1, 8, "xla"),  # 2 a group, few groups: 1.25x
        ((1, 4, 32, 32), (192, 2, 3, 3), 1, 2, "xla"),  # 3.9x
        ((4, 24, 32, 32), (192, 6, 3, 3), 1, 4, "xla"),  # 6 a group: 1.09x, bfloat16 1.39x
        ((2, 16, 112, 112), (64, 8, 5, 5), 2, 2, "xla"),  # 8 a group, 2 groups: 1.15-1.52x
    ],
)
def test_grouped_layers_take_im2col_gradients_on_a_cpu(x_shape, w_shape, stride, groups, forward):
    """XLA's CPU weight gradient of a grouped convolution took 30-200x its forward pass
    (benchmarks/auto_sweep.py): ``auto`` computes both gradients with im2col there, on
    every CPU and dtype, and leaves GPUs and TPUs to XLA."""
    kw = dict(stride=stride, padding=w_shape[-1] // 2, groups=groups)
    for dtype in ("float32", "bfloat16", "float64"):
        plan = jaxconv.choose_plan(x_shape, w_shape, platform="cpu", dtype=dtype, **kw)
        assert plan == Plan(forward, "gemm", "gemm")
    for platform in ("gpu", "tpu"):
        assert jaxconv.choose_plan(x_shape, w_shape, platform=platform, **kw) == ("xla",) * 3


@pytest.mark.parametrize(
    "x_shape, w_shape, kw, expected",
    [
        ((8, 1024, 7, 7), (1024, 32, 3, 3), dict(), ("dots",) * 3),  # ResNeXt
        ((8, 256, 14, 14), (256, 8, 3, 3), dict(), ("dots",) * 3),  # narrow, many groups
        ((8, 1232, 14, 14), (1232, 112, 3, 3), dict(), ("dots",) * 3),  # RegNet
        ((32, 512, 7, 7), (512, 128, 1, 1), dict(), ("dots",) * 3),
        ((8, 64, 14, 14), (64, 8, 3, 3), dict(), ("xla", "dots", "dots")),  # few groups
        # strided: groups of 64 channels and 8 outputs, not fewer
        ((2, 768, 14, 14), (768, 96, 3, 3), dict(stride=2), ("dots",) * 3),
        ((8, 1008, 14, 14), (1008, 63, 3, 3), dict(stride=2), ("xla", "gemm", "gemm")),
        ((8, 1024, 14, 14), (1024, 64, 3, 3), dict(stride=2), ("dots",) * 3),
        ((1, 240, 15, 15), (14, 120, 7, 7), dict(stride=2), ("xla", "gemm", "gemm")),
        ((1, 240, 15, 15), (16, 120, 7, 7), dict(stride=2), ("dots",) * 3),
        # dilated, or many groups of few channels from 28x28 output pixels: the rules above
        ((8, 256, 14, 14), (256, 8, 3, 3), dict(dilation=2), ("xla", "gemm", "gemm")),
        ((8, 256, 28, 28), (256, 8, 3, 3), dict(), ("matmul", "gemm", "gemm")),
        ((8, 256, 27, 27), (256, 8, 3, 3), dict(), ("dots",) * 3),
        ((8, 128, 56, 56), (128, 4, 3, 3), dict(), ("matmul", "gemm", "gemm")),
        # larger images: fewer than 16 groups of 16 channels and more, unstrided, not 1x1
        ((4, 64, 56, 56), (64, 16, 3, 3), dict(), ("dots",) * 3),  # RegNet
        ((8, 224, 56, 56), (224, 112, 3, 3), dict(), ("dots",) * 3),
        ((1, 40, 35, 35), (72, 20, 5, 5), dict(), ("dots",) * 3),  # a short call
        ((8, 60, 56, 56), (64, 15, 3, 3), dict(), ("xla", "gemm", "gemm")),
        ((4, 256, 56, 56), (256, 16, 3, 3), dict(), ("matmul", "gemm", "gemm")),  # 16 groups
        ((8, 240, 28, 28), (240, 80, 1, 1), dict(), ("matmul", "gemm", "gemm")),
        ((2, 160, 112, 112), (256, 20, 3, 3), dict(stride=2), ("matmul", "gemm", "gemm")),
    ],
)
def test_grouped_layers_take_dots_where_it_was_measured(
    x_shape, w_shape, kw, expected, monkeypatch
):
    """Below 28x28 output pixels, and for few groups of 16 channels and more at any size,
    a grouped layer's passes are each one matmul batched over the groups (``"dots"``:
    0.15-0.95x the im2col plan's time forward+backward), in float32 and in bfloat16 with
    bfloat16 dot instructions; elsewhere the rules above."""
    groups = x_shape[1] // w_shape[1]
    kw = dict(kw, padding=w_shape[-1] // 2 * kw.get("dilation", 1), groups=groups)
    plan = jaxconv.choose_plan(x_shape, w_shape, platform="cpu", **kw)
    assert plan == expected
    monkeypatch.setattr(_dots, "bf16_dots", lambda: True)
    assert jaxconv.choose_plan(x_shape, w_shape, platform="cpu", dtype="bfloat16", **kw) == plan
    monkeypatch.setattr(_dots, "bf16_dots", lambda: False)
    for dtype in ("bfloat16", "float64"):
        plan = jaxconv.choose_plan(x_shape, w_shape, platform="cpu", dtype=dtype, **kw)
        assert "dots" not in plan, dtype
    assert jaxconv.choose_plan(x_shape, w_shape, platform="gpu", **kw) == ("xla",) * 3


@pytest.mark.parametrize(
    "x_shape,w_shape,stride,groups,single,half",
    [
        ((1, 40, 35, 35), (72, 20, 5, 5), 1, 2, "xla", "xla"),  # taps 1.37x, bf16 1.54-1.63x
        ((1, 64, 35, 35), (96, 16, 5, 5), 1, 4, "xla", "xla"),  # 1.19x, 1.83x
        ((1, 32, 35, 35), (48, 16, 7, 7), 1, 2, "xla", "xla"),  # 1.48x, 2.27x
        ((4, 32, 35, 35), (48, 16, 3, 3), 1, 2, "matmul", "xla"),  # 1.07x, 1.18x
        ((4, 64, 32, 32), (96, 16, 5, 5), 1, 4, "matmul", "xla"),  # 0.98x, 1.21x
        ((1, 64, 56, 56), (128, 32, 3, 3), 1, 2, "matmul", "matmul"),  # bf16 0.81-0.83x
        ((1, 128, 35, 35), (192, 64, 3, 3), 1, 2, "matmul", "matmul"),  # 64 a group: 0.64x
        ((1, 32, 112, 112), (48, 16, 5, 5), 1, 2, "matmul", "matmul"),  # long: 0.40-0.50x
        ((1, 160, 112, 112), (256, 20, 3, 3), 2, 8, "matmul", "matmul"),  # strided: 0.59x
        ((1, 32, 35, 35), (48, 16, 1, 1), 1, 2, "matmul", "matmul"),  # 1x1: 0.53-0.55x
    ],
)
def test_few_narrow_groups_keep_xlas_forward_pass_in_short_calls(
    x_shape, w_shape, stride, groups, single, half, monkeypatch
):
    """With fewer than 16 groups of fewer than 64 channels, XLA's unstrided forward pass
    on YNNPACK beat the taps of a kernel larger than 1x1 unless the call had enough
    images x output pixels x channels a group (64 K in float32, 96 K in half precision);
    where XLA's convolutions stay off YNNPACK (and in float64) the taps keep the forward
    pass. (Where ``"dots"`` runs, it takes these layers:
    ``test_grouped_layers_take_dots_where_it_was_measured``.)"""
    kw = dict(padding=w_shape[-1] // 2, stride=stride, groups=groups, platform="cpu")
    monkeypatch.setattr(_plan, "_dots_run", lambda params, dtype: False)  # (see below)
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: True)
    for dtype, forward in (("float32", single), ("bfloat16", half), ("float64", "matmul")):
        plan = jaxconv.choose_plan(x_shape, w_shape, dtype=dtype, **kw)
        assert plan == Plan(forward, "gemm", "gemm"), dtype
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: False)
    for dtype in ("float32", "bfloat16"):
        assert jaxconv.choose_plan(x_shape, w_shape, dtype=dtype, **kw).forward == "matmul"


@pytest.mark.parametrize(
    "x_shape,w_shape,groups,half",
    [
        ((1, 64, 28, 28), (192, 2, 7, 7), 32, "xla"),  # taps 1.37-1.67x, gemm 0.58-0.68x
        ((4, 128, 28, 28), (512, 4, 3, 3), 32, "xla"),  # 4 a group widened to 16
        ((16, 64, 28, 28), (512, 2, 1, 1), 32, "gemm"),  # 1x1: no patches, one matmul
    ],
)
def test_thin_groups_widened_take_im2cols_forward_pass(x_shape, w_shape, groups, half):
    """A grouped layer whose few channels a group feed more than twice as many outputs
    contracts too few channels in each tap's matmul: ``auto``'s forward pass is im2col's,
    apart from half-precision patches (which lost), where it is XLA's."""
    kw = dict(padding=w_shape[-1] // 2, groups=groups, platform="cpu")
    for dtype, forward in (("float32", "gemm"), ("float64", "gemm"), ("bfloat16", half)):
        plan = jaxconv.choose_plan(x_shape, w_shape, dtype=dtype, **kw)
        assert plan == Plan(forward, "gemm", "gemm"), dtype
    # twice as many outputs, or 16 channels a group, keep the taps
    for w_shape in ((128, 2, 7, 7), (512, 16, 3, 3)):
        x_shape = (4, groups * w_shape[1], 28, 28)
        plan = jaxconv.choose_plan(x_shape, w_shape, **kw | {"padding": w_shape[-1] // 2})
        assert plan.forward == "matmul", w_shape


def test_grouped_plan_matches_lax_and_keeps_the_memory_bound():
    """The grouped plan's values and both gradients equal lax's (a ResNeXt layer, batch
    2). Its temporaries stay within ``auto``'s bound, twice the operands and result, and
    forward+backward within twice lax's (lax's forward pass alone needs almost none)."""
    x = jax.random.normal(jax.random.key(0), (2, 64, 28, 28), jnp.float32)
    w = jax.random.normal(jax.random.key(1), (64, 4, 3, 3), jnp.float32) * 0.2
    assert jaxconv.choose_plan(x.shape, w.shape, padding=1, groups=16, platform="cpu") == Plan(
        "matmul", "gemm", "gemm"
    )
    ours = lambda x, w: jaxconv.conv2d(x, w, padding=1, groups=16)
    ref = lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), ((1, 1), (1, 1)), feature_group_count=16
    )
    assert_close(ours(x, w), ref(x, w), RTOL["float32"])
    for a, b in zip(jax.jit(_loss_grads(ours))(x, w), _loss_grads(ref)(x, w)):
        assert_close(a, b, RTOL["float32"])
    operands = (2 * x.size + w.size) * 4  # the output has the input's shape
    assert _temp_bytes(ours, x, w) <= 2 * operands
    assert _temp_bytes(_loss_grads(ours), x, w) <= 2 * _temp_bytes(_loss_grads(ref), x, w)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_layers_of_sixteen_channels_keep_xlas_weight_gradient(dtype, monkeypatch):
    """XLA runs layers of at most 16 channels in and out on Eigen, whose weight gradient
    beat im2col's (1.3x in bfloat16, 2.4x in float32); one more output channel and the
    weight gradient leaves XLA again. (Plans without bfloat16 dot instructions;
    tests/test_dots.py has those with them.)"""
    monkeypatch.setattr(_dots, "bf16_dots", lambda: False)
    kw = dict(padding=1, platform="cpu", dtype=dtype)
    assert jaxconv.choose_plan((64, 16, 32, 32), (16, 16, 3, 3), **kw) == ("xla",) * 3
    wider = jaxconv.choose_plan((64, 16, 32, 32), (32, 16, 3, 3), **kw)
    assert wider.weight_grad in ("gemm", "eigen")


def _ynn_weight_grad(x_shape, w_shape, dtype, monkeypatch, padding=1) -> str:
    """``auto``'s CPU weight-gradient lowering of a layer (padded by default) where XLA's
    convolutions run on YNNPACK (whichever jaxlib runs the tests), without bfloat16 dot
    instructions (whichever CPU runs them: with them, bfloat16 layers may take ``"dots"``,
    tests/test_dots.py)."""
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: True)
    monkeypatch.setattr(_dots, "bf16_dots", lambda: False)
    kw = dict(padding=padding, platform="cpu", dtype=dtype)
    return jaxconv.choose_plan(x_shape, w_shape, **kw).weight_grad


@pytest.mark.parametrize(
    "x_shape,w_shape,dtype,weight_grad",
    [
        ((64, 32, 16, 16), (32, 32, 3, 3), "float32", "matmul"),
        ((64, 32, 16, 16), (32, 32, 3, 3), "bfloat16", "xla"),  # 1.09-1.16x there
        ((16, 96, 24, 24), (96, 96, 3, 3), "bfloat16", "matmul"),  # 0.91x
        ((32, 128, 16, 16), (128, 128, 3, 3), "bfloat16", "xla"),  # 128 channels: xla
    ],
)
def test_small_image_weight_gradient_in_half_precision_needs_64_channels(
    x_shape, w_shape, dtype, weight_grad, monkeypatch
):
    """Below 32x32 output pixels, 3x3 layers of 17-96 channels take ``"matmul"``'s weight
    gradient (128 read 1.34-1.41x on an AMD EPYC); in half precision only from 64
    channels on (benchmarks/auto_sweep.py)."""
    assert _ynn_weight_grad(x_shape, w_shape, dtype, monkeypatch) == weight_grad


@pytest.mark.parametrize(
    "x_shape,w_shape,dtype,weight_grad",
    [
        ((2, 32, 128, 128), (32, 32, 3, 3), "float32", "xla"),  # 1.14-1.27x with gemm
        ((2, 64, 128, 128), (64, 64, 3, 3), "float32", "gemm"),
        ((2, 32, 128, 128), (32, 32, 3, 3), "float64", "gemm"),  # no YNNPACK
        ((1, 64, 224, 224), (64, 64, 3, 3), "bfloat16", "xla"),  # 1.27-1.35x with gemm
        # bfloat16 blocks on Eigen (Emerald-Rapids Xeon; gemm 1.19x on the EPYC): 0.67x
        # "xla"'s (gemm 0.75x) at 128 K an image, 0.41x (gemm 0.48x) at 64 K
        ((6, 32, 64, 64), (32, 32, 3, 3), "bfloat16", "eigen"),
        ((32, 64, 32, 32), (64, 64, 3, 3), "bfloat16", "eigen"),
        ((2, 128, 112, 112), (128, 128, 3, 3), "bfloat16", "gemm"),  # 0.91x
    ],
)
def test_few_channels_on_large_images_keep_xlas_weight_gradient(
    x_shape, w_shape, dtype, weight_grad, monkeypatch
):
    """Padded layers of few channels on large images keep YNNPACK's weight gradient
    (float32 up to 32 channels beyond _eigen.fits, half precision up to 64 from 128 K
    channels x pixels an image: measured on an AMD EPYC); float64 keeps im2col's, and
    bfloat16 layers within Eigen's blocks (``_eigen.blocked_pays``) take them."""
    assert _ynn_weight_grad(x_shape, w_shape, dtype, monkeypatch) == weight_grad


@pytest.mark.parametrize(
    "x_shape,w_shape,padding,dtype,weight_grad",
    [
        ((1, 48, 112, 112), (32, 48, 3, 3), 0, "bfloat16", "xla"),  # drawn: 1.57x with gemm
        ((1, 48, 112, 112), (32, 48, 3, 3), 0, "float32", "xla"),  # 1.49x
        ((1, 256, 112, 112), (32, 256, 3, 3), 0, "float32", "xla"),  # one wide image: 1.52x
        ((1, 32, 112, 112), (32, 32, 5, 5), 2, "float32", "xla"),  # 1.74x
        ((2, 48, 64, 64), (32, 48, 7, 7), 3, "float32", "xla"),  # matmul's 2.87x
        ((4, 48, 56, 56), (32, 48, 3, 3), 1, "float32", "xla"),  # 1.32x
        ((1, 48, 160, 160), (32, 48, 3, 3), 1, "float32", "gemm"),  # 25.6 K rows: 0.64x
        ((2, 128, 80, 80), (32, 128, 3, 3), 0, "float32", "gemm"),  # wide images: 0.46x
        ((1, 32, 112, 112), (24, 32, 3, 3), 1, "float32", "gemm"),  # 24 outputs: 0.74x
        ((1, 48, 112, 112), (32, 48, 3, 3), 0, "float64", "gemm"),  # no YNNPACK there
    ],
)
def test_thirty_two_outputs_in_short_calls_keep_xlas_weight_gradient(
    x_shape, w_shape, padding, dtype, weight_grad, monkeypatch
):
    """YNNPACK's weight gradient of exactly 32 output channels is fast in calls of fewer
    than 16 K images x output pixels (one image, or fewer than 128 input channels), at
    any padding and kernel size; beyond, and at other widths, the patches win
    (_plan.py, measured pass by pass)."""
    got = _ynn_weight_grad(x_shape, w_shape, dtype, monkeypatch, padding=padding)
    assert got == weight_grad


@pytest.mark.parametrize(
    "x_shape, w_shape, kw, expected",
    [
        # padded 3x3 on 2x2 and 1x1 images (VGG's last block on 32x32 images): forward
        # and input gradient on the patches, the weight gradient as the rules have it
        ((32, 512, 2, 2), (512, 512, 3, 3), dict(padding=1), ("gemm", "gemm", "xla")),
        ((16, 512, 2, 2), (512, 512, 3, 3), dict(padding=1), ("gemm", "gemm", "xla")),
        # ... below 64 images x output pixels, the weight gradient with them
        ((15, 512, 2, 2), (512, 512, 3, 3), dict(padding=1), ("gemm",) * 3),
        ((8, 512, 1, 1), (512, 512, 3, 3), dict(padding=1), ("gemm",) * 3),
        ((1, 512, 2, 2), (192, 512, 7, 7), dict(padding=3), ("gemm",) * 3),
        ((32, 128, 4, 4), (128, 128, 5, 5), dict(padding=2), ("gemm", "gemm", "xla")),
        # an output smaller than the kernel, strided or unpadded: both gradients
        ((32, 512, 4, 4), (512, 512, 3, 3), dict(padding=1, stride=2), ("xla", "gemm", "gemm")),
        # one window (LeNet's 5x5 to 1x1): a patch embedding of one patch (``_gemm.tiles``)
        ((32, 16, 5, 5), (120, 16, 5, 5), dict(), ("gemm",) * 3),
        ((32, 512, 2, 2), (512, 512, 3, 3), dict(padding=1, stride=2), ("gemm",) * 3),
        # narrow: "dots" (float32 im2col's forward pass 1.4x XLA's at 16 channels), and
        # its gradients with it
        ((32, 16, 2, 2), (16, 16, 3, 3), dict(padding=1), ("dots",) * 3),
        ((32, 32, 4, 4), (32, 32, 5, 5), dict(padding=2), ("dots",) * 3),
        ((32, 64, 2, 2), (16, 64, 3, 3), dict(padding=1), ("dots",) * 3),
        ((32, 64, 2, 2), (33, 64, 3, 3), dict(padding=1), ("gemm", "gemm", "xla")),
        ((2, 200, 5, 5), (24, 200, 7, 1), dict(padding=(3, 0)), ("dots",) * 3),
        ((32, 64, 2, 2), (64, 64, 3, 3), dict(padding=1), ("gemm", "gemm", "xla")),
        # ... and where only the input gradient's window is long (XLA's forward pass), up
        # to 64 outputs, 128 for a kernel that is not square
        ((8, 384, 8, 8), (32, 384, 5, 1), dict(padding=(2, 0), stride=2), ("xla", "dots", "dots")),
        ((16, 16, 12, 12), (32, 16, 7, 7), dict(), ("xla", "dots", "dots")),
        ((8, 32, 6, 6), (128, 32, 5, 5), dict(), ("xla", "dots", "dots")),
        ((8, 384, 8, 8), (64, 384, 5, 5), dict(padding=2, stride=2), ("xla", "dots", "dots")),
        ((8, 384, 8, 8), (128, 384, 5, 1), dict(padding=(2, 0), stride=2), ("xla", "dots", "dots")),
        ((8, 384, 8, 8), (65, 384, 5, 5), dict(padding=2, stride=2), ("xla", "gemm", "gemm")),
        ((8, 384, 8, 8), (129, 384, 5, 1), dict(padding=(2, 0), stride=2), ("xla", "gemm", "gemm")),
        (
            (8, 384, 8, 8),
            (64, 384, 5, 5),
            dict(padding=2, stride=2, dtype="float64"),
            ("xla", "gemm", "gemm"),
        ),
        # fewer than 2**17 multiply-adds: dispatch, XLA's own as fast (73,728 and 9,216);
        # a 1x1 image meets only the kernel's centre: a 1x1 layer's plan (``_trim.py``)
        ((32, 16, 1, 1), (16, 16, 3, 3), dict(padding=1), ("matmul",) * 3),
        ((1, 16, 2, 2), (16, 16, 3, 3), dict(padding=1), ("xla",) * 3),
        ((4, 32, 2, 2), (32, 32, 3, 3), dict(padding=1), ("dots",) * 3),  # 147,456
        # padding beyond half the kernel, an output larger than the input: the weight
        # gradient as "dots" (float32; as taps where "dots" does not run)
        ((16, 256, 8, 8), (256, 256, 3, 3), dict(padding=2), ("xla", "xla", "dots")),
        ((8, 128, 16, 16), (128, 128, 5, 5), dict(padding=(4, 0)), ("xla", "xla", "dots")),
        ((8, 64, 32, 32), (64, 64, 3, 3), dict(padding=2, stride=2), ("xla",) * 3),  # 17x17
        ((32, 32, 2, 2), (16, 32, 3, 3), dict(padding=2), ("dots",) * 3),
        ((8, 32, 8, 8), (8, 32, 5, 5), dict(padding=4, dtype="float64"), ("xla", "xla", "matmul")),
        # ... but XLA's below 64 images x input pixels in float32, where it is fast
        ((2, 256, 4, 4), (128, 256, 3, 3), dict(padding=2), ("xla",) * 3),
        ((3, 512, 4, 4), (512, 512, 3, 3), dict(padding=2), ("xla",) * 3),
        ((4, 256, 4, 4), (128, 256, 3, 3), dict(padding=2), ("xla", "xla", "dots")),
        ((12, 256, 2, 2), (256, 256, 3, 3), dict(padding=2), ("gemm", "xla", "xla")),
        ((16, 128, 2, 2), (128, 128, 3, 3), dict(padding=2), ("gemm", "xla", "dots")),
        (
            (2, 256, 4, 4),
            (128, 256, 3, 3),
            dict(padding=2, dtype="float64"),
            ("xla", "xla", "matmul"),
        ),
        # the kernel fits: the rules' plans
        ((32, 512, 4, 4), (512, 512, 3, 3), dict(padding=1), ("xla",) * 3),
        ((32, 256, 4, 4), (256, 256, 3, 3), dict(padding=2, dilation=2), ("xla",) * 3),
        ((32, 512, 2, 2), (512, 16, 3, 3), dict(padding=1, groups=32), ("dots",) * 3),
        # grouped, an output longer than the input, few groups of several channels:
        # XLA's forward pass ("dots"' read 1.06-3.11x on 8 of 10 in float32), "dots"'
        # gradients with a 3x3 kernel or on images larger than 16x16 ...
        ((1, 192, 56, 56), (96, 48, 3, 3), dict(padding=2, groups=4), ("xla", "dots", "dots")),
        ((1, 192, 56, 56), (96, 48, 3, 3), dict(padding=1, groups=4), ("dots",) * 3),
        ((32, 128, 8, 8), (128, 32, 3, 3), dict(padding=2, groups=4), ("xla", "dots", "dots")),
        ((16, 32, 17, 17), (32, 8, 5, 5), dict(padding=4, groups=4), ("xla", "dots", "dots")),
        # ... else XLA's forward pass and input gradient, "dots"' weight gradient ...
        ((16, 32, 16, 16), (32, 8, 5, 5), dict(padding=4, groups=4), ("xla", "xla", "dots")),
        ((32, 256, 4, 4), (64, 64, 5, 5), dict(padding=4, groups=4), ("xla", "xla", "dots")),
        ((16, 512, 6, 6), (128, 64, 3, 3), dict(padding=2, groups=8), ("xla", "xla", "dots")),
        ((16, 512, 17, 17), (128, 64, 3, 3), dict(padding=2, groups=8), ("xla", "dots", "dots")),
        ((64, 16, 5, 5), (24, 2, 5, 5), dict(padding=4, groups=8), ("xla", "xla", "dots")),
        ((64, 40, 4, 4), (24, 5, 5, 5), dict(padding=4, groups=8), ("xla", "xla", "dots")),
        # ... and XLA's for every pass for groups of up to 2 outputs, of up to 4 channels
        # on images up to 4x4, or of 64 channels and up to 8 outputs on images up to 5x5
        # (XLA's weight gradient swaps the roles there)
        ((64, 576, 5, 5), (64, 72, 5, 5), dict(padding=4, groups=8), ("xla",) * 3),
        ((64, 512, 3, 3), (32, 64, 3, 3), dict(padding=2, groups=8), ("xla",) * 3),
        ((64, 504, 3, 3), (32, 63, 3, 3), dict(padding=2, groups=8), ("xla", "dots", "dots")),
        ((64, 512, 3, 3), (72, 64, 3, 3), dict(padding=2, groups=8), ("xla", "xla", "dots")),
        ((64, 512, 6, 6), (32, 64, 3, 3), dict(padding=2, groups=8), ("xla", "xla", "dots")),
        ((64, 512, 5, 5), (8, 64, 3, 3), dict(padding=2, groups=8), ("xla",) * 3),
        ((64, 1024, 3, 3), (16, 128, 3, 3), dict(padding=2, groups=8), ("xla",) * 3),
        ((64, 256, 3, 3), (24, 32, 3, 3), dict(padding=2, groups=8), ("xla", "dots", "dots")),
        ((64, 256, 3, 3), (16, 32, 3, 3), dict(padding=2, groups=8), ("xla",) * 3),
        ((64, 16, 4, 4), (24, 2, 5, 5), dict(padding=4, groups=8), ("xla",) * 3),
        ((64, 32, 4, 4), (24, 4, 5, 5), dict(padding=4, groups=8), ("xla",) * 3),
        # many groups: XLA's forward pass for the small images' "dots"
        ((4, 128, 28, 28), (128, 4, 3, 3), dict(padding=2, groups=32), ("matmul", "gemm", "gemm")),
        ((64, 128, 3, 3), (128, 8, 3, 3), dict(padding=2, groups=16), ("xla", "dots", "dots")),
        ((4, 96, 56, 56), (96, 1, 3, 3), dict(padding=2, groups=96), ("matmul",) * 3),
        ((8, 8, 32, 32), (8, 1, 3, 3), dict(padding=2, groups=8), ("matmul",) * 3),
    ],
)
def test_a_window_longer_than_its_image_leaves_xlas_cpu_convolution(x_shape, w_shape, kw, expected):
    """XLA's CPU convolution of a window longer than the image it slides over (a kernel
    longer than the input or the output, an output longer than the input) ran 7-120x
    slower than the patches' or the taps' (_plan.py): those passes move, on a CPU only."""
    assert jaxconv.choose_plan(x_shape, w_shape, platform="cpu", **kw) == expected
    if w_shape[1] > 1:  # (a depthwise layer has a GPU rule of its own)
        assert jaxconv.choose_plan(x_shape, w_shape, platform="gpu", **kw) == ("xla",) * 3


@pytest.mark.parametrize(
    "x_shape, w_shape, padding, expected",
    [
        ((16, 32, 16, 16), (32, 8, 5, 5), 4, ("xla", "xla", "gemm")),  # input gradient: 16x16
        ((16, 32, 17, 17), (32, 8, 5, 5), 4, ("xla", "gemm", "gemm")),
        ((64, 512, 5, 5), (24, 64, 3, 3), 2, ("xla",) * 3),  # wide groups, few outputs, 5x5
        ((64, 504, 5, 5), (24, 63, 3, 3), 2, ("xla", "xla", "gemm")),
        ((32, 512, 6, 6), (24, 64, 3, 3), 2, ("xla", "xla", "gemm")),
        ((16, 576, 5, 5), (72, 72, 5, 5), 4, ("xla", "xla", "gemm")),
        ((64, 512, 5, 5), (16, 64, 3, 3), 2, ("xla",) * 3),  # 2 outputs a group
        ((64, 16, 4, 4), (24, 2, 5, 5), 4, ("xla",) * 3),  # 2 channels a group at 4x4
        ((64, 16, 5, 5), (24, 2, 5, 5), 4, ("xla", "xla", "gemm")),
    ],
)
def test_grouped_output_longer_than_its_input_without_dots(
    x_shape, w_shape, padding, expected, monkeypatch
):
    """Where ``"dots"`` does not run, few groups of several channels whose output is longer
    than the input take XLA's forward pass, its input gradient on images up to 16x16, its
    weight gradient for wide groups of few outputs on images up to 5x5 and else im2col's;
    groups of up to 2 outputs, or of up to 4 channels on images up to 4x4, keep XLA's for
    every pass as where it runs (``_plan._past_the_image``)."""
    monkeypatch.setattr(_plan, "_dots_run", lambda params, dtype: False)
    groups = x_shape[1] // w_shape[1]
    plan = jaxconv.choose_plan(x_shape, w_shape, padding=padding, groups=groups, platform="cpu")
    assert plan == expected


@pytest.mark.parametrize(
    "x_shape, w_shape, kw, with_dots, without",
    [
        (
            (32, 32, 2, 2),
            (16, 32, 3, 3),
            dict(padding=2),
            ("dots", "xla", "dots"),
            ("gemm", "xla", "matmul"),
        ),
        (
            (32, 16, 2, 2),
            (16, 16, 3, 3),
            dict(padding=1),
            ("dots", "dots", "xla"),
            ("gemm", "gemm", "xla"),
        ),
        # one window (LeNet's 5x5 to 1x1): one matmul, 0.52x "xla" forward+backward against
        # 0.53x for the "dots" it had (2026-12-07)
        ((32, 16, 5, 5), (120, 16, 5, 5), dict(), ("gemm",) * 3, ("gemm",) * 3),
        # XLA's forward pass of up to 16 channels on 2x2 images with 5x5 kernels or larger
        (  # 3x3 once the taps off the 2x2 image are dropped (``_trim.py``): "dots" 0.69x
            (32, 16, 2, 2),  # lax's forward pass, 0.27x forward+backward (2026-12-07)
            (192, 16, 7, 7),
            dict(padding=3),
            ("dots", "dots", "xla"),
            ("gemm", "gemm", "xla"),
        ),
        (  # ... and 0.83x, 0.28x
            (32, 16, 2, 2),
            (192, 16, 5, 5),
            dict(padding=2),
            ("dots", "dots", "xla"),
            ("gemm", "gemm", "xla"),
        ),
        (
            (32, 17, 2, 2),
            (192, 17, 7, 7),
            dict(padding=3),
            ("dots", "dots", "xla"),
            ("gemm", "gemm", "xla"),
        ),
        (
            (32, 16, 3, 3),
            (192, 16, 7, 7),
            dict(padding=3),
            ("dots", "dots", "xla"),
            ("gemm", "gemm", "xla"),
        ),
        (
            (2, 512, 2, 2),
            (512, 512, 3, 3),
            dict(padding=1),
            ("dots", "dots", "xla"),
            ("gemm", "gemm", "gemm"),  # (below 64 images x output pixels)
        ),
        (
            (2, 32, 112, 112),
            (32, 32, 3, 3),
            dict(padding=2),
            ("xla", "dots", "dots"),  # (its input gradient: _plan._dots_on_large_images)
            ("xla", "xla", "matmul"),
        ),
        # a 1x1 layer once trimmed (``_trim.py``)
        ((32, 16, 1, 1), (16, 16, 3, 3), dict(padding=1), ("matmul",) * 3, ("matmul",) * 3),
    ],
)
def test_a_window_longer_than_its_image_takes_dots_in_bfloat16(
    x_shape, w_shape, kw, with_dots, without, monkeypatch
):
    """In bfloat16, with bfloat16 dot instructions, those passes take ``"dots"`` at any
    width, batch and image size (bfloat16 im2col ran 1.3-6.6x XLA's time on narrow
    layers, and ``"dots"`` 0.2-0.8x im2col's and the taps', _plan.py); without them, the
    float32 plan but for the narrow forward pass, which stays on the patches."""
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: True)
    choose = functools.partial(jaxconv.choose_plan, x_shape, w_shape, platform="cpu", **kw)
    monkeypatch.setattr(_dots, "bf16_dots", lambda: True)
    assert choose(dtype="bfloat16") == with_dots
    monkeypatch.setattr(_dots, "bf16_dots", lambda: False)
    assert choose(dtype="bfloat16") == without


def _plan_passes():
    """``benchmarks/plan_passes.py`` as a module (the benchmarks are not a package)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "plan_passes.py"
    spec = importlib.util.spec_from_file_location("plan_passes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "layer,moved",
    [  # strided: the alternative moves the first layer only; unstrided: all four
        (((2, 16, 8, 8), (32, 16, 3, 3), 2, 1, 1, 1), [True, False, False, False]),
        (((2, 32, 8, 8), (32, 32, 3, 3), 1, 1, 1, 1), [True, True, True, True]),
    ],
)
def test_plan_passes_chains_time_the_layers_they_name(layer, moved):
    """``plan_passes.py chains`` (the measurements behind ``_plan._overlapped``): the
    chain is the layer and unstrided ones of its outputs, an alternative moves the
    layers of the first one's kind, and every candidate computes the same stack of
    convolutions and ReLUs; an alternative that moves nothing is not timed again."""
    pp = _plan_passes()
    layers, candidates = pp.chain(layer, [(None, None, "gemm"), (None, None, None)], "float32")
    assert list(candidates) == ["xla", "auto", "=/=/gemm"]  # "=/=/=" is auto's own
    assert len(layers) == pp.CHAIN and layers[0] == layer
    n, o, side = layer[0][0], layer[1][0], 8 // layer[2]
    assert set(layers[1:]) == {((n, o, side, side), (o, o, 3, 3), 1, 1, 1, 1)}
    autos, gemm = candidates["auto"], candidates["=/=/gemm"]
    assert [g != a for g, a in zip(gemm, autos)] == moved
    assert all(g.weight_grad == "gemm" for g, m in zip(gemm, moved) if m)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(layer[0]), jnp.float32)
    weights = [jnp.asarray(rng.standard_normal(s[1]) / 8, jnp.float32) for s in layers]

    def reference(x, weights):
        for s, w in zip(layers, weights):
            y = lax.conv_general_dilated(
                x,
                w,
                (s[2],) * 2,
                [(s[3], s[3])] * 2,
                rhs_dilation=(s[4],) * 2,
                feature_group_count=s[5],
                precision=lax.Precision.HIGHEST,
            )
            x = jax.nn.relu(y)
        return 0.5 * jnp.sum(x**2)

    want = jax.grad(reference, (0, 1))(x, weights)
    for plans in candidates.values():
        got = jax.grad(pp.chain_loss(layers, plans), (0, 1))(x, weights)
        assert_close(got[0], want[0], RTOL["float32"])
        for g, w in zip(got[1], want[1]):
            assert_close(g, w, RTOL["float32"])
