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


# a fusion in an optimised HLO module's text: its kind and the computation it calls
_FUSION = re.compile(r"= \S+ fusion\(.*kind=(k\w+), calls=%([\w.\-]+)")
_COMPUTATION = re.compile(r"\n(?=%|ENTRY )")  # each computation's text starts a line
_NOISE = re.compile(r", (?:metadata|backend_config)=(?:\{[^}]*\}|\S+)")  # not the code
_NAME = re.compile(r"%[\w.\-]+")


def kernel_count(compiled) -> int:
    """The kernels XLA's CPU backend generates code for in a compiled program: its
    fusions that are not library calls (``kCustom``, YNNPACK's), each kind of fusion
    counted once. XLA compiles fusions whose code is the same (up to names and
    metadata) once, so 20 layers of one shape share most of their kernels; on the 2-core
    machine a kernel of a few operations took 25-60 ms of CPU to compile
    (``benchmarks/kernel_compile.py``), so the count measures compile time in a way the
    machine's other work cannot move. (Counted within 1-4 of the kernels XLA's own log
    names, ``kernel_compile.py``: mixed-precision ResNet-18 163 against 164, flax.nnx's
    137 against 138. Every fusion, repeats and library calls included, counted 333
    against 359.)"""
    computations = {}
    for text in _COMPUTATION.split(compiled.as_text()):
        name = text.removeprefix("ENTRY ").split(" ", 1)[0].lstrip("%")
        computations[name] = text
    fused = {m[2] for text in computations.values() for m in _FUSION.finditer(text)}
    kernels = set()
    for name, text in computations.items():
        if name in fused:  # a fusion's own body: its instructions are that kernel's code
            continue
        for kind, called in (m.groups() for m in _FUSION.finditer(text)):
            if kind != "kCustom":
                body = computations.get(called, called).split("\n", 1)[-1]
                kernels.add(_NAME.sub("%", _NOISE.sub("", body)))
    return len(kernels)


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
