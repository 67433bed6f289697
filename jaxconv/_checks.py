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
from jax import export, lax

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

    @property
    def padded(self) -> bool:
        """Whether any side is padded.

        >>> ConvParams((1, 1), ((0, 0), (0, 1)), (1, 1)).padded
        True
        """
        return self.padding != ((0, 0), (0, 0))


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
    """A shape given as a tuple or list of non-negative ints (or symbolic sizes of
    ``jax.export``), with one of ``ranks`` entries."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(
            f"{fn}: `{name}` must be a tuple of ints, got {type(value).__name__} {value!r:.60}"
        )
    out: tuple[Any, ...] = tuple(  # symbolic sizes behave as ints
        v if export.is_symbolic_dim(v) else as_int(fn, f"{name}[{i}]", v, minimum=0)
        for i, v in enumerate(value)
    )
    if len(out) not in ranks:
        raise ValueError(f"{fn}: `{name}` {out} must have {' or '.join(map(str, ranks))} entries")
    return out


def check_groups(
    fn: str, groups: Any, channels: dict[str, int | tuple[int, str]], name: str = "groups"
) -> int:
    """``groups`` as an int >= 1 that divides every channel count.

    ``channels`` maps a label to a count, or to ``(count, where)``, ``where`` saying
    which axis of which argument holds it.
    """
    groups = as_int(fn, name, groups, minimum=1)
    for label, entry in channels.items():
        count, where = entry if isinstance(entry, tuple) else (entry, "")
        if count % groups:
            where = f", {where}" if where else ""
            raise ValueError(f"{fn}: `{name}` (={groups}) must divide {label} (={count}{where})")
    return groups


def check_weight_shape(
    fn: str,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    groups: Any,
    names: tuple[str, str] = ("input", "weight"),
    *,
    groups_name: str = "groups",
    shown: tuple[tuple[int, ...], tuple[int, ...]] | None = None,
    axes: tuple[int, int, int] = (-3, 0, 1),
    of_shapes: bool = False,
) -> int:
    """The channel rule of a grouped convolution: a weight ``(O, C // groups, kh, kw)``
    for an input ``(..., C, H, W)``; returns ``groups`` as an int.

    Messages name the caller's arguments: ``groups_name``, the shapes ``shown`` (as
    the caller passed them, default the canonical ones) and the ``axes`` of those
    shapes holding the input channels, the output channels and the weight's input
    channels. ``of_shapes``: the arguments are shapes themselves (``name[axis]``).
    """
    xn, wn = names
    at = (lambda n, a: f"`{n}`[{a}]") if of_shapes else (lambda n, a: f"`{n}`.shape[{a}]")
    c, o, i = x_shape[-3], w_shape[0], w_shape[1]
    xs, ws = shown if shown is not None else (tuple(x_shape), tuple(w_shape))
    ca, oa, ia = (a % len(s) for a, s in zip(axes, (xs, ws, ws)))
    groups = check_groups(
        fn,
        groups,
        {
            "the input channels": (c, at(xn, ca)),
            f"the output channels of `{wn}`": (o, at(wn, oa)),
        },
        groups_name,
    )
    if i * groups != c:
        raise ValueError(
            f"{fn}: `{wn}` {ws} expects {i * groups} input channels ({i} per group "
            f"({at(wn, ia)}) x {groups} groups) but `{xn}` {xs} has {c} ({at(xn, ca)})"
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


MAX_SIZE = 2**31 - 1
"""The largest stride, dilation, padding, padded input or dilated kernel accepted: sizes
beyond it overflow XLA's 32-bit index arithmetic on some backends and are far beyond
any memory."""


def as_int(fn: str, name: str, value: Any, *, minimum: int | None, maximum: int = MAX_SIZE) -> int:
    """An exact Python/NumPy integer in ``[minimum, maximum]`` (bools and floats are
    refused; ``minimum=None``: no lower bound, and ``-maximum`` is the least)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: `{name}` must be an int, got bool {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{fn}: `{name}` must be an int, got {type(value).__name__} {value!r:.60}"
        ) from None
    if minimum is not None and out < minimum:
        raise ValueError(f"{fn}: `{name}` (={out}) must be >= {minimum}")
    if abs(out) > maximum:
        raise ValueError(f"{fn}: `{name}` (={out}) is out of range (at most {maximum} in size)")
    return out


def is_static(*dims: Any) -> bool:
    """Whether every size is a known int (not a symbolic dimension of ``jax.export``)."""
    return not any(export.is_symbolic_dim(d) for d in dims)


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
    """Output ``(mh, mw)``; raises if the dilated kernel does not fit the padded input.

    Symbolic input sizes (``jax.export``) cannot be checked here; the exported function
    refuses too-small inputs when it is called.
    """
    out = []
    for axis, n, k, (lo, hi), s, d in zip(
        ("height", "width"), in_size, kernel, params.padding, params.stride, params.dilation
    ):
        span = (k - 1) * d + 1
        padded = n + lo + hi
        if span > MAX_SIZE or (is_static(padded) and padded > MAX_SIZE):
            raise ValueError(
                f"{fn}: the padded input {axis} (={padded}) or the dilated kernel {axis} "
                f"(={span}) is larger than {MAX_SIZE}"
            )
        if is_static(padded) and span > padded:
            raise ValueError(
                f"{fn}: the kernel {axis} (={k}, dilated span {span}) is larger than the "
                f"padded input {axis} (={padded} = {n} + {lo} + {hi})"
            )
        out.append((padded - span) // s + 1)
    return (out[0], out[1])


def check_precision(fn: str, precision: Any) -> Any:
    """``precision`` as lax takes it: ``None``, a ``lax.Precision`` (or its name) or a
    pair of them; names become ``lax.Precision`` members so that params hash equal."""
    if precision is None or isinstance(precision, lax.Precision):
        return precision
    if isinstance(precision, str):
        try:
            return lax.Precision(precision)
        except ValueError:
            names = ", ".join(repr(m.lower()) for m in lax.Precision.__members__)
            raise ValueError(
                f"{fn}: `precision` (={precision!r}) must be None, a lax.Precision, one of "
                f"{names} or a pair of them"
            ) from None
    if isinstance(precision, (tuple, list)) and len(precision) == 2:
        pair = tuple(check_precision(fn, p) for p in precision)
        if None not in pair:
            return pair
    raise TypeError(
        f"{fn}: `precision` must be None, a lax.Precision, its name or a pair of them, "
        f"got {type(precision).__name__} {precision!r:.60}"
    )


def check_preferred_element_type(fn: str, value: Any, dtype: Any = None) -> np.dtype | None:
    """``preferred_element_type`` as a NumPy dtype of the input's kind (floating inputs
    accumulate in a floating type, complex ones in a complex type)."""
    if value is None:
        return None
    try:
        out = np.dtype(value)
    except TypeError:
        raise TypeError(f"{fn}: `preferred_element_type` (={value!r:.60}) is not a dtype") from None
    if dtype is not None:
        kind = jnp.complexfloating if jnp.issubdtype(dtype, jnp.complexfloating) else jnp.floating
        if not jnp.issubdtype(out, kind):
            raise TypeError(
                f"{fn}: `preferred_element_type` (={out}) must be a {kind.__name__} dtype for "
                f"an input of dtype {np.dtype(dtype)}"
            )
    return out


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
    dtype: Any = None,
) -> ConvParams:
    """Check and normalise the hyperparameters shared by every 2-D entry point
    (``dtype``: the input's, to check ``preferred_element_type`` against)."""
    if 0 in kernel:
        raise ValueError(f"{fn}: the kernel's spatial size (={kernel}) must be positive")
    stride_ = as_pair(fn, "stride", stride)
    dilation_ = as_pair(fn, "dilation", dilation)
    padding_ = as_padding(fn, padding, in_size, kernel, stride_, dilation_)
    params = ConvParams(
        stride_,
        padding_,
        dilation_,
        check_precision(fn, precision),
        check_preferred_element_type(fn, preferred_element_type, dtype),
    )
    output_size(fn, in_size, kernel, params)
    return params
