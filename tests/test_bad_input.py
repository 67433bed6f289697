"""Bad input: a clear ValueError/TypeError at trace time naming function, argument, value.

Two parts: exact messages for chosen calls (``BAD``), and a drawn catalogue of invalid
calls for every public entry point: each draw takes a valid call of one entry point and
breaks one thing; the call must raise ValueError or TypeError (never an XLA error, never
a result) and the message must name the function, the argument and the offending value.
The classes are listed in README.md ("Bad input").
"""

from __future__ import annotations

import dataclasses
import re

import jax
import jax.numpy as jnp
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxconv
import jaxconv.linen
import jaxconv.nn

x4 = jnp.ones((2, 3, 8, 8))
w4 = jnp.ones((4, 3, 3, 3))
X3 = jnp.ones((3, 5, 5))
K3 = jnp.ones((3, 2, 2))

C = jaxconv.conv2d
NHWC = ("NHWC", "HWIO", "NHWC")
BAD = [
    # (function, args, kwargs, exception, message pattern)
    (C, ("abc", w4), {}, TypeError, "conv2d: `input` must be an array, got str"),
    (C, (None, w4), {}, TypeError, "conv2d: `input` must be an array, got NoneType"),
    (C, ({"a": 1}, w4), {}, TypeError, "conv2d: `input` must be an array or nested sequence"),
    (
        C,
        (jnp.ones((8, 8)), w4),
        {},
        ValueError,
        re.escape("conv2d: `input` must have rank 3 or 4 ((N, C, H, W) or (C, H, W)), got shape")
        + re.escape(" (8, 8)"),
    ),
    (C, (x4, jnp.ones((4, 3, 3))), {}, ValueError, "conv2d: `weight` must have rank 4"),
    (
        C,
        (x4, jnp.ones((4, 2, 3, 3))),
        {},
        ValueError,
        r"conv2d: `weight` \(4, 2, 3, 3\) expects 2 input channels .* `input` \(2, 3, 8, 8\) has 3",
    ),
    (
        C,
        (x4, w4),
        {"groups": 2},
        ValueError,
        re.escape("conv2d: `groups` (=2) must divide the input channels (=3, `input`.shape[1])"),
    ),
    (
        C,
        (jnp.ones((1, 4, 8, 8)), jnp.ones((3, 2, 3, 3))),
        {"groups": 2},
        ValueError,
        re.escape(
            "conv2d: `groups` (=2) must divide the output channels of `weight` (=3, "
            "`weight`.shape[0])"
        ),
    ),
    (C, (x4, w4), {"groups": 0}, ValueError, re.escape("conv2d: `groups` (=0) must be >= 1")),
    (C, (x4, w4), {"stride": 0}, ValueError, re.escape("conv2d: `stride` (=0) must be >= 1")),
    (
        C,
        (x4, w4),
        {"stride": (1, -2)},
        ValueError,
        re.escape("conv2d: `stride[1]` (=-2) must be >= 1"),
    ),
    (C, (x4, w4), {"dilation": -1}, ValueError, re.escape("conv2d: `dilation` (=-1) must be >= 1")),
    (C, (x4, w4), {"padding": -1}, ValueError, re.escape("conv2d: `padding` (=-1) must be >= 0")),
    (C, (x4, w4), {"stride": 1.5}, TypeError, "conv2d: `stride` must be an int, got float 1.5"),
    (C, (x4, w4), {"groups": True}, TypeError, "conv2d: `groups` must be an int, got bool True"),
    (
        C,
        (x4, w4),
        {"dilation": (1, 2, 3)},
        ValueError,
        re.escape("conv2d: `dilation` (=(1, 2, 3)) must be an int or a pair of ints"),
    ),
    (
        C,
        (x4, jnp.ones((4, 3, 9, 3))),
        {},
        ValueError,
        re.escape(
            "conv2d: the kernel height (=9, dilated span 9) is larger than the padded input "
            "height (=8 = 8 + 0 + 0)"
        ),
    ),
    (C, (x4, w4), {"dilation": 5}, ValueError, "conv2d: the kernel height .*dilated span 11"),
    (
        C,
        (x4, w4),
        {"padding": 8, "padding_mode": "reflect"},
        ValueError,
        re.escape("conv2d: reflect padding (8, 8) must be smaller than the input height (=8)"),
    ),
    (C, (x4, w4), {"padding": "full"}, ValueError, "conv2d: `padding` \\(='full'\\) must be"),
    (C, (x4, w4), {"padding": ((1, 2), (3,))}, ValueError, "conv2d: `padding` .* must be"),
    (
        C,
        (x4, w4),
        {"padding_mode": "mirror"},
        ValueError,
        re.escape(
            "conv2d: `padding_mode` (='mirror') must be one of ('zeros', 'reflect', "
            "'replicate', 'circular')"
        ),
    ),
    (
        C,
        (x4, w4, jnp.ones(3)),
        {},
        ValueError,
        re.escape("conv2d: `bias` must have shape (4,) to match `weight` (4, 3, 3, 3), got (3,)"),
    ),
    (
        C,
        (x4.astype(jnp.int32), w4),
        {},
        TypeError,
        "conv2d: `input` has dtype int32; jaxconv computes in floating or complex dtypes",
    ),
    (C, (x4 > 0, w4), {}, TypeError, "conv2d: `input` has dtype bool"),
    (
        C,
        (x4, w4.astype(jnp.bfloat16)),
        {},
        TypeError,
        re.escape(
            "conv2d: `input` (dtype float32) and `weight` (dtype bfloat16) must have the same dtype"
        ),
    ),
    (C, (x4, w4, jnp.ones(4, jnp.float16)), {}, TypeError, "conv2d: `input` .* and `bias`"),
    (
        C,
        (x4, w4),
        {"impl": "fast"},
        ValueError,
        re.escape(
            "conv2d: `impl` (='fast') must be one of "
            "('auto', 'autotune', 'xla', 'matmul', 'gemm', 'eigen', 'dots', 'reference')"
        ),
    ),
    (
        jaxconv.corr2d,
        (jnp.ones((3, 3)), jnp.ones((2, 2, 2))),
        {},
        ValueError,
        re.escape("corr2d: `k` must have rank 2 ((kh, kw)), got shape (2, 2, 2)"),
    ),
    (
        jaxconv.corr2d,
        (jnp.ones((3, 3)), jnp.ones((0, 2))),
        {},
        ValueError,
        re.escape("corr2d: the kernel's spatial size (=(0, 2)) must be positive"),
    ),
    (
        jaxconv.corr2d_multi_in,
        (X3, jnp.ones((2, 2, 2))),
        {},
        ValueError,
        re.escape("corr2d_multi_in: `X` has 3 channels but `K` has 2"),
    ),
    (jaxconv.corr2d_multi_in, (X3[0], K3), {}, ValueError, "corr2d_multi_in: `X` must have rank 3"),
    (
        jaxconv.corr2d_multi_in_out,
        (X3, K3),
        {},
        ValueError,
        re.escape(
            "corr2d_multi_in_out: `K` must have rank 4 ((co, ci, kh, kw)), got shape (3, 2, 2)"
        ),
    ),
    (
        jaxconv.corr2d_multi_in_out,
        (X3, jnp.ones((2, 4, 1, 1))),
        {},
        ValueError,
        re.escape("corr2d_multi_in_out: `X` has 3 channels but `K` expects 4"),
    ),
    (
        jaxconv.corr2d_multi_in_out_1x1,
        (X3, jnp.ones((2, 3, 3, 3))),
        {},
        ValueError,
        re.escape(
            "corr2d_multi_in_out_1x1: `K` must be (co, ci, 1, 1) or (co, ci), got kernel size "
            "(3, 3)"
        ),
    ),
    (
        jaxconv.corr2d_multi_in_out_1x1,
        (X3, jnp.ones((2, 4))),
        {},
        ValueError,
        re.escape("corr2d_multi_in_out_1x1: `X` has 3 channels but `K` expects 4"),
    ),
    (
        jaxconv.conv_general_dilated,
        (x4, jnp.ones((4, 2, 3, 3)), (1, 1), "SAME"),
        {},
        ValueError,
        r"conv_general_dilated: `rhs` .* expects 2 input channels",
    ),
    (
        jaxconv.conv_general_dilated,
        ("abc", w4, (1, 1), "SAME"),
        {},
        TypeError,
        "conv_general_dilated: `lhs` must be an array, got str 'abc'",
    ),
    (
        jaxconv.conv_general_dilated,
        (x4, None, (1, 1), "SAME"),
        {},
        TypeError,
        "conv_general_dilated: `rhs` must be an array, got NoneType",
    ),
    (
        jaxconv.conv_general_dilated,
        (x4, w4, (1, 0), "SAME"),
        {},
        ValueError,
        re.escape("conv_general_dilated: `window_strides[1]` (=0) must be >= 1"),
    ),
    (
        jaxconv.conv_general_dilated,
        (jnp.ones((1, 5, 5, 4)), jnp.ones((3, 3, 4, 6)), (1, 1), ((0.7, 0.7), (1, 1))),
        {"dimension_numbers": NHWC},
        TypeError,
        re.escape("conv_general_dilated: `padding[0][0]` must be an int, got float 0.7"),
    ),
    (
        jaxconv.conv_general_dilated,
        (jnp.ones((1, 5, 5, 4)), jnp.ones((3, 3, 4, 6)), (1, 1), (("1", "1"), (1, 1))),
        {"dimension_numbers": NHWC},
        TypeError,
        re.escape("conv_general_dilated: `padding[0][0]` must be an int, got str '1'"),
    ),
    (
        jaxconv.conv_general_dilated,
        (jnp.ones((1, 5, 5, 4)), jnp.ones((3, 3, 1, 6)), (1, 1), "SAME"),
        {"dimension_numbers": NHWC, "feature_group_count": 4},
        ValueError,
        re.escape(
            "conv_general_dilated: `feature_group_count` (=4) must divide the output channels "
            "of `rhs` (=6, `rhs`.shape[3])"
        ),
    ),
    (
        jaxconv.conv_general_dilated,
        (jnp.ones((1, 5, 5, 4)), jnp.ones((3, 3, 5, 6)), (1, 1), "SAME"),
        {"dimension_numbers": NHWC},
        ValueError,
        re.escape(
            "conv_general_dilated: `rhs` (3, 3, 5, 6) expects 5 input channels (5 per group "
            "(`rhs`.shape[2]) x 1 groups) but `lhs` (1, 5, 5, 4) has 4 (`lhs`.shape[3])"
        ),
    ),
    (
        C,
        (x4, w4),
        {"preferred_element_type": jnp.int32},
        TypeError,
        re.escape("conv2d: `preferred_element_type` (=int32) must be a floating dtype"),
    ),
    (  # (a typo'd dilation with "same" padding drops the taps off the image: it runs)
        C,
        (jnp.ones((1, 1024, 8, 8)), jnp.ones((1, 1024, 3, 3))),
        {"padding": 2**11, "impl": "matmul"},
        ValueError,
        re.escape("conv2d: `impl` (='matmul') would"),
    ),
    (
        jaxconv.conv_general_dilated,
        (x4, w4, (1, 1), "SAME", None, (2, -1)),
        {},
        ValueError,
        re.escape("conv_general_dilated: `rhs_dilation[1]` (=-1) must be >= 1"),
    ),
    (
        jaxconv.choose_plan,
        ((8, 3, 9, 9), (4, 3, 3)),
        {},
        ValueError,
        re.escape("choose_plan: `weight_shape` (4, 3, 3) must have 4 entries"),
    ),
    (
        jaxconv.choose_plan,
        ("abc", (4, 3, 3, 3)),
        {},
        TypeError,
        re.escape("choose_plan: `input_shape` must be a tuple of ints, got str 'abc'"),
    ),
    (
        jaxconv.choose_plan,
        ((8, 3, 9.7, 9), (4, 3, 3, 3)),
        {},
        TypeError,
        re.escape("choose_plan: `input_shape[2]` must be an int, got float 9.7"),
    ),
    (
        jaxconv.choose_plan,
        ((8, 3, 9, 9), (4, 3, 3, 3)),
        {"groups": 3},
        ValueError,
        re.escape(
            "choose_plan: `groups` (=3) must divide the output channels of `weight_shape` (=4, "
            "`weight_shape`[0])"
        ),
    ),
    (
        jaxconv.choose_plan,
        ((8, 3, 9, 9), (4, 3, 3, 3)),
        {"platform": "cuda"},
        ValueError,
        re.escape("choose_plan: `platform` (='cuda') must be one of ('cpu', 'gpu', 'tpu')"),
    ),
    (
        jaxconv.choose_plan,
        ((8, 3, 9, 9), (4, 3, 3, 3)),
        {"impl": "reference"},
        ValueError,
        re.escape("choose_plan: `impl` (='reference') has no plan"),
    ),
    (
        jaxconv.choose_plan,
        ((8, 3, 9, 9), (4, 3, 3, 3)),
        {"impl": "fast"},
        ValueError,
        re.escape("choose_plan: `impl` (='fast') must be one of"),
    ),
    (
        jaxconv.choose_plan,
        ((8, 3, 9, 9), (4, 3, 3, 3)),
        {"dtype": "float33"},
        TypeError,
        re.escape("choose_plan: `dtype` (='float33') is not a dtype"),
    ),
    (
        jaxconv.choose_plan,
        ((8, 3, 2, 2), (4, 3, 3, 3)),
        {},
        ValueError,
        re.escape("choose_plan: the kernel height (=3, dilated span 3) is larger than the padded"),
    ),
]


@pytest.mark.parametrize(
    "fn,args,kwargs,exc,pattern", BAD, ids=[f"{b[0].__name__}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_input_raises_clear_error(fn, args, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fn(*args, **kwargs)


@pytest.mark.parametrize("fn,args,kwargs,exc,pattern", BAD[3:10])
def test_errors_fire_at_trace_time_under_jit(fn, args, kwargs, exc, pattern):
    arrays = [a for a in args if isinstance(a, jax.Array)]
    rest = [a for a in args if not isinstance(a, jax.Array)]
    jitted = jax.jit(lambda *arr: fn(*arr, *rest, **kwargs))
    with pytest.raises(exc, match=pattern):
        jitted.trace(*arrays)


# --- the drawn catalogue ------------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    name: str  # the function name the messages must start with
    arrays: dict  # argument name -> valid array
    hyper: dict  # hyperparameter name -> valid value
    call: callable  # (arrays, hyper) -> result
    channel_arg: str | None = None  # the array whose axis 0 or 1 must match the input's


def _f32(*shape):
    return jnp.ones(shape, jnp.float32)


def _layer_call(cls):
    def call(a, h):
        if cls == "nnx":
            return jaxconv.nn.Conv2d(4, 6, **h, rngs=nnx.Rngs(0))(a["x"])
        module = jaxconv.linen.Conv2d(6, **h)
        return module.init(jax.random.key(0), a["x"])

    return call


ENTRIES = [
    Entry(
        "corr2d",
        {"x": _f32(6, 7), "k": _f32(2, 3)},
        dict(stride=1, padding=0, dilation=1, precision=None),
        lambda a, h: jaxconv.corr2d(a["x"], a["k"], **h),
    ),
    Entry(
        "corr2d_multi_in",
        {"X": _f32(3, 6, 7), "K": _f32(3, 2, 3)},
        dict(stride=1, padding=0, dilation=1, precision=None),
        lambda a, h: jaxconv.corr2d_multi_in(a["X"], a["K"], **h),
        "K",
    ),
    Entry(
        "corr2d_multi_in_out",
        {"X": _f32(3, 6, 7), "K": _f32(4, 3, 2, 3)},
        dict(stride=1, padding=0, dilation=1, precision=None),
        lambda a, h: jaxconv.corr2d_multi_in_out(a["X"], a["K"], **h),
        "K",
    ),
    Entry(
        "corr2d_multi_in_out_1x1",
        {"X": _f32(3, 6, 7), "K": _f32(4, 3, 1, 1)},
        dict(precision=None),
        lambda a, h: jaxconv.corr2d_multi_in_out_1x1(a["X"], a["K"], **h),
        "K",
    ),
    Entry(
        "channel_contributions",
        {"X": _f32(3, 6, 7), "K": _f32(4, 3, 2, 3)},
        dict(stride=1, padding=0, dilation=1),
        lambda a, h: jaxconv.channel_contributions(a["X"], a["K"], **h),
        "K",
    ),
    Entry(
        "conv2d",
        {"input": _f32(2, 4, 6, 7), "weight": _f32(6, 2, 3, 3), "bias": _f32(6)},
        dict(stride=1, padding=0, dilation=1, groups=2, padding_mode="zeros", precision=None),
        lambda a, h: jaxconv.conv2d(a["input"], a["weight"], a["bias"], **h),
        "weight",
    ),
    Entry(
        "Conv2d",
        {"x": _f32(2, 4, 6, 7)},
        dict(
            kernel_size=3,
            stride=1,
            padding=0,
            dilation=1,
            groups=2,
            padding_mode="zeros",
            precision=None,
        ),
        _layer_call("nnx"),
    ),
    Entry(
        "Conv2d",
        {"x": _f32(2, 4, 6, 7)},
        dict(kernel_size=3, stride=1, padding=0, dilation=1, groups=2, padding_mode="zeros"),
        _layer_call("linen"),
    ),
]
INT_HYPER = ("stride", "dilation", "groups", "kernel_size")


def _mutations(entry: Entry):
    """(label, (arrays, hyper) -> (arrays, hyper), exception, pattern parts) per class."""
    out = []
    for arg in entry.arrays:
        for bad in ("abc", {"a": 1}, object()) + ((None,) if arg != "bias" else ()):
            out.append(
                (
                    f"{arg} is {type(bad).__name__}",
                    {"arrays": {arg: bad}},
                    TypeError,
                    [f"`{arg}` must be an array", type(bad).__name__],
                )
            )
        arr = entry.arrays[arg]
        out.append(
            (
                f"{arg} has an extra axis",
                {"arrays": {arg: arr[None]}},
                ValueError,
                [f"`{arg}` must have", str(tuple(arr[None].shape))],
            )
        )
        if entry.name == "Conv2d":  # layers cast numeric inputs as flax does (tested there)
            continue
        out.append(
            (
                f"{arg} is int32",
                {"arrays": {arg: arr.astype(jnp.int32)}},
                TypeError,
                [f"`{arg}` has dtype int32"],
            )
        )
        out.append(
            (f"{arg} is bool", {"arrays": {arg: arr > 0}}, TypeError, [f"`{arg}` has dtype bool"])
        )
        if arg != next(iter(entry.arrays)):
            out.append(
                (
                    f"{arg} is bfloat16",
                    {"arrays": {arg: arr.astype(jnp.bfloat16)}},
                    TypeError,
                    [f"`{arg}` (dtype bfloat16)", "same dtype"],
                )
            )
    for h in entry.hyper:
        if h in INT_HYPER:
            low = 1
            for bad in (0, -2):
                out.append(
                    (
                        f"{h}={bad}",
                        {"hyper": {h: bad}},
                        ValueError,
                        [f"`{h}` (={bad}) must be >= {low}"],
                    )
                )
            for bad in (1.5, True, "2"):
                out.append(
                    (
                        f"{h}={bad!r}",
                        {"hyper": {h: bad}},
                        TypeError,
                        [f"`{h}` must be an int, got {type(bad).__name__} {bad!r}"],
                    )
                )
            if h != "groups":  # overflowing sizes: refused before any allocation
                for bad in (2**31, 2**70):
                    out.append((f"{h}={bad}", {"hyper": {h: bad}}, ValueError, [f"`{h}` (={bad})"]))
        if h == "padding":
            out.append(
                (
                    "padding='full'",
                    {"hyper": {h: "full"}},
                    ValueError,
                    ["`padding` (='full') must be"],
                )
            )
            out.append(
                ("padding=-1", {"hyper": {h: -1}}, ValueError, ["`padding` (=-1) must be >= 0"])
            )
            out.append(
                ("padding=2**33", {"hyper": {h: 2**33}}, ValueError, ["`padding` (=8589934592)"])
            )
            for bad, where in ((0.7, "padding"), ((1, 1.5), "padding[1]")):
                out.append(
                    (
                        f"padding={bad!r}",
                        {"hyper": {h: bad}},
                        TypeError,
                        [f"`{where}` must be an int, got float"],
                    )
                )
            out.append(
                (
                    "padding=(('1', '1'), (0, 0))",
                    {"hyper": {h: (("1", "1"), (0, 0))}},
                    TypeError,
                    ["`padding[0][0]` must be an int, got str '1'"],
                )
            )
        if h == "precision":
            out.append(
                (
                    "precision='bogus'",
                    {"hyper": {h: "bogus"}},
                    ValueError,
                    ["`precision` (='bogus') must be"],
                )
            )
            out.append(
                ("precision={}", {"hyper": {h: {}}}, TypeError, ["`precision` must be", "dict"])
            )
        if h == "padding_mode":
            out.append(
                (
                    "padding_mode='mirror'",
                    {"hyper": {h: "mirror"}},
                    ValueError,
                    ["`padding_mode` (='mirror') must be one of"],
                )
            )
            out.append(
                (
                    "reflect padding >= input",
                    {"hyper": {h: "reflect", "padding": 6}},
                    ValueError,
                    ["reflect padding (6, 6) must be smaller than the input"],
                )
            )
    if "dilation" in entry.hyper:
        out.append(
            (
                "kernel larger than the padded input",
                {"hyper": {"dilation": 9}},
                ValueError,
                ["is larger than the padded input"],
            )
        )
    if entry.channel_arg:
        arr = entry.arrays[entry.channel_arg]
        axis = 0 if entry.name == "corr2d_multi_in" else 1
        wrong = jnp.concatenate([arr, arr], axis=axis)
        out.append(
            (
                "channel mismatch",
                {"arrays": {entry.channel_arg: wrong}},
                ValueError,
                ["channels", str(tuple(wrong.shape))],
            )
        )
    if "groups" in entry.hyper:
        out.append(
            (
                "groups does not divide",
                {"hyper": {"groups": 3}},
                ValueError,
                ["`groups` (=3)", "must divide"],
            )
        )
    if "bias" in entry.arrays:
        out.append(
            (
                "bias of the wrong length",
                {"arrays": {"bias": _f32(5)}},
                ValueError,
                ["`bias` must have shape (6,)", "(5,)"],
            )
        )
    return out


CATALOGUE = [(e, m) for e in ENTRIES for m in _mutations(e)]


def test_every_valid_base_call_works():
    for entry in ENTRIES:
        entry.call(dict(entry.arrays), dict(entry.hyper))


@settings(max_examples=2 * len(CATALOGUE))
@given(st.sampled_from(CATALOGUE))
def test_drawn_invalid_calls_raise_clear_errors(item):
    entry, (label, change, exc, parts) = item
    arrays = {**entry.arrays, **change.get("arrays", {})}
    hyper = {**entry.hyper, **change.get("hyper", {})}
    with pytest.raises(exc) as info:
        entry.call(arrays, hyper)
    message = str(info.value)
    assert message.startswith(f"{entry.name}: "), (label, message)
    for part in parts:
        assert part in message, (label, part, message)


def test_catalogue_size():
    """Kept in step with README.md's table."""
    assert len(CATALOGUE) >= 150
    print(f"{len(CATALOGUE)} invalid calls over {len(ENTRIES)} entry points")
