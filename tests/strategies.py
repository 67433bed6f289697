"""Hypothesis strategies for convolution cases, shared by the property tests.

A case is drawn in the canonical form (explicit sizes, strides, paddings), and the
arrays are made from a drawn seed with NumPy, which keeps shrinking fast.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from hypothesis import assume
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


@st.composite
def torch_cases(draw):
    """Hyperparameters torch.nn.Conv2d accepts (symmetric padding; 'same' at stride 1)."""
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    groups = draw(st.integers(1, 3))
    ci, co = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    kind = draw(st.sampled_from(["same", "valid", "int", "pair"]))
    stride = (1, 1) if kind == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = {
        "same": "same",
        "valid": "valid",
        "int": draw(st.integers(0, 3)),
        "pair": (draw(st.integers(0, 3)), draw(st.integers(0, 3))),
    }[kind]
    size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    pads = (
        [(k - 1) * d for k, d in zip(kernel, dilation)]
        if kind == "same"
        else (
            [0, 0]
            if kind == "valid"
            else [2 * p for p in ((padding, padding) if kind == "int" else padding)]
        )
    )
    for n, k, d, p in zip(size, kernel, dilation, pads):
        assume(n + p >= (k - 1) * d + 1)  # a non-empty output
        if mode == "reflect":
            assume(p - p // 2 < n)  # torch: reflect padding smaller than the input
        if mode == "circular":
            assume(p - p // 2 <= n)  # torch: circular padding wraps at most once
    n = draw(st.sampled_from([None, 1, 2]))
    bias = draw(st.booleans())
    return dict(
        mode=mode,
        groups=groups,
        ci=ci,
        co=co,
        kernel=kernel,
        dilation=dilation,
        stride=stride,
        padding=padding,
        size=size,
        n=n,
        bias=bias,
        seed=draw(st.integers(0, 2**32 - 1)),
    )
