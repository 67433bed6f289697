"""``impl="autotune"``: each pass's lowering chosen by timing the candidates on this machine.

``impl="auto"`` picks lowerings by rules measured on a few machines (``_plan.py``); how
far a rule's margin carries to another machine is not known (BENCHMARKS.md: the same
layer read 0.90-1.42x lax on an AVX2 machine where an AVX-512 one read 0.53x). With
``impl="autotune"`` jaxconv instead times, once per call signature, every lowering
that may serve each pass here (``"auto"``'s memory bound applies, forward-only
lowerings compete for the forward pass) and keeps the fastest, as cuDNN's autotuner
does for its algorithms. The passes are timed apart, as the plan runs them:

* forward: ``y = conv(x, w)``;
* input gradient: the transpose of ``dx -> conv(dx, w)``, i.e. ``dy -> dx``;
* weight gradient: the transpose of ``dw -> conv(x, dw)``, i.e. ``dy -> dw``.

The timing happens at trace time, on random operands of the call's shapes and dtype
(never the caller's data), with each candidate compiled once, run once to warm up, then
run in interleaved rounds; the fastest round counts (on a shared machine the other
processes only ever add time). A candidate that fails to compile or run is
recorded as failed and never chosen. ``"auto"``'s choice is kept unless another
candidate is faster by more than ``KEEP_AUTO`` (5%): timings of one layer alone do not
see what its neighbours in a network do to layouts (``_plan.py`` measured one such
case), so a near tie goes to the rule. Calls of under ``MIN_TUNED_FLOPS`` (well under a
millisecond of a CPU core's work, where a better plan saves less than the tuning costs)
and calls with symbolic sizes (``jax.export``) take ``"auto"``'s plan untimed.

Choices are kept in memory and in a JSON file, ``$JAXCONV_AUTOTUNE_CACHE`` (default
``$XDG_CACHE_HOME/jaxconv/autotune.json``, else ``~/.cache/...``; an empty value keeps
them in memory only), keyed by the device, the JAX and jaxconv versions, the call's
shapes, dtype and hyperparameters, and the names of the candidates: registering a
lowering under a new name tunes again, replacing one under the same name does not
(:func:`clear_autotune_cache`).
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import os
import pathlib
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from .._checks import ConvParams, is_static
from .._cost import flops
from ._fold import lower
from ._registry import PASSES, Pass
from ._taps import result_dtype

CACHE_ENV = "JAXCONV_AUTOTUNE_CACHE"
MIN_TUNED_FLOPS = 10**7  # 2*multiply-adds of the forward pass
KEEP_AUTO = 0.05  # auto's choice stays unless another is faster by more than this
MIN_ROUNDS, MAX_ROUNDS = 5, 25  # timed rounds per pass ...
ROUND_BUDGET_S = 0.2  # ... stopping after MIN_ROUNDS once this much time has passed
SLOW = 2.0  # a candidate this much slower than the fastest in its first run is not timed on

_MEMORY: dict[str, dict[str, Any]] = {}  # key -> {"plan": [...], "seconds": {...}}
_LOADED: set[pathlib.Path] = set()

Candidates = Mapping[Pass, Sequence[str]]
Timer = Callable[[Candidates, tuple, ConvParams, int], Mapping[Pass, Mapping[str, float | None]]]


def cache_path() -> pathlib.Path | None:
    """The JSON file holding tuned plans (``None``: kept in memory only)."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return pathlib.Path(value).expanduser() if value else None
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "jaxconv" / "autotune.json"


def clear_autotune_cache() -> None:
    """Forgets every tuned plan, in memory and in the cache file (:func:`cache_path`).

    >>> clear_autotune_cache()
    """
    _MEMORY.clear()
    _LOADED.clear()
    path = cache_path()
    if path is not None:
        path.unlink(missing_ok=True)


def tuned(
    auto: Sequence[str],
    candidates: Candidates,
    x_shape: tuple,
    w_shape: tuple,
    params: ConvParams,
    groups: int,
    dtype: Any,
    timer: Timer | None = None,
) -> tuple[str, str, str]:
    """The lowering per pass (forward, input gradient, weight gradient) for this call.

    ``auto``: ``"auto"``'s plan; ``candidates``: the lowerings that may serve each pass.
    """
    if not is_static(*x_shape, *w_shape) or _flops(x_shape, w_shape, params, groups) < (
        MIN_TUNED_FLOPS
    ):
        return tuple(auto)  # type: ignore[return-value]
    key = _key(candidates, x_shape, w_shape, params, groups, dtype)
    entry = _lookup(key)
    if entry is None:
        timer = timer or measure
        with jax.ensure_compile_time_eval():  # run, even when called inside a caller's trace
            args = operands(x_shape, w_shape, params, dtype)
            seconds = timer(candidates, args, params, groups)
        plan = [_fastest(seconds[p], a) for p, a in zip(PASSES, auto)]
        entry = {"plan": plan, "seconds": seconds}
        _store(key, entry)
    return tuple(entry["plan"])


def _fastest(seconds: Mapping[str, float | None], auto: str) -> str:
    """The fastest candidate, or ``auto`` when it is within ``KEEP_AUTO`` of it."""
    ran = {name: s for name, s in seconds.items() if s is not None}
    if not ran:
        return auto
    best = min(ran, key=ran.__getitem__)
    if auto in ran and ran[auto] <= ran[best] * (1 + KEEP_AUTO):
        return auto
    return best


def _flops(x_shape, w_shape, params: ConvParams, groups: int) -> int:
    out = params.output_size(x_shape[2:], w_shape[2:])
    return flops(x_shape[1], w_shape[0], w_shape[2:], out, groups=groups, batch=x_shape[0]).flops


def _key(candidates: Candidates, x_shape, w_shape, params: ConvParams, groups, dtype) -> str:
    device = jax.devices()[0]
    parts = {
        "device": f"{device.platform}:{device.device_kind}:{os.cpu_count()}",
        "versions": f"jax {jax.__version__}, jaxconv {_version()}",
        "call": f"x {tuple(x_shape)} w {tuple(w_shape)} groups {groups} "
        f"{np.dtype(dtype).name} {params!r}",
        "candidates": {p: sorted(candidates[p]) for p in PASSES},
    }
    return json.dumps(parts, sort_keys=True)


@functools.cache
def _version() -> str:
    from .. import __version__

    return __version__


def _lookup(key: str) -> dict[str, Any] | None:
    path = cache_path()
    if path is not None and path not in _LOADED:
        _LOADED.add(path)
        _MEMORY.update({k: v for k, v in _read(path).items() if k not in _MEMORY})
    return _MEMORY.get(key)


def _read(path: pathlib.Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        warnings.warn(f"jaxconv autotune: ignoring the unreadable cache {path} ({e})", stacklevel=2)
        return {}
    return data if isinstance(data, dict) else {}


def _store(key: str, entry: dict[str, Any]) -> None:
    """Keeps ``entry`` in memory and merges it into the cache file (written atomically, so
    that processes tuning at once lose at most each other's newest entries)."""
    _MEMORY[key] = entry
    path = cache_path()
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read(path) | {key: entry}
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as f:
            json.dump(data, f, indent=1)
        os.replace(f.name, path)
    except OSError as e:
        warnings.warn(f"jaxconv autotune: cannot write the cache {path} ({e})", stacklevel=2)


def _pass_fn(name: str, pass_: Pass, params: ConvParams, groups: int, x_spec, w_spec):
    """``(x, w, dy) -> the pass's result`` by lowering ``name``, as the plan runs it."""

    def conv(x, w):
        return lower(name, pass_, x, w, params, groups, depth=0)

    if pass_ == "forward":
        return lambda x, w, dy: conv(x, w)
    if pass_ == "input_grad":
        return lambda x, w, dy: jax.linear_transpose(lambda a: conv(a, w), x_spec)(dy)[0]
    return lambda x, w, dy: jax.linear_transpose(lambda a: conv(x, a), w_spec)(dy)[0]


def measure(
    candidates: Candidates, args: tuple, params: ConvParams, groups: int
) -> dict[Pass, dict[str, float | None]]:
    """Seconds of each pass by each of its candidates on ``args`` ``(x, w, dy)``
    (``None``: it failed to compile or run).

    The programs are traced here (under the caller's configuration, e.g. x64) and all
    compiled before any is timed (the pool's exit waits for them). On a CPU they are
    compiled in threads (XLA's compiler releases the GIL: 2.5 s against 3.3 s for nine
    programs on two cores); elsewhere one at a time, since a GPU compiler times
    convolution and matmul algorithms on the device as it compiles, and keeps its
    choices for the process: compiles side by side would disturb those timings (on an
    H200 the threaded tuner picked a matmul forward pass that then ran in 1.5x XLA's
    time; the likely cause, not yet confirmed there).

    Every candidate then warms up (``_warm_up``); one slower than ``SLOW`` times the
    fastest warm-up of its pass keeps that time, the others are timed in interleaved
    rounds.
    """
    x, w, _ = args
    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in (x, w)]
    seconds: dict[Pass, dict[str, float | None]] = {p: {} for p in PASSES}
    futures = {}
    on_cpu = jax.default_backend() == "cpu"
    with concurrent.futures.ThreadPoolExecutor((os.cpu_count() or 1) if on_cpu else 1) as pool:
        for p in PASSES:
            for name in candidates[p]:
                try:
                    fn = _pass_fn(name, p, params, groups, *specs)
                    futures[p, name] = pool.submit(jax.jit(fn).lower(*args).compile)
                except Exception:  # noqa: BLE001 -- a candidate that fails is not chosen
                    seconds[p][name] = None
    runs = {}
    for (p, name), future in futures.items():
        try:
            runs[p, name] = run = future.result()
            seconds[p][name] = _warm_up(run, args)
        except Exception:  # noqa: BLE001
            seconds[p][name] = None
    for p in PASSES:
        ran = [s for s in seconds[p].values() if s is not None]
        close = {
            n: runs[p, n] for n, s in seconds[p].items() if s is not None and s <= SLOW * min(ran)
        }
        if len(close) > 1:
            seconds[p] |= _rounds(close, args)
    return seconds


def _rounds(runs: Mapping[str, Any], args: tuple) -> dict[str, float]:
    """Seconds of each compiled program: the fastest of interleaved rounds."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    start = time.perf_counter()
    for round_ in range(MAX_ROUNDS):
        for name, run in runs.items():
            samples[name].append(_time(run, args))
        if round_ + 1 >= MIN_ROUNDS and time.perf_counter() - start > ROUND_BUDGET_S:
            break
    return {name: min(s) for name, s in samples.items()}


def _warm_up(run, args) -> float:
    """Seconds of the second run of ``run``: the first can pay one-time work (buffers,
    a library building its kernel) that is not the candidate's speed. On a 2-core CPU,
    XLA's forward pass of a ResNet-18 stem, 2-6 ms a run, read 56 ms as a single
    warm-up, was never timed again as too slow, and im2col won at 2.9x XLA's time."""
    _time(run, args)
    return _time(run, args)


def _time(run, args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(run(*args))
    return time.perf_counter() - start


def operands(x_shape, w_shape, params: ConvParams, dtype) -> tuple:
    """Random ``(x, w, dy)`` of the call's shapes (drawn on the host: drawing them with
    ``jax.random`` compiled a program per shape, slower than the tuning itself)."""
    y_shape = (x_shape[0], w_shape[0], *params.output_size(x_shape[2:], w_shape[2:]))
    rng = np.random.default_rng(0)
    return tuple(
        jax.device_put(rng.standard_normal(shape, np.float32).astype(dt))
        for shape, dt in (
            (x_shape, dtype),
            (w_shape, dtype),
            (y_shape, result_dtype(dtype, params)),
        )
    )
