"""A batch of convolutions is one convolution: how a lowering is called.

The lesson's structure reaches a lowering from inside ``jax.vmap``s (over kernels,
channel groups, images, and the caller's own). Left to JAX, every lowering would be
batched by generic rules, and a kernel without batching rules (an FFI call) could not
be a lowering at all. So the forward call carries a batching rule
(``jax.custom_batching.custom_vmap``) that folds the mapped axis into the convolution
itself, as ``lax.conv_general_dilated``'s own rule does:

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
transpose (``custom_vmap`` has no transpose rule) and a caller's vmap batches by JAX's
rules. A forward-only lowering keeps the folding call at the top, so that a caller's vmap
is folded too.

``"xla"`` needs no rule of ours: ``lax.conv_general_dilated``'s own batching rule folds
the same way, so under jaxconv's vmaps it is called directly and JAX folds it. That skips
a ``custom_vmap`` trace per level: a convolution's training step traced in 19 ms
instead of 28 ms (lax alone: 7 ms), which matters where every plan is ``"xla"`` (GPUs).

``custom_vmap`` traces its function's unbatched body at every call, to type it. Each of
jaxconv's own vmaps maps ``x`` or ``w``, so under them (depth known) some input is always
batched and JAX runs the rule, never the body: there the body is lax's convolution, one
operation to trace, and the lowering is traced once, at the call's full shapes. Where the
depth is unknown (a forward-only lowering under a caller's vmap), the body is the lowering.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

from .._checks import ConvParams, is_static
from ._registry import Pass, get_lowering

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
    direct = depth == 0 and get_lowering(name).transposable  # every vmap folded
    if direct or (depth is not None and name == LAX_FOLDED):
        return functools.partial(_checked_call, name, "forward", params=params, groups=groups)
    return _folded(name, params, groups, depth if depth else None)


def _checked_call(name, pass_, x, w, params, groups):
    y = get_lowering(name).function(pass_)(x, w, params, groups)
    expected = (x.shape[0], w.shape[0], *params.output_size(x.shape[2:], w.shape[2:]))
    dtype = x.dtype if params.preferred_element_type is None else params.preferred_element_type
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


@functools.lru_cache(maxsize=1024)
def _folded(name: str, params: ConvParams, groups: int, depth: int | None = None):
    """The forward call of lowering ``name`` with the folding batching rule."""
    outer = None if depth is None else depth - 1  # the vmaps left once this one is folded
    # Under jaxconv's own vmaps the body only types the call (module notes): lax's
    # convolution types it in one operation instead of a trace of the lowering per level.
    body = name if depth is None else "xla"
    call = custom_vmap(
        functools.partial(_checked_call, body, "forward", params=params, groups=groups)
    )

    @call.def_vmap
    def _rule(b, in_batched, x, w):
        x_batched, w_batched = in_batched
        if not (x_batched or w_batched):
            return _forward(name, params, groups, outer)(x, w), False
        # sizes are spelled out (no -1): a batch may be empty
        o = w.shape[1]
        if x_batched and w_batched:  # pairs: B times the groups
            n, c = x.shape[1:3]
            xf = jnp.moveaxis(x, 0, 1).reshape(n, b * c, *x.shape[3:])
            y = _forward(name, params, b * groups, outer)(xf, w.reshape(b * o, *w.shape[2:]))
            return jnp.moveaxis(y.reshape(n, b, o, *y.shape[2:]), 1, 0), True
        if x_batched:  # B times the images
            n = x.shape[1]
            y = _forward(name, params, groups, outer)(x.reshape(b * n, *x.shape[2:]), w)
            return y.reshape(b, n, *y.shape[1:]), True
        # B times the output channels, kept in their groups: (G, B, O/G) channel order
        wf = jnp.moveaxis(w.reshape(b, groups, o // groups, *w.shape[2:]), 0, 1)
        y = _forward(name, params, groups, outer)(x, wf.reshape(b * o, *w.shape[2:]))
        n = y.shape[0]
        y = jnp.moveaxis(y.reshape(n, groups, b, o // groups, *y.shape[2:]), 2, 0)
        return y.reshape(b, n, o, *y.shape[4:]), True

    return call
