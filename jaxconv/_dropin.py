"""``jaxconv.conv_general_dilated``: a drop-in for ``jax.lax.conv_general_dilated``.

Calls that the lesson's structure expresses (two spatial dimensions, no input
dilation, no batch groups, non-negative padding, matching inexact dtypes) are
transposed to NCHW/OIHW, computed by the vmap core and transposed back; XLA folds the
transposes into the convolution's dimension numbers. Everything else goes to lax.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _checks
from ._checks import Padding
from ._conv2d import nchw
from ._eager import once
from ._multi_in import core_plan
from ._typing import ArrayLike, Impl
from .lowering._registry import check_impl


def _padding(fn: str, padding: Any) -> str | tuple[tuple[int, int], ...]:
    """lax's ``padding`` checked as lax checks it: a string, or ``(low, high)`` pairs of
    ints (negative allowed) with messages naming this function."""
    if isinstance(padding, str):
        return padding
    try:
        pairs = [tuple(p) for p in padding]
    except TypeError:
        raise TypeError(
            f"{fn}: `padding` must be a string or a sequence of (low, high) int pairs, got "
            f"{type(padding).__name__} {padding!r:.60}"
        ) from None
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"{fn}: `padding` (={padding!r:.60}) must hold (low, high) pairs")
    return tuple(
        (
            _checks.as_int(fn, f"padding[{i}][0]", lo, minimum=None),
            _checks.as_int(fn, f"padding[{i}][1]", hi, minimum=None),
        )
        for i, (lo, hi) in enumerate(pairs)
    )


def _core_padding(padding) -> Padding | str | None:
    """The core's form of a checked lax ``padding``, or ``None`` if the core does not take it."""
    if isinstance(padding, str):
        return padding.lower() if padding.upper() in ("SAME", "VALID") else None
    if len(padding) != 2 or min(min(p) for p in padding) < 0:
        return None
    return ((padding[0][0], padding[0][1]), (padding[1][0], padding[1][1]))


def _output_is_nonempty(in_size, kernel, padding, rhs_dilation) -> bool:
    """Whether the output has pixels (lax returns an empty array if not). Symbolic sizes
    (``jax.export``) are taken to be large enough."""
    if not all(n > 0 for n in in_size if _checks.is_static(n)):
        return False
    if padding == "same":
        return True
    pads = ((0, 0), (0, 0)) if padding == "valid" else padding
    dilation = rhs_dilation if rhs_dilation is not None else (1, 1)
    return all(
        not _checks.is_static(n) or (k - 1) * d + 1 <= n + lo + hi
        for n, k, d, (lo, hi) in zip(in_size, kernel, dilation, pads)
    )


def conv_general_dilated(
    lhs: ArrayLike,
    rhs: ArrayLike,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count=1,
    batch_group_count=1,
    precision=None,
    preferred_element_type=None,
    out_sharding=None,
    *,
    impl: Impl | str = "auto",
) -> jax.Array:
    """Same signature and results as ``jax.lax.conv_general_dilated``.

    Usable wherever lax's function is, e.g. ``flax.linen.Conv(...,
    conv_general_dilated=jaxconv.conv_general_dilated)`` or the same argument of
    ``flax.nnx.Conv``. Layouts follow ``dimension_numbers`` (default NCHW/OIHW/NCHW).

    >>> import jax.numpy as jnp
    >>> x = jnp.ones((1, 5, 5, 3))  # NHWC
    >>> k = jnp.ones((3, 3, 3, 8))  # HWIO
    >>> conv_general_dilated(x, k, (1, 1), "SAME",
    ...                      dimension_numbers=("NHWC", "HWIO", "NHWC")).shape
    (1, 5, 5, 8)
    """
    fn = "conv_general_dilated"
    impl = check_impl(fn, impl)
    lhs = _checks.as_any_array(fn, "lhs", lhs)  # any dtype: lax's rules apply beyond floats
    rhs = _checks.as_any_array(fn, "rhs", rhs)
    padding = _padding(fn, padding)
    core_padding = _core_padding(padding)
    routable = (
        lhs.ndim == 4
        and rhs.ndim == 4
        and core_padding is not None
        and batch_group_count == 1
        and (lhs_dilation is None or all(d == 1 for d in lhs_dilation))
        and out_sharding is None
        and lhs.dtype == rhs.dtype
        and jnp.issubdtype(lhs.dtype, jnp.inexact)
    )
    if routable:
        dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
        x_shape = tuple(lhs.shape[a] for a in dn.lhs_spec)  # NCHW
        w_shape = tuple(rhs.shape[a] for a in dn.rhs_spec)  # OIHW
        routable = _output_is_nonempty(x_shape[2:], w_shape[2:], core_padding, rhs_dilation)
    if not routable:  # lax's semantics, including its empty outputs and its errors
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            dimension_numbers,
            feature_group_count,
            batch_group_count,
            precision,
            preferred_element_type,
            out_sharding=out_sharding,
        )
    groups = _checks.check_weight_shape(  # in the caller's terms: argument names, layouts
        fn,
        x_shape,
        w_shape,
        feature_group_count,
        ("lhs", "rhs"),
        groups_name="feature_group_count",
        shown=(tuple(lhs.shape), tuple(rhs.shape)),
        axes=(dn.lhs_spec[1], dn.rhs_spec[0], dn.rhs_spec[1]),
    )
    params = _checks.conv_params(  # lax's argument names in the messages
        fn,
        x_shape[2:],
        w_shape[2:],
        stride=_checks.as_pair(fn, "window_strides", window_strides),
        padding=core_padding,
        dilation=_checks.as_pair(fn, "rhs_dilation", rhs_dilation or (1, 1)),
        precision=precision,
        preferred_element_type=preferred_element_type,
        dtype=lhs.dtype,
    )
    plan = core_plan(fn, impl, x_shape, w_shape, params, groups, lhs.dtype)
    specs = (tuple(dn.lhs_spec), tuple(dn.rhs_spec), tuple(int(a) for a in np.argsort(dn.out_spec)))
    return once(_in_layouts, lhs, rhs, specs=specs, params=params, groups=groups, plan=plan)


def _in_layouts(lhs, rhs, *, specs, params, groups, plan):
    """The NCHW convolution between transposes from and to the caller's layouts."""
    lhs_spec, rhs_spec, out_perm = specs
    x, w = jnp.transpose(lhs, lhs_spec), jnp.transpose(rhs, rhs_spec)
    y = nchw(x, w, None, params=params, groups=groups, plan=plan)
    return jnp.transpose(y, out_perm)
