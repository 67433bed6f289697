"""``jaxconv bench --model``: whole-network training steps, every library in one run.

Each JAX entry is compiled (tracing included, after ``jax.clear_caches()`` so that no
entry reuses another's traces) in ``compiles`` rounds taken in turns (off a CPU after
one unmeasured round, see ``_compiled``), whose median is reported, and their minimum,
the least disturbed by the machine's other work (one compile's time moved by 30-60%
between runs on the 2-core machine). ``kernels`` counts the kernels XLA generates code
for in the compiled step (each distinct fusion once, as XLA compiles it) and
``operations`` its traced operations, measures of compile time and of trace and lower
time that noise cannot move (``_timing``). Each entry is then run once; a failure is
reported and the rest still timed. The JAX entries are then timed in turns, and torch's
two entries in turns right after (torch's CPU threads keep spinning after a call and
would slow a JAX entry). ``steps_to_even`` (the table's "even after") is how many steps
it takes an entry's faster step to repay its longer compile, against flax.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

import jax

from .._args import one_line
from ._models import (
    MODELS,
    Net,
    compile_step,
    jax_entries,
    normalised,
    param_count,
    torch_entries,
)
from ._timing import time_interleaved

BASE = "flax.nnx.Conv"
TINY_WIDTH = {"resnet18": 8, "mobilenet": 4, "convnext": 4, "vgg11": 8}


def run_networks(
    models: Sequence[str | Net],
    *,
    batch: int | None = None,
    reps: int = 5,
    compiles: int = 3,
    tiny: bool = False,
    norm: bool = False,
    dtype: str = "float32",
    torch: bool = True,
    autotune: bool = True,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[dict], list[dict]]:
    """``(rows, failures)`` of one training step of each network in every library.

    ``models``: names in ``MODELS`` or ``Net``s. ``batch``: default 128 on a GPU, 32
    elsewhere. ``compiles``: rounds of compiling every JAX entry (the median is reported).
    ``tiny``: narrow networks and a batch of 2, a harness check, not a speed measurement.
    ``norm``: batch normalisation after every convolution (``_models.normalised``).
    ``dtype``: what the networks compute in, from float32 parameters (mixed precision,
    ``_models.computed_in``); rows and failures carry it.
    ``autotune``: include the ``impl="autotune"`` layer (it tunes in its first round).
    """
    if compiles < 1:
        raise ValueError(f"run_networks: `compiles` (={compiles}) must be at least 1")
    on_gpu = jax.default_backend() == "gpu"
    batch = batch or (2 if tiny else 128 if on_gpu else 32)
    rows: list[dict] = []
    failures: list[dict] = []
    for net in models:
        if isinstance(net, str):
            net = MODELS[net](TINY_WIDTH[net]) if tiny else MODELS[net]()
        if norm and not net.norm:
            net = normalised(net)
        model = net.name
        if progress:
            progress(f"{model} {dtype}, batch {batch}")
        entries = jax_entries(net, batch, autotune=autotune, dtype=dtype)
        where = {"model": model, "dtype": dtype}
        runs, info = _compiled(entries, compiles, where, failures)
        medians = time_interleaved(runs, reps)
        if torch:
            try:
                timed = torch_entries(net, batch, on_gpu, dtype=dtype)
                medians.update(time_interleaved(timed, reps))
            except Exception as err:
                failures.append({**where, "entry": "torch", "error": one_line(err)})
        base, base_info = medians.get(BASE), info.get(BASE, {})
        for name, t in medians.items():
            entry = info.get(name, {})
            temp = entry.get("temp")
            rows.append(
                {
                    **where,
                    "batch": batch,
                    "entry": name,
                    "median_ms": t * 1e3,
                    "ratio_to_flax_nnx": t / base if base else None,
                    "compile_s": entry.get("compile_s"),
                    "compile_s_runs": entry.get("compile_s_runs"),
                    "compile_ratio": _ratio(entry.get("compile_s"), base_info, "compile_s"),
                    "compile_s_min": entry.get("compile_s_min"),
                    "compile_ratio_min": _ratio(
                        entry.get("compile_s_min"), base_info, "compile_s_min"
                    ),
                    "kernels": entry.get("kernels"),
                    "kernel_ratio": _ratio(entry.get("kernels"), base_info, "kernels"),
                    "operations": entry.get("operations"),
                    "operation_ratio": _ratio(entry.get("operations"), base_info, "operations"),
                    "steps_to_even": steps_to_even(
                        entry.get("compile_s"), t, base_info.get("compile_s"), base
                    ),
                    "temp_mib": None if temp is None else temp / 2**20,
                    "temp_ratio": _ratio(temp, base_info, "temp"),
                    "params": entry.get("params"),
                }
            )
    return rows, failures


def _compiled(entries: dict, compiles: int, where: dict, failures: list[dict]):
    """``(runs, info)``: a runner of each entry that compiled and ran, and its parameter
    count, temp bytes, median compile seconds and each round's; failures are appended,
    with ``where`` (the model and dtype)."""
    runs: dict[str, Callable[[], None]] = {}
    info: dict[str, dict] = {}
    broken: set[str] = set()

    def fail(name, err):
        broken.add(name)
        runs.pop(name, None)
        info.pop(name, None)  # no ratios against an entry reported as failed
        failures.append({**where, "entry": name, "error": one_line(err)})

    # Off a CPU, XLA times each convolution's algorithms on its first compile and keeps
    # the choice for the process: the first entry paid that for all (on an H200,
    # ResNet-18's first entry, jaxconv NCHW, compiled in 4.2x flax's time, the NHWC one
    # right after it in 1.0x; MobileNet-v1's 9.3x and 0.9x). There, one unmeasured round.
    unmeasured = 0 if jax.default_backend() == "cpu" else 1
    for round_ in range(unmeasured + compiles):
        for name, (apply, params, x, labels) in entries.items():
            if name in broken:
                continue
            jax.clear_caches()  # each entry traces and compiles from scratch
            try:
                step = compile_step(apply, params, x, labels)
            except Exception as err:
                fail(name, err)
                continue
            runs[name] = step.run
            if round_ < unmeasured:
                continue
            if name not in info:  # counted once, before the first step donates them
                info[name] = {"params": param_count(params), "compile_s_runs": []}
            info[name]["temp"] = step.temp
            info[name]["kernels"] = step.kernels
            info[name]["operations"] = step.operations
            info[name]["compile_s_runs"].append(step.compile_s)
    for name in list(runs):
        info[name]["compile_s"] = statistics.median(info[name]["compile_s_runs"])
        info[name]["compile_s_min"] = min(info[name]["compile_s_runs"])
        try:
            runs[name]()  # the first step donates the parameters: after every compile
        except Exception as err:
            fail(name, err)
    return runs, info


def steps_to_even(compile_s, step_s, base_compile_s, base_step_s) -> int | None:
    """The fewest training steps from which on compiling and running them takes an entry
    no longer than it takes flax, for that many steps and every longer run: 0 when it
    compiles and runs no slower; ``None`` when a compile time is missing (torch) or its
    step is no faster (a longer run ends behind flax, whatever its compile).

    >>> steps_to_even(3.0, 1.0, 2.0, 1.5)  # 1 s more to compile, 0.5 s less per step
    2
    """
    if None in (compile_s, base_compile_s, base_step_s):
        return None
    extra = compile_s - base_compile_s
    if extra <= 0 and step_s <= base_step_s:
        return 0
    if step_s >= base_step_s:
        return None
    return math.ceil(extra / (base_step_s - step_s))


def _ratio(value, base: dict, key: str):
    return value / base[key] if value is not None and base.get(key) else None


def network_table(result: dict):
    from rich.table import Table

    table = Table(
        title=f"one training step, {result['device']} ({result['backend']}), jax "
        f"{result['jax']}, {result['date']}, median of {result['reps']}"
    )
    step = ("model", "dtype", "batch", "entry", "ms", "x flax.nnx")
    columns = (
        *step,
        *("compile s", "x", "x min", "kernels", "x", "ops", "x", "even after", "temp MiB", "x"),
    )
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "entry") else "right")
    last = None
    for r in result["rows"]:
        if last is not None and (r["model"], r["dtype"]) != last:
            table.add_section()
        last = r["model"], r["dtype"]
        table.add_row(
            r["model"],
            r["dtype"],
            str(r["batch"]),
            r["entry"],
            f"{r['median_ms']:.1f}",
            *(
                "-" if r[k] is None else format(r[k], spec)
                for k, spec in [
                    ("ratio_to_flax_nnx", ".2f"),
                    ("compile_s", ".2f"),
                    ("compile_ratio", ".2f"),
                    ("compile_ratio_min", ".2f"),
                    ("kernels", "d"),
                    ("kernel_ratio", ".2f"),
                    ("operations", "d"),
                    ("operation_ratio", ".2f"),
                    ("steps_to_even", "d"),
                    ("temp_mib", ".1f"),
                    ("temp_ratio", ".2f"),
                ]
            ),
        )
    return table
