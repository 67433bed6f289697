"""A drawn catalogue of invalid calls for every public entry point.

Each draw takes a valid call of one entry point and breaks one thing; the call must raise
ValueError or TypeError (never an XLA error, never a result) and the message must name the
function, the argument and the offending value. The classes are listed in README.md
("Bad input").
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxconv
import jaxconv.linen
import jaxconv.nn


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
    Entry("corr2d", {"x": _f32(6, 7), "k": _f32(2, 3)},
          dict(stride=1, padding=0, dilation=1), lambda a, h: jaxconv.corr2d(a["x"], a["k"], **h)),
    Entry("corr2d_multi_in", {"X": _f32(3, 6, 7), "K": _f32(3, 2, 3)},
          dict(stride=1, padding=0, dilation=1),
          lambda a, h: jaxconv.corr2d_multi_in(a["X"], a["K"], **h), "K"),
    Entry("corr2d_multi_in_out", {"X": _f32(3, 6, 7), "K": _f32(4, 3, 2, 3)},
          dict(stride=1, padding=0, dilation=1),
          lambda a, h: jaxconv.corr2d_multi_in_out(a["X"], a["K"], **h), "K"),
    Entry("corr2d_multi_in_out_1x1", {"X": _f32(3, 6, 7), "K": _f32(4, 3, 1, 1)}, {},
          lambda a, h: jaxconv.corr2d_multi_in_out_1x1(a["X"], a["K"]), "K"),
    Entry("channel_contributions", {"X": _f32(3, 6, 7), "K": _f32(4, 3, 2, 3)},
          dict(stride=1, padding=0, dilation=1),
          lambda a, h: jaxconv.channel_contributions(a["X"], a["K"], **h), "K"),
    Entry("conv2d", {"input": _f32(2, 4, 6, 7), "weight": _f32(6, 2, 3, 3), "bias": _f32(6)},
          dict(stride=1, padding=0, dilation=1, groups=2, padding_mode="zeros"),
          lambda a, h: jaxconv.conv2d(a["input"], a["weight"], a["bias"], **h), "weight"),
    Entry("Conv2d", {"x": _f32(2, 4, 6, 7)},
          dict(kernel_size=3, stride=1, padding=0, dilation=1, groups=2, padding_mode="zeros"),
          _layer_call("nnx")),
    Entry("Conv2d", {"x": _f32(2, 4, 6, 7)},
          dict(kernel_size=3, stride=1, padding=0, dilation=1, groups=2, padding_mode="zeros"),
          _layer_call("linen")),
]
INT_HYPER = ("stride", "dilation", "groups", "kernel_size")


def _mutations(entry: Entry):
    """(label, (arrays, hyper) -> (arrays, hyper), exception, pattern parts) per class."""
    out = []
    for arg in entry.arrays:
        for bad in ("abc", {"a": 1}, object()) + ((None,) if arg != "bias" else ()):
            out.append((f"{arg} is {type(bad).__name__}", {"arrays": {arg: bad}}, TypeError,
                        [f"`{arg}` must be an array", type(bad).__name__]))
        arr = entry.arrays[arg]
        out.append((f"{arg} has an extra axis", {"arrays": {arg: arr[None]}}, ValueError,
                    [f"`{arg}` must have", str(tuple(arr[None].shape))]))
        out.append((f"{arg} is int32", {"arrays": {arg: arr.astype(jnp.int32)}}, TypeError,
                    [f"`{arg}` has dtype int32"]))
        out.append((f"{arg} is bool", {"arrays": {arg: arr > 0}}, TypeError,
                    [f"`{arg}` has dtype bool"]))
        if arg != next(iter(entry.arrays)):
            out.append((f"{arg} is bfloat16", {"arrays": {arg: arr.astype(jnp.bfloat16)}},
                        TypeError, [f"`{arg}` (dtype bfloat16)", "same dtype"]))
    for h in entry.hyper:
        if h in INT_HYPER:
            low = 1
            for bad in (0, -2):
                out.append((f"{h}={bad}", {"hyper": {h: bad}}, ValueError,
                            [f"`{h}` (={bad}) must be >= {low}"]))
            for bad in (1.5, True, "2"):
                out.append((f"{h}={bad!r}", {"hyper": {h: bad}}, TypeError,
                            [f"`{h}` must be an int, got {type(bad).__name__} {bad!r}"]))
        if h == "padding":
            out.append(("padding='full'", {"hyper": {h: "full"}}, ValueError,
                        ["`padding` (='full') must be"]))
            out.append(("padding=-1", {"hyper": {h: -1}}, ValueError,
                        ["`padding` (=-1) must be >= 0"]))
        if h == "padding_mode":
            out.append(("padding_mode='mirror'", {"hyper": {h: "mirror"}}, ValueError,
                        ["`padding_mode` (='mirror') must be one of"]))
            out.append(("reflect padding >= input", {"hyper": {h: "reflect", "padding": 6}},
                        ValueError, ["reflect padding (6, 6) must be smaller than the input"]))
    if "dilation" in entry.hyper:
        out.append(("kernel larger than the padded input", {"hyper": {"dilation": 9}},
                    ValueError, ["is larger than the padded input"]))
    if entry.channel_arg:
        arr = entry.arrays[entry.channel_arg]
        axis = 0 if entry.name == "corr2d_multi_in" else 1
        wrong = jnp.concatenate([arr, arr], axis=axis)
        out.append(("channel mismatch", {"arrays": {entry.channel_arg: wrong}}, ValueError,
                    ["channels", str(tuple(wrong.shape))]))
    if "groups" in entry.hyper:
        out.append(("groups does not divide", {"hyper": {"groups": 3}}, ValueError,
                    ["`groups` (=3)", "must divide"]))
    if "bias" in entry.arrays:
        out.append(("bias of the wrong length", {"arrays": {"bias": _f32(5)}}, ValueError,
                    ["`bias` must have shape (6,)", "(5,)"]))
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
