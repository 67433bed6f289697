"""Interleaved timing shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def time_interleaved(runs: dict[str, Callable[[], object]], reps: int, warmup: int = 2) -> dict:
    """Median seconds per call for each zero-argument callable, run in turns.

    Each callable must block until its result is ready. Interleaving (a, b, c, a, b, c, ...)
    spreads machine noise over all entries alike.
    """
    for fn in runs.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in runs}
    for _ in range(reps):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}
