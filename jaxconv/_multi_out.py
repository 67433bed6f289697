"""Several output channels: a stack of multi-input correlations, one 3-D kernel each."""

from __future__ import annotations

import functools

import jax

from . import _checks
from ._checks import ConvParams
from ._multi_in import core_plan, multi_in_fn
from ._typing import ArrayLike, DTypeLike, Impl, Padding, PrecisionLike, Size2
from .lowering._plan import Plan
from .lowering._registry import check_impl


def stack_over_kernels(
    X: jax.Array,
    K: jax.Array,
    params: ConvParams,
    plan: Plan | None,
    outer: int = 0,
    jvp: bool = True,
) -> jax.Array:
    """``(ci, H, W) x (co, ci, kh, kw) -> (co, mh, mw)``: ``jax.vmap`` over kernels.

    ``plan``: the lowerings, ``None`` for the literal reference (see ``multi_in_fn``);
    ``outer``: how many of jaxconv's vmaps enclose the stack (over groups, images);
    ``jvp``: whether each sum carries its JVP rule (``multi_in_fn``).
    """
    sum_over_channels = multi_in_fn(params, plan, depth=outer + 1, jvp=jvp)
    return jax.vmap(sum_over_channels, in_axes=(None, 0))(X, K)


@functools.lru_cache(maxsize=1024)
def _jitted(params: ConvParams, plan: Plan | None):
    """The stack for a call from outside: an eager call compiles once per shape."""
    return jax.jit(functools.partial(stack_over_kernels, params=params, plan=plan))


def corr2d_multi_in_out(
    X: ArrayLike,
    K: ArrayLike,
    *,
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
    impl: Impl | str = "auto",
) -> jax.Array:
    """Multi-input, multi-output cross-correlation: ``stack_o corr2d_multi_in(X, K[o])``.

    Written as ``jax.vmap(corr2d_multi_in)`` over the kernel axis; it compiles to one
    dense convolution, lowered as ``impl`` says.

    Args:
      X: input, shape ``(ci, H, W)``.
      K: kernels, shape ``(co, ci, kh, kw)``: one 3-D kernel per output channel.
      stride, padding, dilation, precision, preferred_element_type: as in :func:`corr2d`.
      impl: ``"auto"`` (default), ``"autotune"``, a lowering name or ``"reference"``
        (:func:`jaxconv.impls` lists them).

    Returns:
      ``(co, mh, mw)``.

    >>> import jax.numpy as jnp
    >>> X = jnp.stack([jnp.arange(9.0).reshape(3, 3), jnp.arange(1.0, 10.0).reshape(3, 3)])
    >>> K0 = jnp.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    >>> corr2d_multi_in_out(X, jnp.stack([K0, K0 + 1, K0 + 2])).shape
    (3, 2, 2)
    """
    fn = "corr2d_multi_in_out"
    impl = check_impl(fn, impl)
    X, K = _checks.operands(fn, X, K, ((3,), "(ci, H, W)"), ((4,), "(co, ci, kh, kw)"))
    _checks.check_channels(fn, X, K, k_axis=1)
    params = _checks.conv_params(
        fn,
        X.shape[1:],
        K.shape[2:],
        stride=stride,
        padding=padding,
        dilation=dilation,
        precision=precision,
        preferred_element_type=preferred_element_type,
        dtype=X.dtype,
    )
    plan = core_plan(fn, impl, (1, *X.shape), K.shape, params, 1, X.dtype)
    return _jitted(params, plan)(X, K)
