"""Several input channels: the sum over channels of single-channel cross-correlations.

The lesson's statement is one line (``_sum_over_channels``). Written that way and left
to ``jax.vmap``'s generic rules, a stack of such sums over kernels becomes a depthwise
convolution with ``co * ci`` outputs followed by a reduction: 4-10x slower than XLA's
convolution on a CPU, 12-130x on a GPU. So the function carries two rules:

* a batching rule: the sum over channels *is* a dense convolution with one output
  channel, so a batch of sums (over kernels, images or channel groups) is a batch of
  such convolutions, which the plan's forward lowering computes as one dense or
  grouped convolution (``lowering/_fold.py``). The sum is bound as a primitive,
  ``_sum_p``, computed and lowered as the literal sum where no vmap encloses it, and
  given to JAX's vmap with that rule (a ``custom_vmap`` traced its body and its rule
  again at every level of vmap: ``lowering/_fold.py``, "Why a primitive");
* a JVP rule (``_bilinear.py``). The primitive has no derivative rules of its own, so
  the rule states that the sum is bilinear, ``d f(X, K) = f(dX, K) + f(X, dK)``, and
  computes the two tangent terms with the plan's gradient lowerings, which JAX can
  transpose. The primal value is ``f`` itself, so higher derivatives reuse the rule at
  every order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

from . import _checks
from ._bilinear import bilinear
from ._checks import ConvParams
from ._corr2d import corr2d_impl
from ._typing import ArrayLike, DTypeLike, Impl, Padding, PrecisionLike, Size2
from .lowering._fold import lower
from .lowering._plan import Plan, resolve
from .lowering._registry import REFERENCE, Pass, check_impl
from .lowering._taps import result_dtype

MultiIn = Callable[[jax.Array, jax.Array], jax.Array]


def _sum_over_channels(X: jax.Array, K: jax.Array, params: ConvParams) -> jax.Array:
    """The lesson, literally: correlate channel by channel (a vmap), then add up."""
    per_channel = jax.vmap(functools.partial(corr2d_impl, params=params))(X, K)
    return jnp.sum(per_channel, axis=0)


def _dense(
    X: jax.Array,
    K: jax.Array,
    params: ConvParams,
    lowering: str,
    pass_: Pass,
    depth: int | None = None,
) -> jax.Array:
    """The same sum as one convolution with ``ci`` inputs and one output channel."""
    y = lower(
        lowering, pass_, lax.expand_dims(X, (0,)), lax.expand_dims(K, (0,)), params, depth=depth
    )
    return lax.reshape(y, y.shape[2:])


def _sum_aval(X, K, *, params: ConvParams, plan: Plan, depth: int | None):
    return jax.core.ShapedArray(
        params.output_size(X.shape[1:], K.shape[1:]), result_dtype(X.dtype, params)
    )


def _literal(X, K, *, params: ConvParams, plan: Plan, depth: int | None):
    return _sum_over_channels(X, K, params)


def _batching_rule(args, dims, *, params: ConvParams, plan: Plan, depth: int | None):
    """A batch of sums over channels is a batch of one-output convolutions, which the
    plan's forward lowering folds into one convolution (``lowering/_fold.py``)."""
    forward = functools.partial(
        _dense, params=params, lowering=plan.forward, pass_="forward", depth=depth
    )
    return jax.vmap(forward, in_axes=dims)(*args), 0


_sum_p = Primitive("jaxconv_sum_over_channels")  # (ci, H, W) x (ci, kh, kw) -> (mh, mw)
_sum_p.def_impl(_literal)
_sum_p.def_abstract_eval(_sum_aval)
mlir.register_lowering(_sum_p, mlir.lower_fun(_literal, multiple_results=False))
batching.primitive_batchers[_sum_p] = _batching_rule


@functools.lru_cache(maxsize=1024)
def multi_in_fn(
    params: ConvParams, plan: Plan | None, depth: int | None = None, jvp: bool = True
) -> MultiIn:
    """``(ci, H, W) x (ci, kh, kw) -> (mh, mw)`` for fixed hyperparameters.

    ``plan``: the lowering of each pass; ``None`` is ``impl="reference"``, the literal
    sum left to JAX's generic rules. ``depth``: how many of jaxconv's vmaps enclose the
    call, the batching rule's own included (``lowering/_fold.py``). ``jvp=False``: the
    sum without its JVP rule, for a caller whose own rule states the derivative of the
    whole convolution (``_conv2d.planned_fn``), where this one would only be traced.
    """
    if plan is None:
        return functools.partial(_sum_over_channels, params=params)
    batched = functools.partial(_sum_p.bind, params=params, plan=plan, depth=depth)
    if not jvp:
        return batched
    return bilinear(
        batched,
        functools.partial(_dense, params=params, lowering=plan.input_grad, pass_="input_grad"),
        functools.partial(_dense, params=params, lowering=plan.weight_grad, pass_="weight_grad"),
    )


@functools.lru_cache(maxsize=1024)
def _jitted(params: ConvParams, plan: Plan | None) -> MultiIn:
    """``multi_in_fn`` for a call from outside, as a batch of one sum (so that the
    program holds the lowering itself, not an unbatched ``custom_vmap``, which
    ``jax.linear_transpose`` could not transpose); jitted, so that an eager call
    compiles once per shape."""
    one = jax.vmap(multi_in_fn(params, plan, depth=1))
    return jax.jit(lambda X, K: one(X[None], K[None])[0])


def core_plan(
    fn: str, impl: str, x_shape, w_shape, params: ConvParams, groups: int, dtype
) -> Plan | None:
    """The plan of a call of the lesson's functions (``None`` for ``"reference"``)."""
    if impl == REFERENCE:
        return None
    return resolve(fn, impl, x_shape, w_shape, params, groups, dtype)


def corr2d_multi_in(
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
    """Multi-input-channel cross-correlation: ``sum_c corr2d(X[c], K[c])``.

    Written as ``jax.vmap(corr2d)`` over the channel axis followed by a sum. Under
    ``jax.vmap`` (over kernels, images or channel groups) it compiles to a single
    convolution, lowered as ``impl`` says; ``impl="reference"`` keeps JAX's generic
    batching instead.

    Args:
      X: input, shape ``(ci, H, W)``.
      K: kernel, shape ``(ci, kh, kw)``, same dtype as ``X``.
      stride, padding, dilation, precision, preferred_element_type: as in :func:`corr2d`.
      impl: ``"auto"`` (default), ``"autotune"``, a lowering name or ``"reference"``
        (:func:`jaxconv.impls` lists them).

    Returns:
      ``(mh, mw)``.

    >>> import jax.numpy as jnp
    >>> X = jnp.stack([jnp.arange(9.0).reshape(3, 3), jnp.arange(1.0, 10.0).reshape(3, 3)])
    >>> K = jnp.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    >>> corr2d_multi_in(X, K)
    Array([[ 56.,  72.],
           [104., 120.]], dtype=float32)
    """
    fn = "corr2d_multi_in"
    impl = check_impl(fn, impl)
    X, K = _checks.operands(fn, X, K, ((3,), "(ci, H, W)"), ((3,), "(ci, kh, kw)"))
    _checks.check_channels(fn, X, K, k_axis=0)
    params = _checks.conv_params(
        fn,
        X.shape[1:],
        K.shape[1:],
        stride=stride,
        padding=padding,
        dilation=dilation,
        precision=precision,
        preferred_element_type=preferred_element_type,
        dtype=X.dtype,
    )
    plan = core_plan(fn, impl, (1, *X.shape), (1, *K.shape), params, 1, X.dtype)
    return _jitted(params, plan)(X, K)
