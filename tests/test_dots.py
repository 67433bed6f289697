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

import jaxconv
from jaxconv.lowering import Plan, _dots, _eigen
from tests.helpers import ON_GPU

BF16 = jnp.bfloat16
EPS = float(jnp.finfo(BF16).eps)
# (x shape, w shape, conv2d keywords): unstrided, strided, grouped, 1x1, padded unevenly
LAYERS = [
    ((2, 8, 7, 6), (12, 8, 3, 3), dict(padding=1)),
    ((2, 8, 9, 9), (12, 8, 3, 3), dict(stride=2, padding=1)),
    ((2, 8, 7, 7), (12, 4, 3, 2), dict(groups=2, stride=(1, 2), padding=((2, 0), (1, 1)))),
    ((2, 8, 6, 6), (16, 8, 1, 1), dict(stride=2)),
]
_DOT = re.compile(
    r"stablehlo\.dot_general .*: \(tensor<\S+x(\w+)>, tensor<\S+x(\w+)>\) -> tensor<\S+x(\w+)>"
)


def _dots_of(fn, *args) -> list[tuple[str, str, str]]:
    """``(lhs, rhs, result)`` element types of every dot in the lowered program."""
    text = jax.jit(fn).lower(*args).as_text()
    assert "stablehlo.convolution" not in text
    return _DOT.findall(text)


@pytest.mark.parametrize("x_shape,w_shape,kw", LAYERS)
def test_every_pass_and_a_second_order_is_bfloat16_dots_with_float32_sums(x_shape, w_shape, kw):
    """The point of the plan: the forward pass, both gradients and a gradient of a
    gradient contract bfloat16 operands into float32 (JAX's own transpose of such a dot
    contracts a float32 cotangent: float32 operands, which AMX does not take)."""
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


def test_dots_sums_bfloat16_in_float32_in_every_pass():
    """Long sums of positive products (a bfloat16 accumulator stalls past 256 terms near
    1): the forward pass (1152 products), the input gradient (864) and the weight gradient
    (1568) each come within one bfloat16 rounding of the exact float64 values. Within a
    dot the sums are the backend's (``preferred_element_type`` asks for float32); the
    input gradient's sum over taps is the plan's own (summed in bfloat16, 1.1e-2 off)."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(0.5, 1, (8, 128, 7, 7)), BF16)
    w = jnp.asarray(rng.uniform(0.5, 1, (96, 128, 3, 3)), BF16)
    g = jnp.asarray(rng.uniform(0.5, 1, (8, 96, 7, 7)), BF16)
    exact = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))
    conv = functools.partial(jaxconv.conv2d, padding=1, impl="dots")
    ours = jax.jit(lambda x, w, g: (conv(x, w), *jax.vjp(conv, x, w)[1](g)))(x, w, g)
    x64, w64, g64 = (a.astype(jnp.float64) for a in (x, w, g))  # the suite runs with x64
    ref = (exact(x64, w64), *jax.vjp(exact, x64, w64)[1](g64))
    for name, a, b in zip(("forward", "input grad", "weight grad"), ours, ref):
        assert a.dtype == BF16, name
        err = float(jnp.max(jnp.abs(a.astype(jnp.float64) - b) / jnp.abs(b)))
        assert err <= EPS, (name, err)


# ResNet-18's layers in bfloat16, batch 32, and the plans measured for them on a Xeon
# with AMX (benchmarks/plan_passes.py passes resnet18|pointwise --dtype bfloat16)
AMX_PLANS = [
    ((32, 64, 32, 32), (64, 64, 3, 3), dict(padding=1), None),  # "eigen" stays
    ((32, 64, 32, 32), (128, 64, 3, 3), dict(stride=2, padding=1), ("dots", "xla", "dots")),
    ((32, 128, 16, 16), (128, 128, 3, 3), dict(padding=1), ("xla", "xla", "dots")),
    ((32, 128, 16, 16), (256, 128, 3, 3), dict(stride=2, padding=1), ("dots", "xla", "dots")),
    ((32, 256, 8, 8), (256, 256, 3, 3), dict(padding=1), ("dots",) * 3),
    ((32, 512, 4, 4), (512, 512, 3, 3), dict(padding=1), ("dots",) * 3),
    ((32, 128, 16, 16), (256, 128, 1, 1), dict(stride=2), ("matmul", "dots", "dots")),
    ((32, 128, 16, 16), (128, 128, 1, 1), {}, ("gemm", "dots", "dots")),  # pointwise
    ((32, 3, 32, 32), (64, 3, 3, 3), dict(padding=1), None),  # a stem: too thin
    ((32, 16, 32, 32), (16, 16, 1, 1), {}, None),  # 1x1 of 16 channels: too thin
    ((2, 512, 2, 2), (512, 512, 3, 3), dict(padding=1), None),  # 8 rows: too short
    ((2, 128, 112, 112), (128, 128, 3, 3), dict(padding=1), None),  # too large an image
    ((32, 256, 8, 8), (256, 256, 5, 5), dict(padding=2), None),  # 5x5: not measured
    ((32, 256, 8, 8), (256, 256, 3, 3), dict(padding=2, dilation=2), None),  # dilated
    ((32, 256, 8, 8), (256, 64, 3, 3), dict(padding=1, groups=4), None),  # grouped
]


@pytest.mark.parametrize("x_shape,w_shape,kw,plan", AMX_PLANS)
def test_auto_takes_dots_for_bfloat16_on_amx_where_it_was_measured(
    x_shape, w_shape, kw, plan, monkeypatch
):
    """With AMX, bfloat16 layers take ``"dots"`` in the passes of the table (``None``:
    the plan without AMX); without AMX, and in float32 or float16, no layer does."""
    choose = functools.partial(jaxconv.choose_plan, x_shape, w_shape, platform="cpu", **kw)
    monkeypatch.setattr(_dots, "amx", lambda: False)
    without = choose(dtype="bfloat16")
    assert "dots" not in without
    monkeypatch.setattr(_dots, "amx", lambda: True)
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: True)  # as on that Xeon
    if plan is None:
        assert "dots" not in choose(dtype="bfloat16")
    else:
        assert choose(dtype="bfloat16") == Plan(*plan)
    for dtype in ("float32", "float16"):
        assert "dots" not in choose(dtype=dtype)


def test_amx_needs_the_cpu_flag_and_ynnpack_dots(tmp_path, monkeypatch):
    """``amx()`` reads the CPU's flags: no ``amx_bf16`` (or no flags file), no AMX; with
    it, the answer is whether XLA hands a bfloat16 dot to YNNPACK, on a CPU only."""
    flags = tmp_path / "cpuinfo"
    try:
        for text, expected in [
            ("flags\t\t: fpu avx512f avx512_bf16\n", False),
            (None, False),
            ("flags\t\t: fpu avx512f amx_bf16 amx_tile\n", None),
        ]:
            if text is not None:
                flags.write_text(text)
            monkeypatch.setattr(_dots, "CPU_FLAGS", str(flags if text else tmp_path / "none"))
            _dots.amx.cache_clear()
            if expected is None:  # the flag: the compiled dot decides
                x = jax.ShapeDtypeStruct((64, 64), BF16)
                dot = lambda a, b: jax.lax.dot(a, b, preferred_element_type=jnp.float32)
                text = jax.jit(dot).lower(x, x).compile().as_text()
                expected = not ON_GPU and _eigen.YNN_FUSION in text
            assert _dots.amx() == expected, text
    finally:
        _dots.amx.cache_clear()
