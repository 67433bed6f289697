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

A fold moves no data: the rule records its kind in the primitive (``folds``) and binds
it again, one level out, with the mapped axis in front. Once the last vmap is folded,
``_unfolded`` applies every recorded fold at once, a reshape (where needed a transpose)
of each operand and of the result, so the lowering runs once, on the full arrays.
Folding at every level instead (a reshape of each operand and of the result per level,
as lax's own rule for its convolution does) put 15-17 layout operations around each
convolution of ``conv2d`` where 9 are now (2-core CPU: the vmap structure of a depthwise
3x3, a 1x1 and a 3x3 layer traced in 4.3, 2.7 and 2.4 ms instead of 4.7, 3.5 and 3.1;
a MobileNet-v1 training step holds 1776 operations instead of 1926).

Gradient terms call the lowering directly: they are linear and JAX transposes them, so
only transposable lowerings serve there (``_registry.py``), and those batch by JAX's
rules. Every result is checked against the contract at trace time.

``depth`` is how many of jaxconv's own vmaps enclose a call. Every function that calls a
lowering is traced inside a ``jit`` of its own (``planned_fn``'s primal and gradient
terms, ``_multi_in._jitted``, ``_multi_out._jitted``), so no caller's vmap encloses it
while it is traced (a caller's vmap batches the traced program afterwards). Once the
outermost of its own vmaps is folded, a transposable lowering is therefore called
directly: the program then holds plain operations, which ``jax.linear_transpose`` can
transpose (the primitive has no transpose rule) and a caller's vmap batches by JAX's
rules. A forward-only lowering keeps the primitive at the top, so that a caller's vmap
is folded too; there it is computed and lowered as ``_unfolded``: its folds applied,
then the lowering itself.

``"xla"`` is folded the same way, though ``lax.conv_general_dilated`` has a batching
rule of its own: that rule folds at every level, and for 64-bit elements on a CPU the
groups it folds can read one another (``_xla.naive_cpu_loop``), where ours hands the
lowering all the groups and it keeps them apart.

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
import operator

import jax
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

from .._checks import ConvParams, is_static
from ._registry import Pass, get_lowering
from ._taps import result_dtype


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
    if pass_ != "forward":
        return _checked_call(name, pass_, x, w, params, groups)
    return _folded(x, w, name=name, params=params, groups=groups, depth=depth, folds=())


def _folded(x, w, *, name: str, params: ConvParams, groups: int, depth, folds):
    """The forward call under ``folds`` and ``depth`` more of jaxconv's vmaps: where none
    is left and the lowering is transposable, the lowering itself with every fold applied;
    elsewhere the primitive, which the next vmap folds (see the module notes)."""
    if depth == 0 and get_lowering(name).transposable:
        return _unfolded(x, w, name=name, params=params, groups=groups, folds=folds)
    kw = dict(name=name, params=params, groups=groups, depth=depth or None, folds=folds)
    return _folded_p.bind(x, w, **kw)


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


# The kinds of fold, by which operands the vmap maps: the inputs (more images), the
# weights (more output channels in each group) or both (more groups).
IMAGES, OUTPUTS, GROUPS = "images", "outputs", "groups"


def _axes(folds: tuple[str, ...], x_shape, w_shape) -> tuple[dict, dict]:
    """The folds' axes, labelled ``0, 1, ...`` from the outermost, by kind
    (``IMAGES``, ``OUTPUTS``, ``GROUPS``, and ``"x"`` and ``"w"``: the leading axes of
    each operand, one for each vmap that maps it), and the size of every label."""
    outer_first = list(enumerate(reversed(folds)))
    of = {kind: [i for i, k in outer_first if k == kind] for kind in (IMAGES, OUTPUTS, GROUPS)}
    of["x"] = [i for i, k in outer_first if k != OUTPUTS]
    of["w"] = [i for i, k in outer_first if k != IMAGES]
    size = dict(zip(of["x"], x_shape)) | dict(zip(of["w"], w_shape))
    return of, size


def _moved(a, shape, perm, new_shape):
    """``a`` reshaped to ``shape``, transposed by ``perm``, reshaped to ``new_shape``: one
    reshape where only axes of size 1 move."""
    moved = [i for i in perm if not (is_static(shape[i]) and shape[i] == 1)]
    if moved == sorted(moved):
        return lax.reshape(a, tuple(new_shape))
    return lax.reshape(lax.transpose(lax.reshape(a, tuple(shape)), perm), tuple(new_shape))


def _arranged(a, size: dict, labels: list, merged: list[list]):
    """``a``, whose axes are ``labels``, with its axes ordered and merged as ``merged``
    says (a list of labels for each axis of the result)."""
    order = [label for axis in merged for label in axis]
    shape = [size[label] for label in labels]
    new_shape = [_count(size, axis) for axis in merged]
    return _moved(a, shape, [labels.index(label) for label in order], new_shape)


def _count(size: dict, labels: list):
    """The number of elements of the axes ``labels``."""
    return functools.reduce(operator.mul, (size[label] for label in labels), 1)


def _unfolded(x, w, *, name: str, params: ConvParams, groups: int, folds: tuple[str, ...]):
    """The call under the vmaps ``folds`` (innermost first), as one convolution.

    ``x`` is ``(*lead, n, c, H, W)`` and ``w`` ``(*lead, o, c/groups, kh, kw)``, with a
    leading axis for each vmap that maps the operand, outermost first (``_axes``). Each
    fold makes its axis the major part of the images (inputs mapped), of each group's
    output channels (weights mapped) or of the groups (both), so the convolution reads
    the images ``(images' axes, n)``, the channels ``(groups' axes, c)`` and the output
    channels ``(groups' axes, groups, outputs' axes, o/groups)``: a reshape of each
    operand and of the result, and a transpose where a moved axis has more than one element.
    """
    of, size = _axes(folds, x.shape, w.shape)
    o = w.shape[-4]
    size |= dict(zip(("n", "c", "H", "W"), x.shape[-4:]))
    size |= dict(zip(("g", "o", "cg", "kh", "kw"), (groups, o // groups, *w.shape[-3:])))
    images, grouped, outputs = of[IMAGES], of[GROUPS], of[OUTPUTS]
    xf = _arranged(
        x, size, [*of["x"], "n", "c", "H", "W"], [[*images, "n"], [*grouped, "c"], ["H"], ["W"]]
    )
    channels = [*grouped, "g", *outputs, "o"]
    wf = _arranged(
        w, size, [*of["w"], "g", "o", "cg", "kh", "kw"], [channels, ["cg"], ["kh"], ["kw"]]
    )
    y = _checked_call(name, "forward", xf, wf, params, _count(size, [*grouped, "g"]))
    size |= dict(zip(("mh", "mw"), y.shape[-2:]))
    labels = [*images, "n", *channels, "mh", "mw"]
    lead = [[label] for label in range(len(folds))]
    return _arranged(y, size, labels, [*lead, ["n"], ["g", "o"], ["mh"], ["mw"]])


def _call(x, w, *, name: str, params: ConvParams, groups: int, depth, folds):
    """``_folded_p``'s computation, where no vmap is left to fold."""
    return _unfolded(x, w, name=name, params=params, groups=groups, folds=folds)


def _folded_aval(x, w, *, name: str, params: ConvParams, groups: int, depth, folds):
    if depth is None:  # outside jaxconv's own vmaps: trace the lowering, checking it
        kw = dict(name=name, params=params, groups=groups, depth=None, folds=folds)
        out = jax.eval_shape(functools.partial(_call, **kw), x, w)
        return jax.core.ShapedArray(out.shape, out.dtype)
    _, size = _axes(folds, x.shape, w.shape)
    lead = [size[label] for label in range(len(folds))]
    out = params.output_size(x.shape[-2:], w.shape[-2:])
    shape = (*lead, x.shape[-4], w.shape[-4], *out)
    return jax.core.ShapedArray(shape, result_dtype(x.dtype, params))


def _moveaxis(a, src: int, dst: int):
    """``jnp.moveaxis`` as one ``lax`` operation, a reshape where only axes of size 1
    move (``jnp``'s is a jitted function: a nested trace per call)."""
    perm = [i for i in range(a.ndim) if i != src]
    perm.insert(dst, src)
    return _moved(a, a.shape, perm, tuple(a.shape[i] for i in perm))


def _fold_rule(args, dims, *, name: str, params: ConvParams, groups: int, depth, folds):
    """A vmap of the call is one more fold: the mapped axis moves to the front and is
    recorded (``_unfolded`` applies every fold at once, when the last vmap is folded)."""
    x, w = (a if d is None else _moveaxis(a, d, 0) for a, d in zip(args, dims))
    folds = (*folds, GROUPS if None not in dims else IMAGES if dims[0] is not None else OUTPUTS)
    outer = None if depth is None else depth - 1  # the vmaps left once this one is folded
    return _folded(x, w, name=name, params=params, groups=groups, depth=outer, folds=folds), 0


_folded_p = Primitive("jaxconv_folded_conv")
_folded_p.def_impl(_call)
_folded_p.def_abstract_eval(_folded_aval)
mlir.register_lowering(_folded_p, mlir.lower_fun(_call, multiple_results=False))
batching.primitive_batchers[_folded_p] = _fold_rule
