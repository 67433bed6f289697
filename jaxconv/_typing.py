"""Type aliases of the public signatures."""

from __future__ import annotations

from typing import Literal

from jax.lax import PrecisionLike as PrecisionLike
from jax.typing import ArrayLike as ArrayLike
from jax.typing import DTypeLike as DTypeLike

Size2 = int | tuple[int, int]
"""An int (the same in both dimensions) or an ``(h, w)`` pair."""

Padding = int | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]] | str
"""An int, ``(ph, pw)``, ``((top, bottom), (left, right))``, ``"valid"`` or ``"same"``."""

Impl = Literal["auto", "autotune", "xla", "matmul", "gemm", "eigen", "dots", "reference"]
"""jaxconv's own ``impl`` values; a name given to ``register_lowering`` works too."""

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]
