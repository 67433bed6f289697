"""The registry of lowerings, and the contract every lowering keeps.

A *lowering* is one algorithm for one dense or grouped 2-D convolution. Its function
takes ``x`` ``(N, C, H, W)``, ``w`` ``(O, C // groups, kh, kw)``, the canonical
:class:`~jaxconv.lowering.ConvParams` and ``groups``, and returns ``(N, O, mh, mw)`` in
the input's dtype (``params.preferred_element_type`` when set). jaxconv calls it once
per pass with the full arrays of the call (``jax.vmap`` over the lesson's structure is
folded into the batch, channel and group axes first, ``_fold.py``; only a forward-only
lowering under a caller's vmap is also traced at smaller shapes on the way) and checks
the result's shape and dtype at trace time.

What a lowering may serve is declared here, not guessed:

* a *transposable* lowering is a linear function of each operand written in operations
  JAX can transpose; it may serve all three passes (forward, input gradient, weight
  gradient), because the gradients are the transposes of its tangent terms;
* any other lowering (a ``pallas_call`` or an FFI call without a transpose rule, a
  ``while_loop``) serves the forward pass only; the gradients of a plan that uses it
  come from ``impl="auto"``'s choice for those passes;
* ``platforms`` lists where it runs (``None``: everywhere).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from typing import Literal

import jax

from .._checks import ConvParams

Pass = Literal["forward", "input_grad", "weight_grad"]
PASSES: tuple[Pass, ...] = ("forward", "input_grad", "weight_grad")
PLATFORMS = ("cpu", "gpu", "tpu")
ConvFn = Callable[[jax.Array, jax.Array, ConvParams, int], jax.Array]
SharedInput = tuple[ConvFn, ConvFn]
"""``(read, term)``: ``read(x, w, params, groups)`` returns ``x`` (a fence, say);
``term`` is the weight-gradient term of an input that went through ``read``."""
Workspace = Callable[[tuple[int, ...], tuple[int, ...], ConvParams, int, int], int]
"""``(x_shape, w_shape, params, groups, itemsize) -> bytes`` of temporaries."""

AUTO, AUTOTUNE, REFERENCE = "auto", "autotune", "reference"  # impl values that are not lowerings


@dataclasses.dataclass(frozen=True)
class Lowering:
    """One registered lowering: its name, function and declared capabilities.

    ``conv`` computes the forward pass; ``gradient_conv`` (when transposable) is the
    form JAX transposes inside gradient terms, ``conv`` unless the lowering registered a
    variant (the ``"matmul"`` lowering loops over taps there to bound memory).
    ``input_grad_conv``, a built-in's own, replaces it in input-gradient terms (the
    ``"matmul"`` lowering's depthwise input gradient, written so that its transpose is a
    fused forward pass).
    ``shared_input``, a built-in's own: where a plan takes this lowering for the forward
    pass and the weight gradient, both read the input through its ``read`` (computed
    once), and its ``term`` replaces ``gradient_conv`` (``"xla"``'s fence, ``_xla.py``).
    ``workspace`` estimates the bytes of temporaries a call needs beyond its operands
    and result (``None``: about their size); ``impl="auto"`` does not pick a lowering
    whose temporaries would exceed twice the operands and result.
    """

    name: str
    conv: ConvFn
    transposable: bool
    platforms: tuple[str, ...] | None
    gradient_conv: ConvFn | None
    description: str
    workspace: Workspace | None = None
    input_grad_conv: ConvFn | None = None
    shared_input: SharedInput | None = None

    @property
    def passes(self) -> tuple[Pass, ...]:
        """The passes it may serve: all three if transposable, else the forward pass."""
        return PASSES if self.transposable else PASSES[:1]

    def supports(self, pass_: Pass, platform: str) -> bool:
        return pass_ in self.passes and (self.platforms is None or platform in self.platforms)

    def function(self, pass_: Pass) -> ConvFn:
        if pass_ not in self.passes:
            raise ValueError(
                f"jaxconv: lowering {self.name!r} cannot serve the {pass_} pass: "
                f"it is not transposable"
            )
        if pass_ == "forward":
            return self.conv
        if pass_ == "input_grad" and self.input_grad_conv is not None:
            return self.input_grad_conv
        return self.gradient_conv or self.conv


_REGISTRY: dict[str, Lowering] = {}
_BUILTIN: set[str] = set()


def register_lowering(
    name: str,
    conv: ConvFn,
    *,
    transposable: bool = False,
    platforms: tuple[str, ...] | list[str] | None = None,
    gradient_conv: ConvFn | None = None,
    description: str = "",
    workspace: Workspace | None = None,
    replace: bool = False,
) -> Lowering:
    """Adds a lowering, after which ``impl=name`` works everywhere ``impl`` is taken.

    Args:
      name: the ``impl`` value that selects it.
      conv: ``(x, w, params, groups) -> y`` with ``x`` ``(N, C, H, W)``, ``w``
        ``(O, C // groups, kh, kw)``, ``params`` a :class:`ConvParams` (explicit zero
        padding, strides, dilation, precision, preferred element type) and ``y``
        ``(N, O, mh, mw)`` in ``x``'s dtype (or ``params.preferred_element_type``).
        It never runs under ``jax.vmap``: jaxconv folds every vmap into the batch,
        channel and group axes, so the compiled program calls it once per pass on the
        full arrays (a forward-only one under a caller's vmap is also traced at
        smaller shapes on the way).
      transposable: ``True`` if ``conv`` is linear in each operand and JAX can transpose
        it (pure ``jax.numpy``/``lax`` code): it may then serve the gradient passes too.
        ``False`` (the default, e.g. a ``pallas_call`` or an FFI kernel): forward only;
        gradients use ``impl="auto"``'s choice. ``impl="autotune"`` times it against the
        other lowerings for every pass it may serve.
      platforms: where it runs, e.g. ``("gpu",)``; ``None`` (default): everywhere.
      gradient_conv: a transposable variant for gradient terms (default ``conv``).
      description: one line, listed by ``jaxconv bench``.
      workspace: ``(x_shape, w_shape, params, groups, itemsize) -> bytes``, the
        temporaries a call needs beyond operands and result (e.g. a padded copy);
        ``None`` (default): about their size. ``"auto"`` skips a lowering whose
        temporaries exceed twice the operands and result (and 16 MiB), and an explicit
        ``impl`` is refused where they exceed 64 times (and 1 GiB).
      replace: allow replacing an earlier registration of ``name`` (not a built-in).

    Returns:
      The :class:`Lowering` record.

    >>> import jax.numpy as jnp
    >>> from jax import lax
    >>> def nhwc(x, w, params, groups):  # XLA's convolution through channels-last
    ...     y = lax.conv_general_dilated(
    ...         jnp.transpose(x, (0, 2, 3, 1)), jnp.transpose(w, (2, 3, 1, 0)),
    ...         params.stride, params.padding, rhs_dilation=params.dilation,
    ...         dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)
    ...     return jnp.transpose(y, (0, 3, 1, 2))
    >>> register_lowering("nhwc", nhwc, transposable=True).passes
    ('forward', 'input_grad', 'weight_grad')
    >>> import jaxconv
    >>> jaxconv.conv2d(jnp.ones((1, 2, 5, 5)), jnp.ones((3, 2, 3, 3)), impl="nhwc").shape
    (1, 3, 3, 3)
    >>> unregister_lowering("nhwc")
    """
    fn = "register_lowering"
    if not isinstance(name, str) or not name.isidentifier() or name in (AUTO, AUTOTUNE, REFERENCE):
        raise ValueError(
            f"{fn}: `name` (={name!r}) must be an identifier other than "
            f"{AUTO!r}, {AUTOTUNE!r} and {REFERENCE!r}"
        )
    if name in _BUILTIN or (name in _REGISTRY and not replace):
        why = "a built-in lowering" if name in _BUILTIN else "registered (pass replace=True)"
        raise ValueError(f"{fn}: `name` (={name!r}) is already {why}")
    for arg, value in (("conv", conv), ("gradient_conv", gradient_conv), ("workspace", workspace)):
        if value is not None and not callable(value):
            raise TypeError(f"{fn}: `{arg}` must be callable, got {type(value).__name__}")
    if not isinstance(transposable, bool):
        raise TypeError(f"{fn}: `transposable` must be a bool, got {transposable!r}")
    if gradient_conv is not None and not transposable:
        raise ValueError(f"{fn}: `gradient_conv` is only used by a transposable lowering")
    if platforms is not None:
        platforms = tuple(platforms)
        if not platforms or any(p not in PLATFORMS for p in platforms):
            raise ValueError(
                f"{fn}: `platforms` (={platforms!r}) must be None or a "
                f"non-empty sequence of {PLATFORMS}"
            )
    record = Lowering(
        name, conv, transposable, platforms, gradient_conv, str(description), workspace
    )
    _REGISTRY[name] = record
    return record


def register_builtin(
    name: str,
    conv: ConvFn,
    input_grad_conv: ConvFn | None = None,
    shared_input: SharedInput | None = None,
    **kwargs,
) -> Lowering:
    """A lowering of jaxconv's own: registered once, never replaced."""
    record = register_lowering(name, conv, **kwargs)
    record = dataclasses.replace(record, input_grad_conv=input_grad_conv, shared_input=shared_input)
    _REGISTRY[name] = record
    _BUILTIN.add(name)
    return record


def unregister_lowering(name: str) -> None:
    """Removes a lowering added by :func:`register_lowering` (built-ins stay)."""
    if name in _BUILTIN or name not in _REGISTRY:
        raise ValueError(
            f"unregister_lowering: `name` (={name!r}) is not a registered "
            f"lowering of one's own ({sorted(set(_REGISTRY) - _BUILTIN)})"
        )
    del _REGISTRY[name]


def lowerings() -> Mapping[str, Lowering]:
    """The registered lowerings by name, built-ins first (a read-only view).

    >>> [name for name, rec in lowerings().items() if rec.transposable]
    ['xla', 'matmul', 'gemm', 'eigen', 'dots']
    """
    return types.MappingProxyType(_REGISTRY)


def get_lowering(name: str) -> Lowering:
    return _REGISTRY[name]


def impls() -> tuple[str, ...]:
    """The values ``impl=`` takes: ``"auto"``, ``"autotune"``, every registered lowering,
    ``"reference"``.

    >>> impls()
    ('auto', 'autotune', 'xla', 'matmul', 'gemm', 'eigen', 'dots', 'reference')
    """
    return (AUTO, AUTOTUNE, *_REGISTRY, REFERENCE)


def check_impl(fn: str, impl: object) -> str:
    if not isinstance(impl, str) or impl not in impls():
        raise ValueError(f"{fn}: `impl` (={impl!r}) must be one of {impls()}")
    return impl
