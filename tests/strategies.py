"""Hypothesis strategies for convolution cases, shared by the property tests.

A case is drawn in the canonical form (explicit sizes, strides, paddings), and the
arrays are made from a drawn seed with NumPy, which keeps shrinking fast.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from hypothesis import strategies as st


@dataclasses.dataclass(frozen=True)
class Case:
    n: int | None  # None: unbatched input
    groups: int
    ci: int  # input channels in all
    co: int  # output channels in all
    in_size: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: Any  # as passed to jaxconv: "same", "valid" or ((t, b), (l, r))
    seed: int

    @property
    def x_shape(self):
        return ((self.n,) if self.n is not None else ()) + (self.ci, *self.in_size)

    @property
    def w_shape(self):
        return (self.co, self.ci // self.groups, *self.kernel)

    def arrays(self, dtype=np.float64, bias=False):
        rng = np.random.default_rng(self.seed)
        out = [rng.standard_normal(self.x_shape), rng.standard_normal(self.w_shape)]
        if bias:
            out.append(rng.standard_normal((self.co,)))
        if np.issubdtype(dtype, np.complexfloating):
            out = [a + 1j * rng.standard_normal(a.shape) for a in out]
        return [jax.numpy.asarray(a.astype(dtype)) for a in out]

    @property
    def lax_padding(self):
        return self.padding.upper() if isinstance(self.padding, str) else self.padding


@st.composite
def cases(
    draw,
    *,
    batch=True,
    unbatched=True,
    max_groups=3,
    max_channels=3,
    max_kernel=4,
    max_stride=3,
    max_dilation=3,
    max_pad=3,
    same=True,
):
    """A valid 2-D convolution case; sizes are chosen so the output is non-empty."""
    n_choices = ([None] if unbatched else []) + ([1, 2, 3] if batch else [])
    n = draw(st.sampled_from(n_choices))
    groups = draw(st.integers(1, max_groups))
    ci = groups * draw(st.integers(1, max_channels))
    co = groups * draw(st.integers(1, max_channels))
    kernel = tuple(draw(st.integers(1, max_kernel)) for _ in range(2))
    stride = tuple(draw(st.integers(1, max_stride)) for _ in range(2))
    dilation = tuple(draw(st.integers(1, max_dilation)) for _ in range(2))
    kind = draw(st.sampled_from(["explicit", "valid"] + (["same"] if same else [])))
    if kind == "explicit":
        padding = tuple(
            (draw(st.integers(0, max_pad)), draw(st.integers(0, max_pad))) for _ in range(2)
        )
    else:
        padding = kind
    in_size = []
    for i in range(2):
        span = (kernel[i] - 1) * dilation[i] + 1
        pads = sum(padding[i]) if kind == "explicit" else 0
        lo = 1 if kind == "same" else max(1, span - pads)
        in_size.append(draw(st.integers(lo, lo + 6)))
    seed = draw(st.integers(0, 2**32 - 1))
    return Case(n, groups, ci, co, tuple(in_size), kernel, stride, dilation, padding, seed)
