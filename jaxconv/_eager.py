"""An eager call of a public function is one compiled program.

Outside a transformation every ``jnp`` or ``lax`` operation is dispatched as a program
of its own, compiled for each new shape (0.05-0.1 s apiece on a CPU), so a function of
a few operations called eagerly on drawn shapes spends its time compiling. ``once``
runs a function's body as one jitted program per static configuration when called
eagerly, and traces it inline under ``jit``, ``vmap`` or ``grad``, where a nested
``jit`` would make JAX trace a custom JVP rule's primal a second time
(``_conv2d.planned_fn``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax


def once(body: Callable[..., Any], *arrays: Any, **static: Any) -> Any:
    """``body(*arrays, **static)``; eagerly, as one program compiled per shape and
    ``static`` (hashable values)."""
    if any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(arrays)):
        return body(*arrays, **static)
    return _jitted(body, tuple(static.items()))(*arrays)


@functools.lru_cache(maxsize=1024)
def _jitted(body: Callable[..., Any], static: tuple[tuple[str, Any], ...]) -> Callable[..., Any]:
    return jax.jit(functools.partial(body, **dict(static)))
