"""The names of the lowerings a caller can pick with ``impl=``."""

from __future__ import annotations

IMPLS = ("auto", "xla", "matmul", "gemm", "reference")
"""``"auto"`` (default): per pass, the lowering measured fastest for the platform and
shapes (see :func:`jaxconv.choose_plan`). ``"xla"``: XLA's convolution. ``"matmul"``:
``kh*kw`` shifted 1x1 convolutions, each a matmul over channels. ``"gemm"``: im2col
and one matrix multiplication, in batch chunks. These four all run the lesson's vmap
structure with jaxconv's batching and differentiation rules. ``"reference"``: the same
vmap structure left to JAX's generic rules (a depthwise convolution plus a reduction):
slow, kept as the literal statement of the lesson and as a test oracle."""


def check_impl(fn: str, impl: object) -> str:
    if not isinstance(impl, str) or impl not in IMPLS:
        raise ValueError(f"{fn}: `impl` (={impl!r}) must be one of {IMPLS}")
    return impl
