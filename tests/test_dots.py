"""``impl="dots"``: the taps as channels-last dots with float32 sums, whose transposes
are dots of the same kind (``jaxconv/lowering/_dots.py``), and ``auto``'s rule for it
(``_plan._with_dots``). Values and derivatives of every order in float64 are checked
with every lowering elsewhere (tests/test_plans.py, tests/test_autodiff.py)."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from jax.test_util import check_grads

import jaxconv
from jaxconv._checks import conv_params
from jaxconv.lowering import Plan, _cpu, _dots, _eigen
from jaxconv.testing import strategies as S
from tests.helpers import (
    ON_GPU,
    RTOL,
    assert_close,
    conv_kwargs,
    fresh_traces,
    fusions_with,
    lax_conv2d,
)

BF16 = jnp.bfloat16
EPS = float(jnp.finfo(BF16).eps)
# (x shape, w shape, conv2d keywords): unstrided, strided, grouped, 1x1, padded unevenly
LAYERS = [
    ((2, 8, 7, 6), (12, 8, 3, 3), dict(padding=1)),
    ((2, 8, 9, 9), (12, 8, 3, 3), dict(stride=2, padding=1)),
    ((2, 8, 7, 7), (12, 4, 3, 2), dict(groups=2, stride=(1, 2), padding=((2, 0), (1, 1)))),
    ((2, 8, 6, 6), (16, 8, 1, 1), dict(stride=2)),
    # the row-stacked form (``_dots.stacks_rows``): 16 input channels a group
    ((2, 16, 7, 9), (12, 16, 3, 3), dict(padding=1)),
    (
        (2, 32, 9, 8),
        (12, 16, 3, 2),
        dict(groups=2, stride=(2, 1), dilation=(1, 2), padding=((1, 0), (2, 1))),
    ),
]
_DOT = re.compile(
    r"stablehlo\.dot_general .*: \(tensor<\S+x(\w+)>, tensor<\S+x(\w+)>\) -> tensor<\S+x(\w+)>"
)


def _params(in_size, kernel, stride=1, padding=0, dilation=1):
    return conv_params("test", in_size, kernel, stride=stride, padding=padding, dilation=dilation)


def _dots_of(fn, *args) -> list[tuple[str, str, str]]:
    """``(lhs, rhs, result)`` element types of every dot in the lowered program."""
    text = jax.jit(fn).lower(*args).as_text()
    assert "stablehlo.convolution" not in text
    return _DOT.findall(text)


@pytest.mark.parametrize("x_shape,w_shape,kw", LAYERS)
def test_every_pass_and_a_second_order_is_bfloat16_dots_with_float32_sums(x_shape, w_shape, kw):
    """The point of the plan: the forward pass, both gradients and a gradient of a
    gradient contract bfloat16 operands into float32 (JAX's own transpose of such a dot
    contracts a float32 cotangent: float32 operands, which the CPU's bfloat16 dot
    instructions do not take)."""
    rng = np.random.default_rng(0)
    x, w = (jnp.asarray(rng.standard_normal(s), BF16) for s in (x_shape, w_shape))
    conv = functools.partial(jaxconv.conv2d, impl="dots", **kw)
    g = jnp.asarray(rng.standard_normal(conv(x, w).shape), BF16)
    loss = lambda x, w: jnp.sum(conv(x, w).astype(jnp.float32) ** 2)
    programs = {
        "forward": (conv, (x, w)),
        "gradients": (lambda g, x, w: jax.vjp(conv, x, w)[1](g), (g, x, w)),
        "second order": (jax.grad(lambda x, w: jnp.sum(jax.grad(loss)(x, w) ** 2), 1), (x, w)),
    }
    for name, (fn, args) in programs.items():
        dots = _dots_of(fn, *args)
        assert dots and set(dots) == {("bf16", "bf16", "f32")}, (name, set(dots))


@pytest.mark.parametrize(
    "width,stride,rows",
    [(7, 1, (True, False, True)), (10, 1, (True, True, True)), (7, 2, (False, False, False))],
)
def test_dots_sums_bfloat16_in_float32_in_every_pass(width, stride, rows):
    """Long sums of positive products (a bfloat16 accumulator stalls past 256 terms near
    1): the forward pass (1152 products), the input gradient (up to 864) and the weight
    gradient (hundreds) each come within one bfloat16 rounding (half an ulp, plus
    float32's own error) of the exact float64 values, in both forms (``rows``: whether
    the forward pass, input gradient and weight gradient are row-stacked). Within a dot
    the sums are the backend's (``preferred_element_type`` asks for float32); the sums
    over taps are the plan's own (the input gradient's taps summed in bfloat16 were
    1.1e-2 off, its three rows 6.9e-3)."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(0.5, 1, (8, 128, 7, width)), BF16)
    w = jnp.asarray(rng.uniform(0.5, 1, (96, 128, 3, 3)), BF16)
    exact = lambda x, w: jax.lax.conv_general_dilated(x, w, (stride, stride), ((1, 1), (1, 1)))
    conv = functools.partial(jaxconv.conv2d, padding=1, stride=stride, impl="dots")
    g = jnp.asarray(rng.uniform(0.5, 1, conv(x, w).shape), BF16)
    params = _params(x.shape[2:], (3, 3), stride=stride, padding=1)
    mw = g.shape[3]
    assert (
        _dots.stacks_rows((3, 3), params, 128),
        _dots.stacks_rows((3, 3), params, 128, mw),
        _dots.stacks_rows((3, 3), params),
    ) == rows
    ours = jax.jit(lambda x, w, g: (conv(x, w), *jax.vjp(conv, x, w)[1](g)))(x, w, g)
    x64, w64, g64 = (a.astype(jnp.float64) for a in (x, w, g))  # the suite runs with x64
    ref = (exact(x64, w64), *jax.vjp(exact, x64, w64)[1](g64))
    for name, a, b in zip(("forward", "input grad", "weight grad"), ours, ref):
        assert a.dtype == BF16, name
        err = float(jnp.max(jnp.abs(a.astype(jnp.float64) - b) / jnp.abs(b)))
        assert err <= EPS / 2 + 1e-4, (name, err)


def test_the_row_stacked_form_is_taken_where_it_was_measured():
    """``stacks_rows``: kernels of more than one tap at a width stride of 1; a forward
    pass and an input gradient from 16 input channels a group, an input gradient also
    with an output at least four times as wide as the kernel's extra columns, a static
    one."""
    p = functools.partial(_params, (8, 8), (3, 3))
    rows = _dots.stacks_rows
    assert rows((3, 3), p(padding=1), 16) and rows((3, 3), p(padding=1), 16, 8)
    assert rows((3, 3), p(stride=(2, 1)), 64) and rows((1, 3), p(), 64)
    assert not rows((3, 3), p(padding=1), 8)  # 24 products a column: thin
    assert rows((3, 3), p(padding=1))  # a weight gradient: any width, any channels
    assert not rows((1, 1), p(), 64)  # a 1x1 kernel is the input itself
    assert not rows((3, 3), p(stride=(1, 2)), 64)  # strided across: im2col
    assert not rows((3, 3), p(padding=1), 64, 7)  # 9 columns computed for 7
    assert rows((3, 2), p(dilation=(1, 2)), 64, 8) and not rows((3, 2), p(dilation=(1, 3)), 64, 8)
    assert not rows((3, 3), p(padding=1), 64, jax.export.symbolic_shape("w")[0])


def _stacking_sums(cin: int, cout: int, batch: int) -> list:
    """The fusions of a row-stacked layer's training program (a loss on its own output,
    both gradients on ``"dots"``) that both sum the forward pass's kernel columns and
    stack the cotangent: each such fusion sums the columns again for every read (on a
    GPU, whether the program holds a conditional). ``batch`` differs between calls, so
    that no trace is reused across a monkeypatch."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, cin, 8, 8)), BF16)
    w = jnp.asarray(rng.standard_normal((cout, cin, 3, 3)), BF16)

    def loss(x, w):
        y = jaxconv.conv2d(x, w, padding=1, impl="dots")
        return 0.5 * jnp.sum(y.astype(jnp.float32) ** 2)

    text = jax.jit(jax.grad(loss, (0, 1))).lower(x, w).compile().as_text()
    if ON_GPU:
        return [" conditional(" in text]
    return fusions_with(text, "add", "concatenate")


def test_row_stacked_sums_are_summed_once_where_they_were_measured_to_lose(monkeypatch):
    """``FENCED_BELOW_CHANNELS``: on a CPU, the forward pass of few input channels or
    widening sums into a buffer (a fence), which the stacked cotangent reads; without
    the fence (or for 64 -> 64 channels, left unfenced) a fusion sums again while it
    stacks, so the check can fail. Elsewhere the fence is nothing."""
    assert _dots.fences_sums(32, 32) and _dots.fences_sums(64, 256)
    assert not _dots.fences_sums(64, 64) and not _dots.fences_sums(64, 128)
    fenced = [_stacking_sums(32, 32, batch=2), _stacking_sums(16, 64, batch=2)]
    unfenced_by_rule = _stacking_sums(64, 64, batch=2)
    monkeypatch.setattr(_dots, "fence", lambda y, key=None: y)
    unfenced = _stacking_sums(32, 32, batch=3)
    if ON_GPU:  # the fence lowers to nothing there
        assert fenced == [[False], [False]]
        return
    assert unfenced != [] and unfenced_by_rule != []
    assert fenced == [[], []]


@pytest.mark.parametrize("form", ["im2col", "rows"])
def test_both_forms_pass_check_grads_of_order_2(form, monkeypatch):
    """The property suite's layers are thin, so the row-stacked form is forced here
    (``ROWS_MIN_CHANNELS``) or refused, in float64: strided, dilated, grouped, unevenly
    padded, and a 1x3 kernel."""
    monkeypatch.setattr(_dots, "ROWS_MIN_CHANNELS", 1 if form == "rows" else 10**9)
    fresh_traces()  # no trace of the other form reused
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 4, 7, 9)))
    for w_shape, stride, padding, dilation, groups in [
        ((6, 2, 3, 2), (2, 1), ((1, 0), (2, 1)), (1, 2), 2),
        ((3, 4, 1, 3), (1, 1), ((0, 0), (1, 1)), (1, 1), 1),
    ]:
        w = jnp.asarray(rng.standard_normal(w_shape))
        kw = dict(stride=stride, padding=padding, dilation=dilation)
        conv = functools.partial(jaxconv.conv2d, impl="dots", groups=groups, **kw)
        y = conv(x, w)
        params = _params((7, 9), w_shape[2:], **kw)
        assert _dots.stacks_rows(w_shape[2:], params, w_shape[1], y.shape[3]) == (form == "rows")
        exact = jax.lax.conv_general_dilated(
            x, w, stride, padding, rhs_dilation=dilation, feature_group_count=groups,
            precision=jax.lax.Precision.HIGHEST,
        )  # fmt: skip
        assert_close(y, exact, RTOL["float64"])
        check_grads(conv, (x, w), order=2, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)
    fresh_traces()  # none of these traces left to later tests


@settings(max_examples=10)
@given(S.cases())
def test_the_row_stacked_form_equals_lax_in_value_and_gradients(case):
    """Drawn layers (every padding, stride, dilation and group count the suite draws),
    the row-stacked form forced wherever the width stride is 1, float64."""
    x, w = case.arrays()
    ct = jnp.asarray(np.random.default_rng(case.seed).standard_normal(lax_conv2d(x, w, case).shape))

    def value_and_grads(conv):
        return conv(x, w), *jax.vjp(conv, x, w)[1](ct)

    with pytest.MonkeyPatch.context() as patch:
        fresh_traces()  # no trace of these shapes in the other form reused
        patch.setattr(_dots, "ROWS_MIN_CHANNELS", 1)
        ours = value_and_grads(functools.partial(jaxconv.conv2d, **conv_kwargs(case), impl="dots"))
        fresh_traces()  # none left to later examples and tests
    for a, b in zip(ours, value_and_grads(lambda x, w: lax_conv2d(x, w, case))):
        assert_close(a, b, RTOL["float64"])


# ResNet-18's layers in bfloat16, batch 32, and the plans measured for them on a Xeon
# with AMX (benchmarks/plan_passes.py passes resnet18|pointwise|rows --dtype bfloat16), and
# taken on CPUs with AVX512-BF16 too
BF16_DOT_PLANS = [
    ((32, 64, 32, 32), (64, 64, 3, 3), dict(padding=1), ("eigen", "dots", "dots")),
    ((32, 64, 32, 32), (128, 64, 3, 3), dict(stride=2, padding=1), ("dots", "xla", "dots")),
    ((32, 128, 16, 16), (128, 128, 3, 3), dict(padding=1), ("dots",) * 3),
    ((32, 64, 16, 16), (64, 64, 3, 3), dict(padding=1), ("dots",) * 3),
    ((8, 256, 32, 32), (256, 256, 3, 3), dict(padding=1), ("xla", "dots", "dots")),
    ((32, 32, 16, 16), (32, 32, 3, 3), dict(padding=1), ("dots",) * 3),
    ((32, 16, 16, 16), (16, 16, 3, 3), dict(padding=1), None),  # 16 channels: too thin
    ((32, 128, 16, 16), (256, 128, 3, 3), dict(stride=2, padding=1), ("dots", "xla", "dots")),
    # strided to more than 16x16 output pixels: the gradients only (ResNet-50's 28x28)
    ((4, 128, 56, 56), (128, 128, 3, 3), dict(stride=2, padding=1), ("xla", "xla", "dots")),
    ((4, 256, 56, 56), (256, 256, 3, 3), dict(stride=2, padding=1), ("xla", "dots", "dots")),
    ((32, 256, 8, 8), (256, 256, 3, 3), dict(padding=1), ("dots",) * 3),
    ((32, 512, 4, 4), (512, 512, 3, 3), dict(padding=1), ("dots",) * 3),
    ((32, 128, 16, 16), (256, 128, 1, 1), dict(stride=2), ("matmul", "dots", "dots")),
    ((32, 128, 16, 16), (128, 128, 1, 1), {}, ("gemm", "dots", "dots")),  # pointwise
    ((32, 3, 32, 32), (64, 3, 3, 3), dict(padding=1), None),  # a stem
    ((32, 16, 32, 32), (16, 16, 1, 1), {}, None),  # 1x1 of 16 channels: too thin
    # 8 rows, too short, but a kernel longer than the image (_plan._past_the_image)
    ((2, 512, 2, 2), (512, 512, 3, 3), dict(padding=1), ("dots", "dots", "xla")),
    # beyond 32x32 output pixels: the weight gradient, and the input gradient up to 2**20
    # input elements an image (measured on eight layers up to 224x224)
    ((2, 128, 112, 112), (128, 128, 3, 3), dict(padding=1), ("xla", "xla", "dots")),
    ((2, 256, 56, 56), (256, 256, 3, 3), dict(padding=1), ("xla", "dots", "dots")),
    ((2, 128, 64, 64), (64, 128, 3, 3), dict(padding=1), ("xla", "dots", "dots")),  # U-Net's
    ((2, 16, 64, 64), (16, 16, 3, 3), dict(padding=1), None),  # 16 channels: too thin
    ((2, 128, 112, 112), (128, 128, 3, 3), dict(padding=1, stride=2), None),  # not measured
    ((32, 256, 8, 8), (256, 256, 5, 5), dict(padding=2), None),  # 5x5: not measured
    ((32, 256, 8, 8), (256, 256, 3, 3), dict(padding=2, dilation=2), None),  # dilated
]


@pytest.mark.parametrize("x_shape,w_shape,kw,plan", BF16_DOT_PLANS)
def test_auto_takes_dots_for_bfloat16_dot_instructions_where_it_was_measured(
    x_shape, w_shape, kw, plan, monkeypatch
):
    """With bfloat16 dot instructions, bfloat16 layers take ``"dots"`` in the passes of
    the table (``None``: the plan without them); without them, and in float32 or float16,
    no layer does."""
    choose = functools.partial(jaxconv.choose_plan, x_shape, w_shape, platform="cpu", **kw)
    monkeypatch.setattr(_dots, "bf16_dots", lambda: False)
    without = choose(dtype="bfloat16")
    assert "dots" not in without
    monkeypatch.setattr(_dots, "bf16_dots", lambda: True)
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: True)  # as on that Xeon
    if plan is None:
        assert "dots" not in choose(dtype="bfloat16")
    else:
        assert choose(dtype="bfloat16") == Plan(*plan)
    for dtype in ("float32", "float16"):
        assert "dots" not in choose(dtype=dtype)


def test_bf16_dots_needs_a_cpu_flag_and_ynnpack_dots(tmp_path, monkeypatch):
    """``bf16_dots()`` reads the CPU's flags: neither ``amx_bf16`` nor ``avx512_bf16`` (or
    no flags file), no; with either, the answer is whether XLA hands a bfloat16 dot to
    YNNPACK, on a CPU only."""
    flags = tmp_path / "cpuinfo"
    try:
        for text, expected in [
            ("flags\t\t: fpu avx512f avx512_vnni avx512_fp16\n", False),
            (None, False),
            ("flags\t\t: fpu avx512f avx512_bf16\n", None),
            ("flags\t\t: fpu avx512f amx_bf16 amx_tile\n", None),
        ]:
            if text is not None:
                flags.write_text(text)
            monkeypatch.setattr(_cpu, "CPU_INFO", str(flags if text else tmp_path / "none"))
            _dots.bf16_dots.cache_clear()
            if expected is None:  # the flag: the compiled dot decides
                x = jax.ShapeDtypeStruct((64, 64), BF16)
                dot = lambda a, b: jax.lax.dot(a, b, preferred_element_type=jnp.float32)
                text = jax.jit(dot).lower(x, x).compile().as_text()
                expected = not ON_GPU and _eigen.YNN_FUSION in text
            assert _dots.bf16_dots() == expected, text
    finally:
        _dots.bf16_dots.cache_clear()
