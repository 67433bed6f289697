"""Timing in one run: compile once, then time every entry in turns."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.extend as jex
import jax.numpy as jnp


def loss_grads(apply: Callable) -> Callable:
    """Gradients of a loss that needs the output (a linear loss would let XLA drop the
    forward convolution): one forward and two backward convolutions."""
    return jax.grad(
        lambda p, x: 0.5 * jnp.sum(apply(p, x).astype(jnp.float32) ** 2), argnums=(0, 1)
    )


def compile_entry(apply, params, x, mode: str):
    fn = apply if mode == "fwd" else loss_grads(apply)
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(params, x).compile()
    compile_s = time.perf_counter() - t0
    return (lambda: jax.block_until_ready(compiled(params, x))), compile_s, temp_bytes(compiled)


def temp_bytes(compiled) -> int | None:
    """XLA's temporary buffer size of a compiled program, where the backend reports it."""
    mem = compiled.memory_analysis()
    return getattr(mem, "temp_size_in_bytes", None) if mem is not None else None


def kernel_count(compiled) -> int:
    """Kernels of a compiled program: its fusions and library calls. XLA's CPU backend
    generates code for each on its own (on the 2-core machine 10 independent elementwise
    kernels compiled in 247 ms, 40 in 698 ms), so the count measures compile time in a way
    the machine's other work cannot move."""
    return len(re.findall(r"\s(?:fusion|custom-call)\(", compiled.as_text()))


def equations(jaxpr) -> Iterator[Any]:
    """Every equation of a traced program (a ``Jaxpr`` or ``ClosedJaxpr``) and of its
    sub-programs (a nested ``jit``, a loop body, a branch), each sub-program once however
    often it is called."""
    subprograms = (jex.core.Jaxpr, jex.core.ClosedJaxpr)
    seen: set[int] = set()
    todo = [jaxpr]
    while todo:
        program = todo.pop()
        program = getattr(program, "jaxpr", program)  # a ClosedJaxpr's own Jaxpr
        if id(program) in seen:
            continue
        seen.add(id(program))
        for eqn in program.eqns:
            yield eqn
            for value in eqn.params.values():
                values = value if isinstance(value, (tuple, list)) else (value,)
                todo.extend(v for v in values if isinstance(v, subprograms))


def operation_count(traced) -> int:
    """Operations of a traced program (``jax.jit(f).trace(...)``), each sub-program
    counted once (``equations``). JAX traces, differentiates and lowers each, so the count
    measures tracing and lowering time in a way the machine's other work cannot move, as
    ``kernel_count`` does for XLA's compile."""
    return sum(1 for _ in equations(traced.jaxpr))


def time_interleaved(
    runs: dict[str, Callable[[], Any]], reps: int, warmup: int = 1
) -> dict[str, float]:
    """Median seconds per call of each zero-argument callable, run in turns, each round
    in the opposite order to the last (a, b, c, c, b, a, ...), so that machine noise hits
    all alike and each follows its neighbours equally often (a call can run slower after
    a heavier one). Each must block until done."""
    for fn in runs.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(reps):
        for name, fn in list(runs.items())[:: -1 if i % 2 else 1]:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}
