"""The names of the lowerings a caller can pick with ``impl=``."""

from __future__ import annotations

IMPLS = ("vmap", "reference")
"""``"vmap"``: the vmap structure with jaxconv's batching and differentiation rules,
which compiles to one dense XLA convolution. ``"reference"``: the same vmap structure
left to JAX's generic rules (a depthwise convolution plus a reduction): slow, kept as
the literal statement of the lesson and as a test oracle."""


def check_impl(fn: str, impl: object) -> str:
    if impl not in IMPLS:
        raise ValueError(f"{fn}: `impl` (={impl!r}) must be one of {IMPLS}")
    return impl  # type: ignore[return-value]
