"""jaxconv.testing: check_conv catches wrong convolutions and passes right ones.

Each mutant below is a convolution with one deliberate bug; check_conv must raise a
ConvCheckError (an AssertionError) naming a property that the bug breaks. Correct
implementations must pass over several seeds (no false alarms). Most runs here are in
float32, as a user's default run is; one runs in float64 with ``check_grads``.
"""

import functools
import re

import jax
import jax.numpy as jnp
import pytest
from jax import lax

import jaxconv
from jaxconv.testing import PROPERTIES, ConvCheckError, check_conv


def _pads(padding, kernel, dilation, stride, in_size):
    if isinstance(padding, str):
        return padding.upper()
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return ((ph, ph), (pw, pw))


def torch_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, *, bug=None):
    """A torch-convention convolution on lax, with an optional bug."""
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    stride, dilation = pair(stride), pair(dilation)
    unbatched = x.ndim == 3
    xb = x[None] if unbatched else x
    pads = _pads(padding, w.shape[2:], dilation, stride, x.shape[-2:])
    if bug == "flipped kernel":
        w = w[..., ::-1, ::-1]
    if bug == "padding on one side" and not isinstance(pads, str):
        pads = tuple((0, lo + hi) for lo, hi in pads)
    if bug == "stride ignored":
        stride = (1, 1)
    if bug == "stride swapped":
        stride = stride[::-1]
    if bug == "dilation ignored":
        dilation = (1, 1)
    if bug == "groups in the wrong order" and groups > 1:
        w = w.reshape(groups, -1, *w.shape[1:])[::-1].reshape(w.shape)
    if bug == "an input channel left out":
        xb = xb.at[:, 0].set(0.0)
    tiling = stride == tuple(w.shape[2:]) and dilation == (1, 1) and w.shape[2] == w.shape[3] > 1
    if bug == "patches with the kernel transposed" and tiling:  # a patch-embedding fast path
        w = jnp.swapaxes(w, 2, 3)
    compute = jnp.bfloat16 if bug == "half precision" else xb.dtype
    y = lax.conv_general_dilated(
        xb.astype(compute),
        w.astype(compute),
        stride,
        pads,
        rhs_dilation=dilation,
        feature_group_count=groups,
        precision=lax.Precision.HIGHEST,
    ).astype(xb.dtype)
    if b is not None and bug != "bias ignored":
        y = y + (b[::-1] if bug == "bias on the wrong channels" else b).reshape(1, -1, 1, 1)
    if bug == "output one column short" and y.shape[-1] > 1:
        y = y[..., :-1]
    if bug == "batch of one squeezed" and not unbatched and x.shape[0] == 1:
        return y[0]
    if bug == "unbatched input as a batch" and unbatched:
        return lax.conv_general_dilated(
            x[:, None].repeat(w.shape[1], 1),
            w,
            stride,
            pads,
            rhs_dilation=dilation,
            feature_group_count=groups,
        )[0]
    return y[0] if unbatched else y


def _wrong_jvp(x, w, b=None, **kw):
    @jax.custom_jvp
    def f(x, w):
        return torch_conv(x, w, **kw)

    @f.defjvp
    def _(primals, tangents):
        y = f(*primals)
        return y, 1.01 * (f(tangents[0], primals[1]) + f(primals[0], tangents[1]))

    y = f(x, w)
    return y if b is None else y + b.reshape((1, -1, 1, 1))


def _wrong_vjp(x, w, b=None, **kw):
    @jax.custom_vjp
    def f(x, w):
        return torch_conv(x, w, **kw)

    def fwd(x, w):
        return f(x, w), (x, w)

    def bwd(res, ct):
        x, w = res
        dx, dw = jax.vjp(lambda x, w: torch_conv(x, w, **kw), x, w)[1](ct)
        return dx, 0.9 * dw

    f.defvjp(fwd, bwd)
    y = f(x, w)
    return y if b is None else y + b.reshape((1, -1, 1, 1))


MUTANTS = {
    "flipped kernel": ["values"],
    "padding on one side": ["values"],
    "stride ignored": ["values", "shape"],
    "stride swapped": ["values", "shape"],
    "dilation ignored": ["values", "shape"],
    "groups in the wrong order": ["values"],
    "an input channel left out": ["values"],
    "bias ignored": ["values"],
    "bias on the wrong channels": ["values"],
    "output one column short": ["values", "shape"],
    "half precision": ["values", "one_by_one", "linearity"],
    "batch of one squeezed": ["values", "shape"],
    "unbatched input as a batch": ["values", "shape", "unbatched"],
    "patches with the kernel transposed": ["values"],
}


@pytest.fixture
def float32():
    with jax.enable_x64(False):
        yield


@pytest.mark.parametrize("bug", list(MUTANTS))
def test_each_mutant_is_caught_with_its_property_and_a_minimal_case(bug, float32):
    fn = functools.partial(torch_conv, bug=bug)
    with pytest.raises(ConvCheckError) as info:
        check_conv(fn, "torch", max_examples=20, derivatives=False)
    message = str(info.value)
    prop = re.match(r"property '(\w+)' failed", message).group(1)
    assert prop in MUTANTS[bug], message
    assert "minimal case: fn(input" in message and "tolerance" in message
    assert "jaxconv.testing.strategies.ConvCase(" in message  # enough to rebuild the arrays
    assert isinstance(info.value, AssertionError)


@pytest.mark.parametrize("fn", [_wrong_jvp, _wrong_vjp])
def test_wrong_derivatives_with_a_right_forward_pass_are_caught(fn, float32):
    with pytest.raises(ConvCheckError, match="property .(jvp|vjp|adjoint). failed"):
        check_conv(fn, "torch", max_examples=10)


def _tf32(a):
    """``a`` (float32) rounded to TF32's 10 mantissa bits, to nearest."""
    bits = lax.bitcast_convert_type(a, jnp.uint32)
    bits = (bits + jnp.uint32(0x1000)) & jnp.uint32(0xFFFFE000)
    return lax.bitcast_convert_type(bits, jnp.float32)


def _tf32_conv(x, w, b=None, *, tangent_scale=1.0, **kw):
    """A GPU's default float32 convolution, emulated: each pass rounds its operands to
    TF32 and accumulates in float32. ``tangent_scale`` != 1: the weight tangent's term
    is that far off (a wrong derivative, TF32 or not)."""

    @jax.custom_jvp
    def f(x, w):
        return torch_conv(_tf32(x), _tf32(w), **kw)

    @f.defjvp
    def _(primals, tangents):
        (x, w), (tx, tw) = primals, tangents
        dy = torch_conv(tx, _tf32(w), **kw) + tangent_scale * torch_conv(_tf32(x), tw, **kw)
        return f(x, w), dy

    y = f(x, w)
    return y if b is None else y + b.reshape((1,) * (y.ndim - 3) + (-1, 1, 1))


def test_tf32_bounds_pass_tf32_arithmetic_and_catch_a_derivative_one_percent_off(
    float32, monkeypatch
):
    """A GPU's float32 bounds (``_check.TF32_FACTORS``), shown here on a CPU: a correct
    convolution in (emulated) TF32 passes, one whose weight tangent is 1% off fails (the
    derivatives' old 10x let it through on an H200)."""
    from jaxconv.testing import _check

    monkeypatch.setattr(_check, "_tf32", lambda: True)
    bounded = ["values", "linearity", "jvp", "vjp", "adjoint"]  # the rest are exact
    report = check_conv(_tf32_conv, "torch", max_examples=10, properties=bounded)
    assert report.tolerance == 5e-3 and report.properties == tuple(bounded)
    with pytest.raises(ConvCheckError, match="property .(jvp|vjp). failed"):
        wrong = functools.partial(_tf32_conv, tangent_scale=1.01)
        check_conv(wrong, "torch", max_examples=10, properties=["jvp", "vjp"])


def test_ignored_dimension_numbers_are_caught(float32):
    def ignores_layout(
        lhs,
        rhs,
        window_strides,
        padding,
        lhs_dilation=None,
        rhs_dilation=None,
        dimension_numbers=None,
        feature_group_count=1,
        batch_group_count=1,
    ):
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            None,
            feature_group_count,
            batch_group_count,
        )

    with pytest.raises(ConvCheckError, match="property '(values|shape)' failed"):
        check_conv(ignores_layout, "lax", max_examples=30, derivatives=False)


def test_an_exception_of_the_function_is_a_failure_naming_the_case(float32):
    def refuses_groups(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        if groups > 1:
            raise NotImplementedError("groups")
        return torch_conv(x, w, b, stride, padding, dilation, groups)

    with pytest.raises(ConvCheckError, match="the function raised NotImplementedError") as info:
        check_conv(refuses_groups, "torch", max_examples=30, derivatives=False)
    assert isinstance(info.value.__cause__, NotImplementedError)
    assert "groups=2" in str(info.value)  # the minimal case: the smallest group count


def nnx_layer(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """jaxconv.nn.Conv2d with the given parameters, behind torch's functional signature."""
    from flax import nnx

    import jaxconv.nn

    layer = jaxconv.nn.Conv2d(
        w.shape[1] * groups,
        w.shape[0],
        w.shape[2:],
        stride,
        padding,
        dilation,
        groups,
        bias=b is not None,
        param_dtype=w.dtype,
        rngs=nnx.Rngs(0),
    )
    layer.weight[...] = w
    if b is not None:
        layer.bias[...] = b
    return layer(x)


def linen_layer(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """jaxconv.linen.Conv2d applied with the given parameters."""
    import jaxconv.linen

    layer = jaxconv.linen.Conv2d(
        w.shape[0],
        w.shape[2:],
        stride,
        padding,
        dilation,
        groups,
        bias=b is not None,
        param_dtype=w.dtype,
    )
    params = {"weight": w, **({"bias": b} if b is not None else {})}
    return layer.apply({"params": params}, x)


CORRECT = [
    (jaxconv.conv2d, "torch"),
    (torch_conv, "torch"),
    (nnx_layer, "torch"),
    (linen_layer, "torch"),
    (jaxconv.conv_general_dilated, "lax"),
    (lax.conv_general_dilated, "lax"),
    (jaxconv.corr2d_multi_in_out, "lesson"),
]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("fn,convention", CORRECT, ids=lambda v: getattr(v, "__name__", v))
def test_correct_convolutions_pass_in_every_convention(fn, convention, seed, float32):
    report = check_conv(fn, convention, max_examples=4, seed=seed)
    assert report.cases == 4 and report.checked["values"] == 4
    assert set(report.checked) | set(report.skipped) <= set(PROPERTIES)
    assert report.skipped.get("check_grads", "").startswith("float32")


@pytest.mark.parametrize("impl", jaxconv.impls())
def test_every_impl_of_conv2d_passes(impl, float32):
    check_conv(functools.partial(jaxconv.conv2d, impl=impl), "torch", max_examples=4)


def test_float64_runs_check_grads_of_order_2():
    report = check_conv(jaxconv.conv2d, "torch", max_examples=2)  # tests run in float64
    assert report.dtype == "float64" and report.checked["check_grads"] == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match=re.escape("check_conv: `convention` (='jax') must be")):
        check_conv(jaxconv.conv2d, "jax")
    with pytest.raises(ValueError, match="check_conv: unknown `properties` \\['speed'\\]"):
        check_conv(jaxconv.conv2d, properties=["speed"])
    with pytest.raises(TypeError, match="check_conv: `fn` must be callable, got int"):
        check_conv(3)


def test_same_seed_draws_the_same_cases(float32):
    seen = [[], []]
    for i in range(2):

        def spy(x, w, b=None, **kw):
            seen[i].append((x.shape, w.shape, tuple(sorted(kw.items()))))
            return jaxconv.conv2d(x, w, b, **kw)

        check_conv(spy, max_examples=4, seed=7, properties=["values"])
    assert seen[0] == seen[1]


@functools.partial(jax.jit, static_argnames=("stride", "padding", "dilation", "groups"))
def _groups_as_masked_dense(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Right values, wrong NaNs: a grouped convolution as a dense one whose weights are
    zero outside each group's block, so a NaN reaches every group (0 x NaN = NaN), as
    XLA's own float64 CPU loop does."""
    o, cg = w.shape[:2]
    og = o // groups
    full = jnp.zeros((o, cg * groups, *w.shape[2:]), w.dtype)
    for g in range(groups):
        full = full.at[g * og : (g + 1) * og, g * cg : (g + 1) * cg].set(w[g * og : (g + 1) * og])
    return torch_conv(x, full, b, stride, padding, dilation, 1)


def test_nan_property_holds_the_group_rule(float32):
    only_nan = dict(max_examples=20, derivatives=False, nan=True, properties=["nan"])
    with pytest.raises(ConvCheckError, match="property 'nan' failed"):
        check_conv(_groups_as_masked_dense, "torch", **only_nan)
    check_conv(torch_conv, "torch", **only_nan)


@pytest.mark.parametrize("impl", jaxconv.impls())
def test_every_impl_keeps_the_nan_rule_in_float64(impl):
    """float64 is where lax's CPU loop spreads NaN across groups; jaxconv does not."""
    conv = functools.partial(jaxconv.conv2d, impl=impl)
    check_conv(conv, "torch", max_examples=6, derivatives=False, nan=True, properties=["nan"])
