"""``impl="eigen"``: XLA's CPU convolution shaped to run on Eigen rather than YNNPACK
(``jaxconv/lowering/_eigen.py``), and ``auto``'s rule for it (``_plan.py``)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv
from jaxconv.cli import bench
from jaxconv.lowering import Plan, _dots, _eigen, _plan
from tests.helpers import ON_GPU, assert_close, hlo_ops, on_each_vendor

F32 = 2e-5  # float32 against float32 lax: different kernels, different sums

CONFIGS = [  # (x shape, w shape, conv2d keywords): every shape has > 16 channels
    ((3, 24, 10, 9), (20, 24, 3, 3), dict(padding=1)),  # "same"
    ((3, 24, 10, 9), (20, 24, 3, 3), {}),  # "valid": the input gradient needs no shaping
    ((2, 20, 11, 12), (34, 20, 3, 2), dict(padding=((1, 2), (0, 1)), dilation=(2, 1))),
    ((2, 20, 11, 12), (18, 20, 3, 3), dict(stride=(2, 1), padding=1)),  # only W can widen
    ((2, 20, 11, 12), (18, 20, 3, 3), dict(stride=(1, 2), padding=(2, 0))),  # only H
    ((2, 20, 11, 12), (18, 20, 3, 3), dict(stride=2, padding=1)),  # weight gradient only
    ((37, 17, 6, 6), (40, 17, 3, 3), dict(padding=1)),  # 3 x 3 blocks, ragged edges
    ((2, 20, 5, 5), (18, 20, 1, 1), {}),
]


def _data(x_shape, w_shape, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(jnp.asarray(rng.standard_normal(s), jnp.float32) for s in (x_shape, w_shape))


@pytest.mark.parametrize("x_shape,w_shape,kw", CONFIGS)
def test_eigen_equals_xla_in_values_and_derivatives_of_two_orders(x_shape, w_shape, kw):
    """Forward, both gradients, a JVP and (on the four layers padded by 1) a second-order
    gradient of ``"eigen"`` equal ``"xla"``'s (float32, the only dtype it shapes)."""
    x, w = _data(x_shape, w_shape)
    conv = {i: functools.partial(jaxconv.conv2d, impl=i, **kw) for i in ("xla", "eigen")}
    y = {i: jax.jit(c)(x, w) for i, c in conv.items()}
    assert_close(y["eigen"], y["xla"], F32)
    g, dx, dw = _data(y["xla"].shape, x_shape, seed=1) + _data(w_shape, w_shape, seed=2)[:1]
    vjp = {
        i: jax.jit(lambda x, w, g, c=c: jax.vjp(c, x, w)[1](g))(x, w, g) for i, c in conv.items()
    }
    jvp = {
        i: jax.jit(lambda x, w, c=c: jax.jvp(c, (x, w), (dx, dw))[1])(x, w) for i, c in conv.items()
    }
    for ours, ref in zip(vjp["eigen"], vjp["xla"]):
        assert_close(ours, ref, F32)
    assert_close(jvp["eigen"], jvp["xla"], F32)

    def second(c):  # d/dw of |d/dx loss|^2: both gradients differentiated again
        loss = lambda x, w: 0.5 * jnp.sum(jnp.tanh(c(x, w)) ** 2)
        return jax.jit(jax.grad(lambda x, w: jnp.sum(jax.grad(loss)(x, w) ** 2), 1))(x, w)

    if kw.get("padding") == 1:  # second order here; first order on the rest
        assert_close(second(conv["eigen"]), second(conv["xla"]), 1e-4)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_eigen_keeps_every_pass_off_ynnpack_where_xla_does_not(dtype):
    """The probe's answer holds on a real layer: ``"xla"``'s program has YNNPACK fusions
    exactly when ``ynn_convolutions()`` says so, and ``"eigen"``'s forward pass, input
    gradient and weight gradient have none, in both dtypes it shapes."""
    x, w = (a.astype(dtype) for a in _data((4, 32, 16, 16), (48, 32, 3, 3)))
    g = _data((4, 48, 16, 16), (1,))[0].astype(dtype)

    def programs(impl):
        conv = functools.partial(jaxconv.conv2d, padding=1, impl=impl)
        fns = {
            "forward": (conv, (x, w)),
            "input_grad": (lambda g, w: jax.vjp(lambda x: conv(x, w), x)[1](g)[0], (g, w)),
            "weight_grad": (lambda g, x: jax.vjp(lambda w: conv(x, w), w)[1](g)[0], (g, x)),
        }
        return {p: jax.jit(f).lower(*a).compile().as_text() for p, (f, a) in fns.items()}

    ynn = _eigen.ynn_convolutions()
    assert ynn == (not ON_GPU and _eigen.YNN_FUSION in programs("xla")["forward"])
    for p, text in programs("eigen").items():
        assert _eigen.YNN_FUSION not in text, p


def test_eigen_in_bfloat16_equals_xla_and_accumulates_in_float32():
    """bfloat16, which XLA's CPU backend convolves in float32 between conversions on
    Eigen as on YNNPACK: every pass within one bfloat16 rounding of ``"xla"``'s, and a
    long sum of positive terms (32 x 512 x 3 x 3 products near 0.25, which a bfloat16
    accumulator would stall on past 128) within one rounding of the exact sum."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(0, 1, (2, 512, 6, 6)), jnp.bfloat16)
    w = jnp.asarray(rng.uniform(0, 1, (32, 512, 3, 3)), jnp.bfloat16)
    exact = jax.lax.conv_general_dilated(
        x.astype(jnp.float64), w.astype(jnp.float64), (1, 1), ((1, 1), (1, 1))
    )
    conv = functools.partial(jaxconv.conv2d, padding=1, impl="eigen")
    forward = jax.jit(conv)
    if _eigen.ynn_convolutions():  # shaped here: off YNNPACK
        assert _eigen.YNN_FUSION not in forward.lower(x, w).compile().as_text()
    y = forward(x, w).astype(jnp.float64)
    eps = float(jnp.finfo(jnp.bfloat16).eps)
    assert float(jnp.max(jnp.abs(y - exact) / jnp.abs(exact))) <= eps
    g = jnp.asarray(rng.standard_normal(y.shape), jnp.bfloat16)
    grads = {
        i: jax.jit(lambda x, w, g, i=i: jax.vjp(
            functools.partial(jaxconv.conv2d, padding=1, impl=i), x, w)[1](g))(x, w, g)
        for i in ("eigen", "xla")
    }  # fmt: skip
    for ours, ref in zip(grads["eigen"], grads["xla"]):
        assert ours.dtype == jnp.bfloat16
        assert_close(ours.astype(jnp.float32), ref.astype(jnp.float32), 2 * eps)


@pytest.mark.parametrize("images,out,blocks", [(32, 64, 8), (64, 64, 16), (80, 64, 1), (16, 80, 1)])
def test_the_weight_gradient_is_blocked_up_to_sixteen_blocks_of_narrow_layers(images, out, blocks):
    """The weight gradient runs as one convolution per block of 16 images x 16 output
    channels, up to 16 blocks and 64 channels; beyond either it is XLA's own single
    convolution."""
    x, w = _data((images, 32, 8, 8), (out, 32, 3, 3))
    g, _ = _data((images, out, 8, 8), (1,))
    grad = lambda g, x: jax.vjp(lambda w: jaxconv.conv2d(x, w, padding=1, impl="eigen"), w)[1](g)
    expected = blocks if _eigen.ynn_convolutions() else 1
    assert hlo_ops(grad, g, x).count("convolution") == expected
    ref = jax.vjp(lambda w: jaxconv.conv2d(x, w, padding=1, impl="xla"), w)[1](g)[0]
    assert_close(jax.jit(grad)(g, x)[0], ref, F32)


SUITE_PLANS_YNN = {  # float32 on a CPU whose XLA uses YNNPACK
    "lesson": Plan("eigen", "xla", "matmul"),  # unpadded: only its forward pass
    "3x3-64": Plan("eigen", "eigen", "gemm"),  # 200 K a image: too large for blocks
    "3x3-256": Plan("xla", "xla", "xla"),
    "1x1": Plan("gemm", "gemm", "gemm"),
    "stem": Plan("xla", "xla", "gemm"),  # 7x7: im2col for the weight gradient
    "depthwise": Plan("matmul", "matmul", "matmul"),
}


@pytest.mark.parametrize("case", bench.SUITE, ids=lambda c: c.key)
def test_auto_steers_float32_layers_to_eigen_only_where_ynnpack_is_used(case, monkeypatch):
    """With YNNPACK in use, float32 suite layers take the plans of _plan.py's Eigen rule,
    and bfloat16 ones its forward pass and input gradient; float64, float16 and a CPU
    without YNNPACK never take ``"eigen"``. (Without bfloat16 dot instructions, whose
    ``"dots"`` takes some of those passes in bfloat16: tests/test_dots.py.)"""
    monkeypatch.setattr(_dots, "bf16_dots", lambda: False)
    kw = dict(stride=case.stride, padding=case.pad, groups=case.groups)
    shapes = (
        (case.n_cpu, case.ci, case.side, case.side),
        (case.co, case.ci // case.groups, case.k, case.k),
    )
    for ynn in (True, False):
        monkeypatch.setattr(_eigen, "ynn_convolutions", lambda ynn=ynn: ynn)
        plan = jaxconv.choose_plan(*shapes, platform="cpu", **kw)
        assert (plan == SUITE_PLANS_YNN[case.key]) if ynn else ("eigen" not in plan)
        half = jaxconv.choose_plan(*shapes, platform="cpu", dtype="bfloat16", **kw)
        assert [p == "eigen" for p in half[:2]] == [p == "eigen" for p in plan[:2]]
        for dtype in ("float64", "float16"):
            assert "eigen" not in jaxconv.choose_plan(*shapes, platform="cpu", dtype=dtype, **kw)


@pytest.mark.parametrize(
    "x_shape,w_shape,kw,plan",
    [
        ((32, 64, 32, 32), (64, 64, 3, 3), {}, ("eigen", "eigen", "eigen")),  # ResNet-18
        ((128, 64, 32, 32), (64, 64, 3, 3), {}, ("eigen", "eigen", "gemm")),  # 32 blocks
        ((16, 96, 32, 32), (96, 96, 3, 3), {}, ("eigen", "eigen", "gemm")),  # wider
        ((4, 32, 112, 112), (32, 32, 3, 3), {}, ("eigen", "eigen", "gemm")),  # 401 K a image
        ((32, 128, 16, 16), (128, 128, 3, 3), {}, ("xla", "xla", "xla")),  # 128: 1.34-1.41x
        ((6, 128, 28, 28), (128, 128, 3, 3), {}, ("xla", "xla", "xla")),  # 4704 rows
        ((32, 64, 32, 32), (128, 64, 3, 3), {"stride": 2}, ("xla", "xla", "xla")),  # strided
        ((16, 64, 14, 14), (64, 64, 3, 3), {}, ("xla", "xla", "xla")),  # 3136 rows
        ((4, 32, 32, 32), (32, 32, 3, 3), {}, ("xla", "xla", "xla")),  # 4096 rows
        ((2, 24, 7, 7), (48, 24, 3, 3), {}, ("xla", "xla", "xla")),  # 98 rows
        ((32, 24, 14, 14), (32, 24, 5, 5), {}, ("eigen", "eigen", "xla")),  # 6272 rows
        ((32, 48, 32, 32), (8, 48, 7, 7), {}, ("xla", "eigen", "xla")),  # 8 outputs
        ((8, 48, 112, 112), (8, 48, 3, 3), {"padding": 0}, ("eigen", "xla", "xla")),  # 8 out
        ((8, 128, 34, 34), (32, 128, 3, 3), {"padding": 0}, ("eigen", "xla", "gemm")),
        ((16, 32, 64, 64), (96, 32, 5, 5), {"stride": 2}, ("xla", "xla", "xla")),  # strided
        ((8, 32, 64, 64), (96, 32, 5, 5), {"stride": 2}, ("xla", "xla", "xla")),  # 8 K rows
        ((2, 24, 56, 56), (96, 24, 5, 5), {}, ("eigen", "eigen", "xla")),  # 6 K rows, 5x5
        ((2, 100, 68, 68), (100, 100, 5, 5), {"padding": 0}, ("eigen", "xla", "matmul")),
        ((2, 48, 64, 64), (96, 48, 7, 7), {}, ("eigen", "eigen", "matmul")),  # 8 K rows, 7x7
        ((1, 256, 28, 28), (256, 256, 7, 7), {"padding": 0}, ("eigen", "xla", "xla")),  # 484
        # unpadded to fewer than 6x6 output pixels: XLA's forward pass (1.2-1.5x)
        ((32, 128, 7, 7), (256, 128, 3, 3), {"padding": 0}, ("xla", "xla", "xla")),  # 5x5
        ((32, 128, 8, 8), (256, 128, 3, 3), {"padding": 0}, ("eigen", "xla", "xla")),  # 6x6
        # 256 wide, up to 3x3, up to 400 images x output pixels: XLA's forward pass
        ((1, 256, 14, 14), (256, 256, 3, 3), {"padding": 0}, ("xla", "xla", "xla")),  # 1.08-1.23x
        ((1, 256, 22, 22), (256, 256, 3, 3), {"padding": 0}, ("xla", "xla", "xla")),  # 400 rows
        ((3, 256, 14, 14), (256, 256, 3, 3), {"padding": 0}, ("eigen", "xla", "xla")),  # 0.98x
        ((1, 64, 14, 14), (256, 64, 3, 3), {"padding": 0}, ("xla", "xla", "xla")),  # 1.11x
        ((1, 192, 14, 14), (192, 192, 3, 3), {"padding": 0}, ("eigen", "xla", "xla")),  # 0.97x
        ((1, 256, 16, 16), (256, 256, 5, 5), {"padding": 0}, ("eigen", "xla", "xla")),  # 5x5
        # kernels from 5x5 on fewer than 48 inputs: from 12x12 (16->48 7x7 to 8x8 1.18-1.66x)
        ((8, 16, 14, 14), (48, 16, 7, 7), {"padding": 0}, ("xla", "xla", "xla")),  # 8x8
        ((8, 16, 18, 18), (48, 16, 7, 7), {"padding": 0}, ("eigen", "xla", "xla")),  # 12x12
        ((8, 47, 14, 14), (48, 47, 7, 7), {"padding": 0}, ("xla", "xla", "xla")),
        ((8, 48, 14, 14), (48, 48, 7, 7), {"padding": 0}, ("eigen", "xla", "xla")),
        ((16, 16, 12, 12), (48, 16, 5, 5), {"padding": 0}, ("xla", "xla", "xla")),  # 1.71x
        ((16, 16, 13, 13), (48, 16, 4, 4), {"padding": 0}, ("eigen", "xla", "xla")),  # 16 taps
        # from 5x5, up to 96x96 output pixels (where 3x3 goes to 401 K a image, 112x112)
        ((2, 32, 112, 112), (24, 32, 7, 7), {}, ("xla", "xla", "xla")),
        ((2, 32, 112, 112), (24, 32, 5, 5), {}, ("xla", "xla", "xla")),
        ((4, 32, 80, 80), (32, 32, 7, 7), {}, ("eigen", "eigen", "gemm")),
        # 1.8 M MACs; the output (2x2) shorter than the kernel, 24 inputs: "dots"'
        # gradients (_plan.py: 0.35-0.39x "xla"'s forward+backward, gemm's 0.56-0.58x)
        ((8, 24, 4, 4), (256, 24, 3, 3), {"padding": 0}, ("xla", "dots", "dots")),
        ((16, 64, 28, 28), (8, 64, 3, 3), {}, ("xla", "eigen", "xla")),  # small images, thin
        ((2, 32, 112, 112), (32, 32, 3, 3), {}, ("eigen", "eigen", "gemm")),  # 2 images
        ((16, 64, 32, 32), (8, 64, 3, 3), {}, ("xla", "eigen", "xla")),  # thin, no blocks
        ((16, 64, 32, 32), (32, 64, 5, 5), {}, ("eigen", "eigen", "xla")),  # thin
        ((4, 256, 56, 56), (32, 256, 3, 3), {}, ("xla", "xla", "xla")),  # thin
        ((4, 256, 56, 56), (48, 256, 3, 3), {}, ("xla", "xla", "gemm")),
        ((8, 384, 64, 64), (8, 384, 3, 3), {"dilation": 2}, ("xla", "xla", "xla")),  # thin
        ((32, 64, 16, 16), (64, 64, 3, 3), {}, ("eigen", "eigen", "matmul")),
        ((32, 128, 16, 16), (256, 128, 3, 3), {"stride": 2}, ("xla", "xla", "xla")),  # 256 out
        ((4, 128, 28, 28), (128, 128, 3, 3), {}, ("xla", "xla", "xla")),
        ((32, 256, 8, 8), (256, 256, 3, 3), {}, ("xla", "xla", "xla")),
        ((2, 32, 128, 128), (32, 32, 3, 3), {}, ("xla", "xla", "xla")),  # 524 K, 32 channels
        ((2, 64, 128, 128), (64, 64, 3, 3), {}, ("xla", "xla", "gemm")),  # 64 channels
        ((6, 64, 64, 64), (64, 64, 3, 3), {}, ("eigen", "eigen", "gemm")),  # 262 K: no blocks
        ((6, 32, 64, 64), (32, 32, 3, 3), {}, ("eigen", "eigen", "eigen")),  # 131 K: blocks
        ((1, 64, 224, 224), (64, 64, 3, 3), {}, ("xla", "xla", "gemm")),
        ((4, 128, 30, 30), (128, 128, 3, 3), {"padding": 0}, ("eigen", "xla", "xla")),
        ((4, 32, 149, 149), (32, 32, 3, 3), {"padding": 0}, ("eigen", "xla", "gemm")),
        ((4, 512, 9, 9), (512, 512, 3, 3), {"padding": 0}, ("xla", "xla", "xla")),
        ((2, 64, 32, 32), (64, 64, 3, 3), {"dilation": 6}, ("xla", "xla", "xla")),  # 2 K rows
        ((32, 3, 32, 32), (64, 3, 3, 3), {}, ("xla", "xla", "xla")),  # a stem: no blocks
        ((2, 3, 224, 224), (64, 3, 3, 3), {}, ("xla", "xla", "xla")),  # a stem, 3.2 M a image
        ((4, 3, 224, 224), (64, 3, 7, 7), {"stride": 2}, ("xla", "xla", "gemm")),  # 7x7 stem
        ((2, 1, 128, 128), (32, 1, 3, 3), {}, ("xla", "xla", "xla")),  # dense, not depthwise
        ((4, 16, 64, 64), (256, 16, 5, 5), {}, ("xla", "xla", "gemm")),  # 256 out
        ((32, 64, 64, 64), (128, 64, 3, 3), {"stride": 2}, ("xla", "xla", "gemm")),  # no axis
    ],
)
def test_eigen_rule_follows_its_measurements(x_shape, w_shape, kw, plan, monkeypatch):
    """_plan.py's CPU rules with YNNPACK in use, on layers they were measured on
    (benchmarks/eigen_passes.py, benchmarks/auto_sweep.py, benchmarks/plan_passes.py):
    "same" padding unless named."""
    monkeypatch.setattr(_eigen, "ynn_convolutions", lambda: True)
    kw = {"padding": "same", **kw}
    got = jaxconv.choose_plan(x_shape, w_shape, platform="cpu", **kw)
    assert got == plan


@pytest.mark.parametrize(
    "x_shape,w_shape,dtype,amd",
    [  # 4 layers in a row, forward+backward, XLA's weight gradient / the blocks' on the
        # Zen 5 EPYC (``plan_passes.py chains blocked``)
        ((32, 64, 32, 32), (64, 64, 3, 3), "float32", "xla"),  # ResNet-18's: 0.87-0.90x
        ((8, 32, 32, 32), (32, 32, 3, 3), "float32", "xla"),  # 0.89x
        ((6, 32, 64, 64), (32, 32, 3, 3), "float32", "xla"),  # 0.82x
        ((16, 48, 40, 40), (48, 48, 3, 3), "float32", "xla"),  # 0.85x
        ((4, 16, 48, 48), (32, 16, 3, 3), "float32", "xla"),  # 0.67x
        ((11, 32, 48, 48), (32, 32, 3, 3), "float32", "eigen"),  # odd: 1.34x
        ((7, 32, 32, 32), (32, 32, 3, 3), "float32", "eigen"),  # 1.32x
        ((32, 24, 32, 32), (24, 24, 3, 3), "float32", "eigen"),  # 24 channels: 1.22x
        ((64, 32, 32, 32), (64, 32, 3, 3), "float32", "eigen"),  # 64 images: 1.07x
    ],
)
def test_amds_blocks_give_way_to_xlas_weight_gradient_between_layers(
    x_shape, w_shape, dtype, amd, monkeypatch
):
    """On AMD's CPUs, a float32 layer within Eigen's blocks (``_eigen.blocked_pays``) of
    an even batch of up to 32 images and channels multiples of 16 takes XLA's weight
    gradient, which runs beside the next layer's input gradient (``_plan._overlapped``);
    the Xeons' rules, and half precision (not measured there), keep the blocks."""
    plans = on_each_vendor(
        monkeypatch,
        lambda: jaxconv.choose_plan(x_shape, w_shape, padding=1, platform="cpu", dtype=dtype),
    )
    assert all(p.forward == p.input_grad == "eigen" for p in plans), plans  # either way
    assert [p.weight_grad for p in plans] == ["eigen", amd], plans


def test_half_precision_keeps_eigens_blocks_on_amd(monkeypatch):
    """bfloat16 was not measured between layers: a layer whose plan takes the blocks
    (here where its passes stay off ``"dots"``) keeps them on either vendor."""
    monkeypatch.setattr(_dots, "bf16_dots", lambda: False)
    plans = on_each_vendor(
        monkeypatch,
        lambda: jaxconv.choose_plan(
            (32, 16, 32, 32), (32, 16, 3, 3), padding=1, platform="cpu", dtype="bfloat16"
        ),
    )
    assert plans == [("eigen", "eigen", "eigen")] * 2, plans


@pytest.mark.parametrize(
    "x_shape,w_shape",
    [  # alone / four in a row, time / all-"xla"'s, "matmul"'s then XLA's weight gradient
        ((32, 64, 16, 16), (64, 64, 3, 3)),  # 0.78x / 0.89x and 0.82x / 0.74x
        ((8, 32, 28, 28), (32, 32, 3, 3)),  # 1.44x / 0.92x and 1.50x / 0.83x
        ((128, 48, 8, 8), (48, 48, 3, 3)),  # 1.25x / 0.94x and 1.08x / 0.78x
        ((16, 24, 24, 24), (24, 24, 3, 3)),  # 0.96x / 0.94x and 1.32x / 0.82x
    ],
)
def test_amds_float32_keeps_xlas_weight_gradient_on_small_images(x_shape, w_shape, monkeypatch):
    """Narrow layers on images below 32x32 take ``"matmul"``'s weight gradient on the
    Xeons; on AMD's CPUs float32 keeps XLA's (``plan_passes.py plans|chains
    narrow_small``), and bfloat16 is left as the rules had it."""
    plans = on_each_vendor(
        monkeypatch, lambda: jaxconv.choose_plan(x_shape, w_shape, padding=1, platform="cpu")
    )
    assert [p.weight_grad for p in plans] == ["matmul", "xla"], plans
    monkeypatch.setattr(_dots, "bf16_dots", lambda: False)  # the rule, not "dots"
    half = on_each_vendor(
        monkeypatch,
        lambda: jaxconv.choose_plan(x_shape, w_shape, padding=1, platform="cpu", dtype="bfloat16"),
    )
    assert half[0] == half[1]
    assert (half[0].weight_grad == "matmul") == (max(w_shape[:2]) >= 64)  # _plan.SMALL_HALF


@pytest.mark.parametrize(
    "x_shape,w_shape,amd",
    [  # four in a row, time / all-"xla"'s, "gemm"'s weight gradient / XLA's
        ((8, 64, 56, 56), (64, 64, 3, 3), "xla"),  # 0.78x / 0.71x
        ((3, 64, 96, 96), (64, 64, 3, 3), "xla"),  # YNNPACK's passes: 1.15x / 1.00x
        ((16, 64, 64, 64), (64, 64, 3, 3), "xla"),  # _plan.PAIR_ROWS images x pixels
        ((17, 64, 64, 64), (64, 64, 3, 3), "gemm"),  # one image more
        ((32, 64, 56, 56), (64, 64, 3, 3), "gemm"),  # 0.61x / 0.76-0.78x
        ((8, 128, 56, 56), (64, 128, 3, 3), "gemm"),  # 128 inputs: 0.88x / 0.99x
        ((8, 48, 56, 56), (48, 48, 3, 3), "gemm"),  # 0.66x / 0.72x
        ((2, 64, 112, 112), (128, 64, 3, 3), "gemm"),  # 128 outputs
    ],
)
def test_amds_float32_pairs_xlas_weight_gradient_with_the_next_64_channel_layer(
    x_shape, w_shape, amd, monkeypatch
):
    """Padded 64->64 layers past Eigen's blocks take ``"gemm"``'s weight gradient on the
    Xeons; on AMD's CPUs float32 keeps XLA's, on one core beside the next layer's input
    gradient, up to ``PAIR_ROWS`` images x output pixels (``plan_passes.py chains
    wide_images|mid_images``). Strided and unpadded layers, and bfloat16, are left as
    the rules had them."""
    plans = on_each_vendor(
        monkeypatch, lambda: jaxconv.choose_plan(x_shape, w_shape, padding=1, platform="cpu")
    )
    assert [p.weight_grad for p in plans] == ["gemm", amd], plans
    monkeypatch.setattr(_dots, "bf16_dots", lambda: False)  # the rule, not "dots"
    monkeypatch.setattr(_plan, "_at_the_edge", lambda *a: False)  # nor 32x32's (strided)
    monkeypatch.setattr(_plan, "_short_strided", lambda *a: False)  # nor short strided ones
    others = on_each_vendor(
        monkeypatch,
        lambda: [
            jaxconv.choose_plan(x_shape, w_shape, padding=1, dtype="bfloat16"),
            jaxconv.choose_plan(x_shape, w_shape, padding=1, stride=2),
            jaxconv.choose_plan(x_shape, w_shape, padding=0),
        ],
    )
    assert others[0] == others[1]
