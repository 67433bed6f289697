"""Argument checking and normalisation, done once at each public entry point.

Every public function turns its arguments into canonical values here (arrays of an
inexact dtype, ``(h, w)`` int pairs, ``((top, bottom), (left, right))`` paddings) and
the rest of the package computes on canonical values only. All checks run on static
shapes and Python values, so they fire at trace time, under ``jit`` too, with one
message pattern::

    conv2d: `groups` (=2) must divide the input channels (=3)

``ValueError`` is raised for a bad value, ``TypeError`` for a bad kind of thing.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Pair = tuple[int, int]
Padding = tuple[Pair, Pair]


class ConvParams(NamedTuple):
    """Canonical, hashable hyperparameters of one 2-D cross-correlation.

    ``stride`` and ``dilation`` are ``(h, w)`` int pairs, ``padding`` is explicit
    ``((top, bottom), (left, right))`` zero padding; ``precision`` and
    ``preferred_element_type`` are passed on to XLA as in ``lax.conv_general_dilated``.
    """

    stride: Pair
    padding: Padding
    dilation: Pair
    precision: Any = None
    preferred_element_type: Any = None

    def output_size(self, in_size: Sequence[int], kernel: Sequence[int]) -> Pair:
        """``(mh, mw)`` for an input of spatial size ``in_size`` and a ``kernel``.

        >>> ConvParams((2, 1), ((1, 1), (0, 0)), (1, 1)).output_size((8, 8), (3, 3))
        (4, 6)
        """
        return output_size("jaxconv", in_size, kernel, self)


def as_any_array(fn: str, name: str, value: Any) -> jax.Array:
    """``jnp.asarray(value)`` of any numeric dtype, refusing what is not numeric data."""
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(
            f"{fn}: `{name}` must be an array, got {type(value).__name__} {value!r:.60}"
        )
    try:
        return jnp.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{fn}: `{name}` must be an array or nested sequence of numbers, "
            f"got {type(value).__name__} ({err})"
        ) from None


def as_array(fn: str, name: str, value: Any) -> jax.Array:
    """``jnp.asarray(value)``, refusing what is not numeric data of an inexact dtype."""
    arr = as_any_array(fn, name, value)
    if not jnp.issubdtype(arr.dtype, jnp.inexact):
        raise TypeError(
            f"{fn}: `{name}` has dtype {arr.dtype}; jaxconv computes in floating or complex "
            f"dtypes, cast it first (e.g. `.astype(jnp.float32)`)"
        )
    return arr


def check_rank(fn: str, name: str, arr: jax.Array, ranks: tuple[int, ...], layout: str) -> None:
    if arr.ndim not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{fn}: `{name}` must have rank {want} ({layout}), got shape {tuple(arr.shape)}"
        )


def check_same_dtype(fn: str, names: tuple[str, str], a: jax.Array, b: jax.Array) -> None:
    if a.dtype != b.dtype:
        raise TypeError(
            f"{fn}: `{names[0]}` (dtype {a.dtype}) and `{names[1]}` (dtype {b.dtype}) must have "
            f"the same dtype; cast one of them (jaxconv never promotes silently)"
        )


def operands(
    fn: str, x: Any, k: Any, x_spec, k_spec, names=("X", "K")
) -> tuple[jax.Array, jax.Array]:
    """Input and kernel as arrays of one inexact dtype with the ranks their specs allow.

    A spec is ``(ranks, layout)``, e.g. ``((3,), "(ci, H, W)")``.
    """
    x = as_array(fn, names[0], x)
    k = as_array(fn, names[1], k)
    check_rank(fn, names[0], x, *x_spec)
    check_rank(fn, names[1], k, *k_spec)
    check_same_dtype(fn, names, x, k)
    return x, k


def as_shape(fn: str, name: str, value: Any, ranks: tuple[int, ...]) -> tuple[int, ...]:
    """A shape given as a tuple or list of non-negative ints, with one of ``ranks`` entries."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(
            f"{fn}: `{name}` must be a tuple of ints, got {type(value).__name__} {value!r:.60}"
        )
    out = tuple(as_int(fn, f"{name}[{i}]", v, minimum=0) for i, v in enumerate(value))
    if len(out) not in ranks:
        raise ValueError(f"{fn}: `{name}` {out} must have {' or '.join(map(str, ranks))} entries")
    return out


def check_groups(fn: str, groups: Any, channels: dict[str, int]) -> int:
    """``groups`` as an int >= 1 that divides every channel count (``label: count``)."""
    groups = as_int(fn, "groups", groups, minimum=1)
    for label, count in channels.items():
        if count % groups:
            raise ValueError(f"{fn}: `groups` (={groups}) must divide {label} (={count})")
    return groups


def check_weight_shape(
    fn: str,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    groups: Any,
    names: tuple[str, str] = ("input", "weight"),
) -> int:
    """The channel rule of a grouped convolution: a weight ``(O, C // groups, kh, kw)``
    for an input ``(..., C, H, W)``; returns ``groups`` as an int."""
    xn, wn = names
    c, o = x_shape[-3], w_shape[0]
    groups = check_groups(
        fn, groups, {"the input channels": c, f"the output channels of `{wn}`": o}
    )
    if w_shape[1] * groups != c:
        raise ValueError(
            f"{fn}: `{wn}` {tuple(w_shape)} expects {w_shape[1] * groups} input channels "
            f"({w_shape[1]} per group x {groups} groups) but `{xn}` {tuple(x_shape)} has {c}"
        )
    return groups


PADDING_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
"""torch's ``padding_mode`` names and the ``jnp.pad`` mode of each (``None``: zeros,
inside the convolution)."""


def check_padding_mode(fn: str, mode: Any) -> str:
    if not isinstance(mode, str) or mode not in PADDING_MODES:
        raise ValueError(f"{fn}: `padding_mode` (={mode!r}) must be one of {tuple(PADDING_MODES)}")
    return mode


def check_channels(fn: str, X: jax.Array, K: jax.Array, k_axis: int) -> None:
    """``X``'s channel axis 0 against the kernel's input-channel axis ``k_axis``."""
    if X.shape[0] != K.shape[k_axis]:
        verb = "has" if k_axis == 0 else "expects"
        raise ValueError(
            f"{fn}: `X` has {X.shape[0]} channels but `K` {verb} {K.shape[k_axis]} "
            f"(X {tuple(X.shape)}, K {tuple(K.shape)})"
        )


def as_int(fn: str, name: str, value: Any, *, minimum: int) -> int:
    """An exact Python/NumPy integer >= ``minimum`` (bools and floats are refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: `{name}` must be an int, got bool {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{fn}: `{name}` must be an int, got {type(value).__name__} {value!r:.60}"
        ) from None
    if out < minimum:
        raise ValueError(f"{fn}: `{name}` (={out}) must be >= {minimum}")
    return out


def as_pair(fn: str, name: str, value: Any, *, minimum: int = 1) -> Pair:
    """An int (used for both dimensions) or a pair of ints, each >= ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{fn}: `{name}` (={value!r}) must be an int or a pair of ints")
        return (
            as_int(fn, f"{name}[0]", value[0], minimum=minimum),
            as_int(fn, f"{name}[1]", value[1], minimum=minimum),
        )
    return (as_int(fn, name, value, minimum=minimum),) * 2


def same_padding(
    in_size: Sequence[int], kernel: Sequence[int], stride: Pair, dilation: Pair
) -> Padding:
    """lax's SAME rule: output ``ceil(in / stride)``, the odd pixel of padding at the end."""
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    (top, bottom), (left, right) = lax.padtype_to_pads(in_size, span, stride, "SAME")
    return ((top, bottom), (left, right))


def as_padding(
    fn: str, value: Any, in_size: Sequence[int], kernel: Sequence[int], stride: Pair, dilation: Pair
) -> Padding:
    """Normalise ``padding`` to ``((top, bottom), (left, right))`` non-negative ints.

    Accepts an int, a pair ``(ph, pw)``, a pair of pairs, ``"valid"`` or ``"same"``
    (any case). ``"same"`` follows lax's SAME rule, also for stride > 1.
    """
    if isinstance(value, str):
        mode = value.lower()
        if mode == "valid":
            return ((0, 0), (0, 0))
        if mode == "same":
            return same_padding(in_size, kernel, stride, dilation)
        raise ValueError(
            f"{fn}: `padding` (={value!r}) must be 'valid', 'same', an int, a pair or "
            f"((top, bottom), (left, right))"
        )
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (tuple, list)) for v in value)
    ):
        if not all(len(v) == 2 for v in value):
            raise ValueError(f"{fn}: `padding` (={value!r}) must be ((top, bottom), (left, right))")
        return tuple(  # type: ignore[return-value]
            (
                as_int(fn, f"padding[{i}][0]", v[0], minimum=0),
                as_int(fn, f"padding[{i}][1]", v[1], minimum=0),
            )
            for i, v in enumerate(value)
        )
    ph, pw = as_pair(fn, "padding", value, minimum=0)
    return ((ph, ph), (pw, pw))


def output_size(fn: str, in_size: Sequence[int], kernel: Sequence[int], params: ConvParams) -> Pair:
    """Output ``(mh, mw)``; raises if the dilated kernel does not fit the padded input."""
    out = []
    for axis, n, k, (lo, hi), s, d in zip(
        ("height", "width"), in_size, kernel, params.padding, params.stride, params.dilation
    ):
        span = (k - 1) * d + 1
        padded = n + lo + hi
        if span > padded:
            raise ValueError(
                f"{fn}: the kernel {axis} (={k}, dilated span {span}) is larger than the "
                f"padded input {axis} (={padded} = {n} + {lo} + {hi})"
            )
        out.append((padded - span) // s + 1)
    return (out[0], out[1])


def conv_params(
    fn: str,
    in_size: Sequence[int],
    kernel: Sequence[int],
    *,
    stride: Any,
    padding: Any,
    dilation: Any,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> ConvParams:
    """Check and normalise the hyperparameters shared by every 2-D entry point."""
    if 0 in kernel:
        raise ValueError(f"{fn}: the kernel's spatial size (={kernel}) must be positive")
    stride_ = as_pair(fn, "stride", stride)
    dilation_ = as_pair(fn, "dilation", dilation)
    padding_ = as_padding(fn, padding, in_size, kernel, stride_, dilation_)
    if preferred_element_type is not None:
        preferred_element_type = np.dtype(preferred_element_type)
    if isinstance(precision, list):  # lax accepts a pair as a list too; keep params hashable
        precision = tuple(precision)
    params = ConvParams(stride_, padding_, dilation_, precision, preferred_element_type)
    output_size(fn, in_size, kernel, params)
    return params
