"""A complete 2-D convolution layer in PyTorch's terms, built from the lesson's pieces.

A batch is a ``jax.vmap`` over images, groups a ``jax.vmap`` over channel groups, and
each group is the lesson's stack over kernels of sums over channels. The whole batched
convolution carries a JVP rule that states its bilinearity with the lowerings of the
plan (``lowering/_plan.py``): the forward pass, the input gradient and the weight
gradient can each use a different lowering, chosen for the full shapes of the call.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from . import _checks, _trim
from ._bilinear import bilinear
from ._checks import PADDING_MODES, ConvParams
from ._eager import once
from ._multi_in import core_plan
from ._multi_out import stack_over_kernels
from ._typing import ArrayLike, DTypeLike, Impl, Padding, PaddingMode, PrecisionLike, Size2
from .lowering._fold import lower
from .lowering._plan import Plan
from .lowering._registry import Pass, check_impl, get_lowering


def _one_image(x, w, params: ConvParams, groups: int, plan: Plan | None):
    """``(C, H, W) x (O, C/groups, kh, kw) -> (O, mh, mw)``: a vmap over channel groups."""
    c, h, wd = x.shape
    o = w.shape[0]
    xg = lax.reshape(x, (groups, c // groups, h, wd))
    wg = lax.reshape(w, (groups, o // groups, *w.shape[1:]))
    # outer=2: inside the vmaps over groups and images; jvp=False: planned_fn's rule
    # states the derivative of the whole convolution
    stack = functools.partial(stack_over_kernels, params=params, plan=plan, outer=2, jvp=False)
    y = jax.vmap(stack)(xg, wg)  # over groups
    return lax.reshape(y, (o, *y.shape[2:]))


def _batched(x, w, params: ConvParams, groups: int, plan: Plan | None):
    """``(N, C, H, W) -> (N, O, mh, mw)``: a vmap over images."""
    return jax.vmap(
        functools.partial(_one_image, params=params, groups=groups, plan=plan),
        in_axes=(0, None),
    )(x, w)


@functools.lru_cache(maxsize=1024)
def planned_fn(params: ConvParams, groups: int, plan: Plan | None):
    """The vmap structure with the plan's forward lowering and a bilinear JVP rule,
    ``d conv(x, w) = conv(dx, w) + conv(x, dw)``, whose two terms use the plan's
    input-gradient and weight-gradient lowerings (their transposes are the backward
    pass). The primal is the function itself, so every derivative order reuses the rule.
    ``plan=None``: the literal structure under JAX's generic rules (``"reference"``).

    Where the forward pass and the weight gradient take one lowering that shares its
    input between them (``Lowering.shared_input``: ``"xla"``'s fence), both read it.

    The primal and both terms are jitted, the rule itself is not: an eager call compiles
    once per shape, and inside a caller's ``jit`` the vmap structure is traced once per
    signature. A jitted rule made JAX trace it twice (once for the primal, once more when
    linearising the ``jit``), which was most of a network's extra tracing time
    (BENCHMARKS.md, whole networks).
    """
    if plan is None:
        return jax.jit(functools.partial(_batched, params=params, groups=groups, plan=None))

    def term(pass_: Pass):
        name = plan.input_grad if pass_ == "input_grad" else plan.weight_grad
        return jax.jit(lambda x, w: lower(name, pass_, x, w, params, groups))

    primal = jax.jit(lambda x, w: _batched(x, w, params, groups, plan))
    shared = get_lowering(plan.forward).shared_input
    if plan.forward != plan.weight_grad or shared is None:
        return bilinear(primal, term("input_grad"), term("weight_grad"))
    read, read_term = shared
    return bilinear(
        primal,
        term("input_grad"),
        jax.jit(lambda x, w: read_term(x, w, params, groups)),
        jax.jit(lambda x, w: read(x, w, params, groups)),
    )


def nchw(x, w, b, *, params: ConvParams, groups: int, plan: Plan | None):
    """``(N, C, H, W) -> (N, O, mh, mw)`` on checked, zero-padded-only arguments; taps
    that only meet padding are dropped first (``_trim.py``; not for ``"reference"``)."""
    if plan is not None:
        w, params = _trim.trim(x.shape, w, params)
    y = planned_fn(params, groups, plan)(x, w)
    if b is not None:  # one broadcast, whose transpose is one reduction
        y = lax.add(y, lax.broadcast_in_dim(b.astype(y.dtype), y.shape, (1,)))
    return y


def _conv2d_body(x, w, b, *, params, groups, plan, pad_mode, unbatched):
    """:func:`conv2d` after its checks: the padding mode, a batch of one, the conv."""
    if pad_mode is not None:
        mode, widths = pad_mode
        x = jnp.pad(x, widths, mode=mode)
    y = nchw(x[None] if unbatched else x, w, b, params=params, groups=groups, plan=plan)
    return y[0] if unbatched else y


def check_weight(fn: str, x, w, groups, names=("input", "weight")) -> int:
    """Checks ``weight`` ``(O, C/groups, kh, kw)`` against ``x`` ``(..., C, H, W)``."""
    _checks.check_rank(fn, names[1], w, (4,), "(out_channels, in_channels/groups, kh, kw)")
    _checks.check_same_dtype(fn, names, x, w)
    return _checks.check_weight_shape(fn, x.shape, w.shape, groups, names)


def conv2d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    groups: int = 1,
    padding_mode: PaddingMode | str = "zeros",
    *,
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
    impl: Impl | str = "auto",
) -> jax.Array:
    """2-D convolution with the semantics of ``torch.nn.functional.conv2d``.

    Plus ``torch.nn.Conv2d``'s ``padding_mode``. Cross-correlation, as in torch and lax.

    Args:
      input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
      weight: ``(O, C // groups, kh, kw)``, same dtype as ``input``.
      bias: ``(O,)`` or ``None``.
      stride: int or ``(sh, sw)``.
      padding: int, ``(ph, pw)``, ``((top, bottom), (left, right))``, ``"valid"`` or
        ``"same"``. ``"same"`` follows lax's SAME rule: output ``ceil(H / sh)``, with an
        odd pixel of padding at the bottom/right; unlike torch it is allowed for
        stride > 1.
      dilation: int or ``(dh, dw)``.
      groups: splits the channels into ``groups`` independent convolutions; must
        divide ``C`` and ``O``.
      padding_mode: ``"zeros"``, ``"reflect"`` (padding must be smaller than the
        input side), ``"replicate"`` or ``"circular"`` (any amount).
      precision, preferred_element_type: passed to ``lax.conv_general_dilated``.
      impl: ``"auto"`` (default: a plan of lowerings per pass, by platform and shapes;
        :func:`jaxconv.choose_plan` tells which), ``"autotune"`` (the lowering of each
        pass timed fastest here, once per shape, at trace time), one lowering's name, or
        ``"reference"`` (:func:`jaxconv.impls` lists them).

    Returns:
      ``(N, O, mh, mw)``, or ``(O, mh, mw)`` for unbatched input, with
      ``mh = (H + top + bottom - dh*(kh-1) - 1) // sh + 1``, likewise ``mw``.

    >>> import jax.numpy as jnp
    >>> x = jnp.ones((2, 4, 8, 8))
    >>> w = jnp.ones((6, 2, 3, 3))
    >>> conv2d(x, w, jnp.zeros(6), stride=2, padding=1, groups=2).shape
    (2, 6, 4, 4)
    >>> conv2d(x[0], w, padding="same", groups=2, padding_mode="circular")[0, 0, 0]
    Array(18., dtype=float32)
    """
    return checked_conv2d(
        "conv2d",
        input,
        weight,
        bias,
        stride,
        padding,
        dilation,
        groups,
        padding_mode,
        precision,
        preferred_element_type,
        impl,
    )


def checked_conv2d(
    fn,
    input,
    weight,
    bias,
    stride,
    padding,
    dilation,
    groups,
    padding_mode,
    precision,
    preferred_element_type,
    impl,
):
    """:func:`conv2d`, with errors reported under the caller's name ``fn``."""
    impl = check_impl(fn, impl)
    x = _checks.as_array(fn, "input", input)
    w = _checks.as_array(fn, "weight", weight)
    _checks.check_rank(fn, "input", x, (3, 4), "(N, C, H, W) or (C, H, W)")
    groups = check_weight(fn, x, w, groups)
    if bias is not None:
        bias = _checks.as_array(fn, "bias", bias)
        _checks.check_same_dtype(fn, ("input", "bias"), x, bias)
        if bias.shape != (w.shape[0],):
            raise ValueError(
                f"{fn}: `bias` must have shape ({w.shape[0]},) to match `weight` "
                f"{tuple(w.shape)}, got {tuple(bias.shape)}"
            )
    _checks.check_padding_mode(fn, padding_mode)
    params = _checks.conv_params(
        fn,
        x.shape[-2:],
        w.shape[2:],
        stride=stride,
        padding=padding,
        dilation=dilation,
        precision=precision,
        preferred_element_type=preferred_element_type,
        dtype=x.dtype,
    )
    pad_mode, params, x_shape = _pad_with_mode(fn, x.shape, params, padding_mode)
    unbatched = x.ndim == 3
    batched_shape = (1, *x_shape) if unbatched else x_shape
    plan = core_plan(fn, impl, batched_shape, w.shape, params, groups, x.dtype)
    return once(
        _conv2d_body,
        x,
        w,
        bias,
        params=params,
        groups=groups,
        plan=plan,
        pad_mode=pad_mode,
        unbatched=unbatched,
    )


def _pad_with_mode(fn: str, x_shape, params: ConvParams, padding_mode: str):
    """``(pad_mode, params, padded shape)``: a non-zero padding mode becomes an explicit
    ``jnp.pad`` (``(mode, widths)``) before a convolution with no padding of its own;
    zero padding stays inside the convolution (``pad_mode`` ``None``)."""
    mode = PADDING_MODES[padding_mode]
    if mode is None or not params.padded:
        return None, params, tuple(x_shape)
    if mode == "reflect":
        for axis, size, pads in zip(("height", "width"), x_shape[-2:], params.padding):
            if max(pads) >= size:
                raise ValueError(
                    f"{fn}: reflect padding {pads} must be smaller than the input {axis} (={size})"
                )
    widths = ((0, 0),) * (len(x_shape) - 2) + params.padding
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(x_shape, widths))
    return (mode, widths), params._replace(padding=((0, 0), (0, 0))), padded
