"""What the host CPU is, as Linux's ``/proc/cpuinfo`` says: the rules whose measurements
differed between CPUs read it (``_plan.py``, ``_dots.py``). Elsewhere nothing is read,
and every answer is the one of a CPU without the feature."""

from __future__ import annotations

import functools

CPU_INFO = "/proc/cpuinfo"


def field(name: str) -> set[str]:
    """The words of the first line of ``CPU_INFO`` that names ``name`` (``"flags"``,
    ``"vendor_id"``), or none where the file cannot be read."""
    try:
        with open(CPU_INFO) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return set(value.split())
    except OSError:
        pass
    return set()


@functools.cache
def amd() -> bool:
    """Whether the CPU is AMD's. On the two EPYCs measured (Zen 4 and Zen 5) XLA's
    weight gradients on YNNPACK ran faster, against the patches' matmuls, than on the
    Xeons the rules were first set on (``_plan.py``'s notes)."""
    return "AuthenticAMD" in field("vendor_id")
