"""The speed suite: the shapes ``jaxconv bench`` times, and the devices' peak rates."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Case:
    """One convolution of the suite: ``(n, ci, side, side) -> (n, co, m, m)``."""

    key: str
    name: str
    n_cpu: int
    n_gpu: int
    ci: int
    co: int
    k: int
    stride: int
    pad: int
    side: int
    groups: int = 1

    @property
    def out_side(self) -> int:
        return (self.side + 2 * self.pad - self.k) // self.stride + 1

    def flops(self, n: int) -> int:
        """FLOPs of the forward convolution (one multiply-add = 2)."""
        return 2 * n * self.co * (self.ci // self.groups) * self.k**2 * self.out_side**2


SUITE = (
    Case("lesson", "lesson 100->100 5x5 m64", 4, 32, 100, 100, 5, 1, 0, 68),
    Case("3x3-64", "3x3 64->64 m56", 8, 64, 64, 64, 3, 1, 1, 56),
    Case("3x3-256", "3x3 256->256 m14", 8, 64, 256, 256, 3, 1, 1, 14),
    Case("1x1", "1x1 256->64 m56", 8, 64, 256, 64, 1, 1, 0, 56),
    Case("stem", "stem 7x7/2 3->64 224", 8, 64, 3, 64, 7, 2, 3, 224),
    Case("depthwise", "depthwise 3x3 128 m28", 8, 64, 128, 128, 3, 1, 1, 28, groups=128),
)
"""The shapes of the speed issue; batch ``n_cpu`` on a CPU, ``n_gpu`` on a GPU."""

TINY = (
    Case("lesson", "lesson (tiny) 4->4 5x5", 1, 1, 4, 4, 5, 1, 0, 9),
    Case("3x3-64", "3x3 (tiny) 4->4", 1, 1, 4, 4, 3, 1, 1, 7),
    Case("3x3-256", "3x3 (tiny) 8->8", 1, 1, 8, 8, 3, 1, 1, 4),
    Case("1x1", "1x1 (tiny) 8->4", 1, 1, 8, 4, 1, 1, 0, 7),
    Case("stem", "stem (tiny) 7x7/2 3->4", 1, 1, 3, 4, 7, 2, 3, 14),
    Case("depthwise", "depthwise (tiny) 3x3 4", 1, 1, 4, 4, 3, 1, 1, 5, groups=4),
)
"""The suite scaled down to seconds, for smoke tests (``--tiny``)."""

# Dense peak FLOP/s by device and dtype; float32 counts TF32 tensor cores, which JAX's
# default precision uses on these GPUs. CPUs: unknown, left out.
PEAKS = {
    "H100": {"float32": 494.7e12, "bfloat16": 989.4e12},
    "H200": {"float32": 494.7e12, "bfloat16": 989.4e12},
}
PEERS = (
    "lax",
    "lax NHWC",
    "flax.linen.Conv",
    "flax.nnx.Conv",
    "equinox.nn.Conv2d",
    "torch.nn.Conv2d",
)


def peak(device_kind: str, dtype: str) -> float | None:
    """Dense peak FLOP/s of a known device in ``dtype``, else ``None``."""
    for name, peaks in PEAKS.items():
        if name in device_kind:
            return peaks.get(dtype)
    return None
