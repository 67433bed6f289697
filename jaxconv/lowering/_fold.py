"""A batch of convolutions is one convolution: how a lowering is called.

The lesson's structure reaches a lowering from inside ``jax.vmap``s (over kernels,
channel groups, images, and the caller's own). Left to JAX, every lowering would be
batched by generic rules, and a kernel without batching rules (an FFI call) could not
be a lowering at all. So the forward call is a primitive, ``_folded_p``, whose batching
rule folds the mapped axis into the convolution itself, as
``lax.conv_general_dilated``'s own rule does:

* a batch of inputs, one weight: more images, ``(B, N, ...) -> (B*N, ...)``;
* one input, a batch of weights: more output channels (per group);
* pairs of inputs and weights: more groups, ``(B, N, C, ...) -> (N, B*C, ...)``.

The folded call is folded again under an outer ``vmap``, so the lowering runs once, on
the full arrays. Gradient terms call the lowering directly: they are linear and JAX
transposes them, so only transposable lowerings serve there (``_registry.py``), and
those batch by JAX's rules. Every result is checked against the contract at trace time.

``depth`` is how many of jaxconv's own vmaps enclose a call. Every function that calls a
lowering is traced inside a ``jit`` of its own (``planned_fn``'s primal and gradient
terms, ``_multi_in._jitted``, ``_multi_out._jitted``), so no caller's vmap encloses it
while it is traced (a caller's vmap batches the traced program afterwards). Once the
outermost of its own vmaps is folded, a transposable lowering is therefore called
directly: the program then holds plain operations, which ``jax.linear_transpose`` can
transpose (the primitive has no transpose rule) and a caller's vmap batches by JAX's
rules. A forward-only lowering keeps the primitive at the top, so that a caller's vmap
is folded too; there it is computed and lowered as the lowering itself.

``"xla"`` needs no rule of ours: ``lax.conv_general_dilated``'s own batching rule folds
the same way, so under jaxconv's vmaps it is called directly and JAX folds it; except
for 64-bit elements on a CPU, where the groups lax's rule folds can read one another
(``_xla.naive_cpu_loop``) and ours folds them.

Why a primitive. The rule was first a ``jax.custom_batching.custom_vmap``, which traces
its function's body at every call to type it and its rule into a program at every
level of vmap. A primitive's result type is a formula (``_folded_aval``) and its rule a
Python function that JAX calls once per level. With the lesson's sum over channels a
primitive too (``_multi_in.py``) and the rules' moves written as single ``lax``
operations, the vmap structure of one convolution traced in 12-22 ms instead of 19-39
(2-core CPU; 3x3 depthwise, 1x1 and 3x3 dense layers at batch 32, 16x16), and a
MobileNet-v1 training step traced in 1.1-1.2 s instead of 1.65 s (flax: 0.5 s).
Where the depth is unknown (a forward-only lowering called outside jaxconv's vmaps) the
type is taken from a trace of the lowering, so that a broken contract is reported when
the call is traced.
"""

from __future__ import annotations

import functools

import jax
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

from .._checks import ConvParams, is_static
from ._registry import Pass, get_lowering
from ._taps import result_dtype
from ._xla import naive_cpu_loop

LAX_FOLDED = "xla"  # the lowering that lax's own batching rule folds as this module would


def lower(
    name: str,
    pass_: Pass,
    x: jax.Array,
    w: jax.Array,
    params: ConvParams,
    groups: int = 1,
    depth: int | None = None,
) -> jax.Array:
    """``(N, C, H, W) x (O, C/groups, kh, kw) -> (N, O, mh, mw)`` by lowering ``name``.

    ``depth``: how many of jaxconv's vmaps enclose the call (``None``: unknown, fold
    every enclosing vmap).
    """
    if pass_ == "forward":
        return _forward(name, params, groups, depth)(x, w)
    return _checked_call(name, pass_, x, w, params, groups)


def _forward(name: str, params: ConvParams, groups: int, depth: int | None):
    """The forward call under ``depth`` more of jaxconv's vmaps (see the module notes)."""
    call = functools.partial(_checked_call, name, "forward", params=params, groups=groups)
    folded = functools.partial(
        _folded_p.bind, name=name, params=params, groups=groups, depth=depth if depth else None
    )
    if depth == 0 and get_lowering(name).transposable:  # every vmap folded
        return call
    if depth is not None and name == LAX_FOLDED:
        # lax's rule folds the groups into feature groups, which XLA's 64-bit CPU loop
        # lets read one another (a NaN reaches every depthwise group): ours hands the
        # lowering all the groups, and it keeps them apart (_xla.naive_cpu_loop)
        return lambda x, w: (folded if naive_cpu_loop(x.dtype) else call)(x, w)
    return folded


def _checked_call(name, pass_, x, w, params, groups):
    y = get_lowering(name).function(pass_)(x, w, params, groups)
    expected = (x.shape[0], w.shape[0], *params.output_size(x.shape[2:], w.shape[2:]))
    dtype = result_dtype(x.dtype, params)
    shape = tuple(getattr(y, "shape", ()))
    same_shape = len(shape) == len(expected) and all(
        a == b
        for a, b in zip(shape, expected)
        if is_static(a, b)  # symbolic: jax.export
    )
    if not same_shape or getattr(y, "dtype", None) != dtype:
        raise ValueError(
            f"jaxconv: lowering {name!r} ({pass_} pass) returned shape {shape} and dtype "
            f"{getattr(y, 'dtype', type(y).__name__)} for x {tuple(x.shape)}, w "
            f"{tuple(w.shape)}, groups={groups}; the contract is shape {expected}, dtype {dtype}"
        )
    return y


def _call(x, w, *, name: str, params: ConvParams, groups: int, depth: int | None):
    """``_folded_p``'s computation, where no vmap is left to fold: the lowering itself."""
    return _checked_call(name, "forward", x, w, params, groups)


def _folded_aval(x, w, *, name: str, params: ConvParams, groups: int, depth: int | None):
    if depth is None:  # outside jaxconv's own vmaps: trace the lowering, checking it
        out = jax.eval_shape(
            functools.partial(_call, name=name, params=params, groups=groups, depth=None), x, w
        )
        return jax.core.ShapedArray(out.shape, out.dtype)
    size = params.output_size(x.shape[2:], w.shape[2:])
    return jax.core.ShapedArray((x.shape[0], w.shape[0], *size), result_dtype(x.dtype, params))


def _moveaxis(a, src: int, dst: int):
    """``jnp.moveaxis`` as one ``lax`` operation, a reshape where only axes of size 1
    move (``jnp``'s is a jitted function: a nested trace per call, which was a third of
    the vmap structure's tracing time)."""
    perm = [i for i in range(a.ndim) if i != src]
    perm.insert(dst, src)
    kept = [i for i in range(a.ndim) if not (is_static(a.shape[i]) and a.shape[i] == 1)]
    if [i for i in perm if i in kept] == kept:  # only axes of size 1 move: a reshape
        return lax.reshape(a, tuple(a.shape[i] for i in perm))
    return lax.transpose(a, perm)


def _fold_rule(args, dims, *, name: str, params: ConvParams, groups: int, depth: int | None):
    """A batch of convolutions as one: the mapped axis joins the images, the output
    channels or the groups, and the folded call goes on to the next enclosing vmap."""
    x, w = (a if d is None else _moveaxis(a, d, 0) for a, d in zip(args, dims))
    x_batched, w_batched = (d is not None for d in dims)
    outer = None if depth is None else depth - 1  # the vmaps left once this one is folded
    b = x.shape[0] if x_batched else w.shape[0]
    # sizes are spelled out (no -1): a batch may be empty
    o = w.shape[-4]
    if x_batched and w_batched:  # pairs: B times the groups
        n, c = x.shape[1:3]
        xf = lax.reshape(_moveaxis(x, 0, 1), (n, b * c, *x.shape[3:]))
        wf = lax.reshape(w, (b * o, *w.shape[2:]))
        y = _forward(name, params, b * groups, outer)(xf, wf)
        return _moveaxis(lax.reshape(y, (n, b, o, *y.shape[2:])), 1, 0), 0
    if x_batched:  # B times the images
        n = x.shape[1]
        y = _forward(name, params, groups, outer)(lax.reshape(x, (b * n, *x.shape[2:])), w)
        return lax.reshape(y, (b, n, *y.shape[1:])), 0
    # B times the output channels, kept in their groups: (G, B, O/G) channel order
    wf = _moveaxis(lax.reshape(w, (b, groups, o // groups, *w.shape[2:])), 0, 1)
    y = _forward(name, params, groups, outer)(x, lax.reshape(wf, (b * o, *w.shape[2:])))
    n = y.shape[0]
    y = _moveaxis(lax.reshape(y, (n, groups, b, o // groups, *y.shape[2:])), 2, 0)
    return lax.reshape(y, (b, n, o, *y.shape[4:])), 0


_folded_p = Primitive("jaxconv_folded_conv")
_folded_p.def_impl(_call)
_folded_p.def_abstract_eval(_folded_aval)
mlir.register_lowering(_folded_p, mlir.lower_fun(_call, multiple_results=False))
batching.primitive_batchers[_folded_p] = _fold_rule
