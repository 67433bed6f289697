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
def _kernel_stride_dilation(draw, max_kernel: int, max_stride: int, max_dilation: int):
    """``(kernel, stride, dilation)``; one draw in five has windows that tile the input
    (a kernel as large as its stride, undilated: a patch embedding, mostly square), which
    lowerings may compute as a reshape of the input (``_gemm.tiled``)."""
    largest_tile = min(max_kernel, max_stride)
    if largest_tile > 1 and draw(st.integers(0, 4)) == 0:
        k = draw(st.integers(2, largest_tile))
        square = draw(st.integers(0, 2)) > 0
        kernel = (k, k) if square else (k, draw(st.integers(1, largest_tile)))
        return kernel, kernel, (1, 1)
    kernel = tuple(draw(st.integers(1, max_kernel)) for _ in "hw")
    stride = tuple(draw(st.integers(1, max_stride)) for _ in "hw")
    dilation = tuple(draw(st.integers(1, max_dilation)) for _ in "hw")
    return kernel, stride, dilation


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
    """A valid 2-D convolution case; sizes are chosen so the output is non-empty. One draw
    in five is a kernel as large as its stride (a patch embedding)."""
    n_choices = ([None] if unbatched else []) + ([1, 2, 3] if batch else [])
    n = draw(st.sampled_from(n_choices))
    groups = draw(st.integers(1, max_groups))
    ci = groups * draw(st.integers(1, max_channels))
    co = groups * draw(st.integers(1, max_channels))
    kernel, stride, dilation = draw(_kernel_stride_dilation(max_kernel, max_stride, max_dilation))
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


# --- cases of one calling convention, for check_conv -----------------------------------

LAX_LAYOUTS = (
    None,
    ("NCHW", "OIHW", "NCHW"),
    ("NHWC", "HWIO", "NHWC"),
    ("NCHW", "HWIO", "NHWC"),
    ("NHWC", "OIHW", "NCHW"),
)
"""Dimension numbers drawn for the ``"lax"`` convention (``None``: lax's NCHW default)."""


def _padded_first(x, w, args: dict):
    """``(x, args)``: ``x`` with the padding and input dilation of ``args``
    (``lax.conv_general_dilated``'s keywords) applied by ``lax.pad``, ``args`` without them."""
    lax = jax.lax
    dn = lax.conv_dimension_numbers(x.shape, w.shape, args.get("dimension_numbers"))
    axes = dn.lhs_spec[2:]
    dilation = args.get("rhs_dilation") or (1,) * len(axes)
    pads = args["padding"]
    if isinstance(pads, str):  # as lax computes it
        kernel = [(w.shape[a] - 1) * d + 1 for a, d in zip(dn.rhs_spec[2:], dilation)]
        sizes = [x.shape[a] for a in axes]
        pads = lax.padtype_to_pads(sizes, kernel, args["window_strides"], pads)
    interior = args.get("lhs_dilation") or (1,) * len(axes)
    config = [(0, 0, 0)] * x.ndim
    for axis, (lo, hi), d in zip(axes, pads, interior):
        config[axis] = (lo, hi, d - 1)
    unpadded = {**args, "padding": ((0, 0),) * len(axes), "lhs_dilation": None}
    return lax.pad(x, jax.numpy.zeros((), x.dtype), config), unpadded


def _to(arr, canonical: str, spec: str):
    """``arr`` in the ``canonical`` axis order, transposed to ``spec`` (on the host: a
    device transpose would compile a program for every drawn shape)."""
    return np.transpose(np.asarray(arr), [canonical.index(c) for c in spec])


@dataclasses.dataclass(frozen=True)
class ConvCase:
    """One drawn call in a calling convention (``"torch"``, ``"lax"`` or ``"lesson"``).

    ``arrays(dtype)`` makes its ``(x, w, b)`` from ``seed`` in the convention's layout;
    ``call(fn, x, w, b)`` calls a function with the convention's signature, ``oracle``
    calls ``lax.conv_general_dilated`` at ``HIGHEST`` precision on the same arguments.
    """

    convention: str
    n: int | None  # None: unbatched (C, H, W) input
    groups: int
    ci: int
    co: int
    in_size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: Any  # as the convention takes it
    bias: bool = False
    lhs_dilation: tuple[int, ...] = (1, 1)
    batch_groups: int = 1
    layout: tuple[str, str, str] | None = None  # lax dimension numbers
    layout_as_object: bool = False  # pass a ConvDimensionNumbers instead of strings
    seed: int = 0

    @property
    def _specs(self) -> tuple[str, str, str]:
        return self.layout or ("NCHW", "OIHW", "NCHW")

    def arrays(self, dtype=np.float32):
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal(
            ((self.n,) if self.n is not None else ()) + (self.ci, *self.in_size)
        )
        w = rng.standard_normal((self.co, self.ci // self.groups, *self.kernel))
        b = rng.standard_normal((self.co,)) if self.bias else None
        if self.convention == "lax":
            lhs, rhs, _ = self._specs
            x, w = _to(x, "NCHW", lhs), _to(w, "OIHW", rhs)
        put = lambda a: jax.numpy.asarray(np.asarray(a).astype(dtype), dtype)  # host cast
        return put(x), put(w), (put(b) if b is not None else None)

    def _lax_args(self, x, w):
        dims = self.layout
        if dims is not None and self.layout_as_object:
            dims = jax.lax.conv_dimension_numbers(x.shape, w.shape, dims)
        return dict(
            window_strides=self.stride,
            padding=self.padding,
            lhs_dilation=self.lhs_dilation,
            rhs_dilation=self.dilation,
            dimension_numbers=dims,
            feature_group_count=self.groups,
            batch_group_count=self.batch_groups,
        )

    def _torch_padding_for_lax(self):
        p = self.padding
        if isinstance(p, str):
            return p.upper()
        ph, pw = (p, p) if isinstance(p, int) else p
        return ((ph, ph), (pw, pw))

    def call(self, fn, x, w, b=None):
        if self.convention == "lesson":
            return fn(x, w)
        if self.convention == "lax":
            return fn(x, w, **self._lax_args(x, w))
        return fn(
            x,
            w,
            b,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )

    def oracle(self, x, w, b=None):
        """``lax.conv_general_dilated`` at ``Precision.HIGHEST``, with its zero padding
        (and input dilation) applied first by ``lax.pad``: the same values, and
        derivatives that XLA compiles for every drawn case (its transpose of some padded
        convolutions aborts the process: ``jaxconv.lowering._xla.swap_breaks_input_grad``)."""
        lax = jax.lax
        if self.convention == "lax":
            x, args = _padded_first(x, w, self._lax_args(x, w))
            return lax.conv_general_dilated(x, w, **args, precision=lax.Precision.HIGHEST)
        batched = x if x.ndim == 4 else x[None]
        pads = "VALID" if self.convention == "lesson" else self._torch_padding_for_lax()
        args = dict(
            window_strides=self.stride,
            padding=pads,
            rhs_dilation=self.dilation,
            feature_group_count=self.groups,
        )
        batched, args = _padded_first(batched, w, args)
        y = lax.conv_general_dilated(batched, w, **args, precision=lax.Precision.HIGHEST)
        if b is not None:
            y = y + b.reshape(1, -1, 1, 1)
        return y if x.ndim == 4 else y[0]

    @property
    def is_one_by_one(self) -> bool:
        pads = self.padding in (0, (0, 0), ((0, 0), (0, 0)), "valid", "VALID")
        return (
            self.kernel == (1, 1)
            and self.stride == (1, 1)
            and self.groups == 1
            and self.lhs_dilation == (1, 1)
            and self.batch_groups == 1
            and pads
        )

    def matmul(self, x, w, b=None):
        """The 1x1 convolution as ``(co, ci) @ (ci, pixels)``, in the output's layout,
        computed on the host in float64 (an exact reference, no device program per shape)
        and returned in ``x``'s dtype."""
        dtype = np.asarray(x).dtype
        x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
        lhs, rhs, out = self._specs if self.convention == "lax" else ("NCHW", "OIHW", "NCHW")
        xc = _to(x if x.ndim == 4 else x[None], lhs, "NCHW")
        wc = _to(w, rhs, "OIHW")
        y = np.einsum("oc,nchw->nohw", wc[:, :, 0, 0], xc)
        if b is not None:
            y = y + np.asarray(b, np.float64).reshape(1, -1, 1, 1)
        if self.convention == "lax":
            return _to(y, "NCHW", out).astype(dtype)
        return (y if x.ndim == 4 else y[0]).astype(dtype)

    @property
    def can_unbatch(self) -> bool:
        return self.convention == "torch" and self.n is not None

    def call_unbatched(self, fn, x, w, b=None):
        return self.call(fn, jax.numpy.asarray(np.asarray(x)[0]), w, b)

    @staticmethod
    def first_image(y):
        return y[0]

    def describe(self) -> str:
        if self.convention == "lesson":
            return (
                f"fn(X {(self.ci, *self.in_size)}, K {(self.co, self.ci, *self.kernel)}), "
                f"seed {self.seed}"
            )
        x_shape = ((self.n,) if self.n is not None else ()) + (self.ci, *self.in_size)
        w_shape = (self.co, self.ci // self.groups, *self.kernel)
        if self.convention == "torch":
            return (
                f"fn(input {x_shape}, weight {w_shape}, bias "
                f"{(self.co,) if self.bias else None}, stride={self.stride}, "
                f"padding={self.padding!r}, dilation={self.dilation}, groups={self.groups})"
                f", seed {self.seed}"
            )
        return (
            f"fn(lhs NCHW {x_shape}, rhs OIHW {w_shape} (given in {self._specs[:2]}), "
            f"window_strides={self.stride}, padding={self.padding!r}, lhs_dilation="
            f"{self.lhs_dilation}, rhs_dilation={self.dilation}, dimension_numbers="
            f"{self.layout!r}{' as ConvDimensionNumbers' if self.layout_as_object else ''}, "
            f"feature_group_count={self.groups}, batch_group_count={self.batch_groups}), "
            f"seed {self.seed}"
        )


@st.composite
def conv_cases(
    draw,
    convention: str = "torch",
    *,
    max_channels: int = 3,
    max_groups: int = 3,
    max_kernel: int = 4,
    max_stride: int = 3,
    max_dilation: int = 3,
    max_pad: int = 3,
    lhs_dilation: bool = True,
    batch_groups: bool = True,
):
    """:class:`ConvCase` draws of one calling convention, with a non-empty output.

    ``"torch"``: NCHW, int/pair/``"same"`` (stride 1)/``"valid"`` padding, optional bias,
    unbatched input one draw in four. ``"lax"``: any of :data:`LAX_LAYOUTS`, as strings
    or ``ConvDimensionNumbers``, explicit or ``"SAME"``/``"VALID"`` padding, input
    dilation and batch groups unless switched off. ``"lesson"``: ``(ci, H, W)`` and
    ``(co, ci, kh, kw)``, no hyperparameters. One draw in four is a plain 1x1 kernel;
    one in five of the rest a kernel as large as its stride (a patch embedding).

    >>> from hypothesis import given
    >>> @given(conv_cases("lax"))
    ... def test_my_conv(case):
    ...     x, w, b = case.arrays()
    ...     assert case.call(jax.lax.conv_general_dilated, x, w).shape == \\
    ...         case.oracle(x, w).shape
    >>> test_my_conv()
    """
    seed = draw(st.integers(0, 2**32 - 1))
    pointwise = draw(st.integers(0, 3)) == 0
    if convention == "lesson":
        ci, co = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
        kernel = (1, 1) if pointwise else tuple(draw(st.integers(1, max_kernel)) for _ in "hw")
        in_size = tuple(draw(st.integers(k, k + 5)) for k in kernel)
        return ConvCase("lesson", None, 1, ci, co, in_size, kernel, (1, 1), (1, 1), 0, seed=seed)
    groups = 1 if pointwise else draw(st.integers(1, max_groups))
    bgc = 1
    if convention == "lax" and batch_groups and not pointwise and groups == 1:
        bgc = draw(st.sampled_from([1, 1, 2]))
    ci = groups * draw(st.integers(1, max_channels))
    co = groups * bgc * draw(st.integers(1, max_channels))
    if pointwise:
        kernel, stride, dilation = (1, 1), (1, 1), (1, 1)
    else:
        kernel, stride, dilation = draw(
            _kernel_stride_dilation(max_kernel, max_stride, max_dilation)
        )
    lhs_dil = (1, 1)
    if convention == "lax" and lhs_dilation and not pointwise:
        lhs_dil = tuple(draw(st.integers(1, 2)) for _ in "hw")
    if convention == "torch":
        kinds = ["int", "pair", "valid"] + (["same"] if stride == (1, 1) else [])
        kind = "valid" if pointwise else draw(st.sampled_from(kinds))
        padding = {
            "int": lambda: draw(st.integers(0, max_pad)),
            "pair": lambda: (draw(st.integers(0, max_pad)), draw(st.integers(0, max_pad))),
            "valid": lambda: "valid",
            "same": lambda: "same",
        }[kind]()
        pair = (padding, padding) if isinstance(padding, int) else padding
        totals = [0, 0] if kind in ("valid", "same") else [2 * p for p in pair]
    else:
        kinds = ["explicit"] + (["SAME", "VALID"] if lhs_dil == (1, 1) else [])  # as lax
        kind = "VALID" if pointwise else draw(st.sampled_from(kinds))
        if kind == "explicit":
            padding = tuple(
                (draw(st.integers(0, max_pad)), draw(st.integers(0, max_pad))) for _ in "hw"
            )
            totals = [sum(p) for p in padding]
        else:
            padding, totals = kind, [0, 0]
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    sizes: list[int] = []
    for span, total, ld in zip(spans, totals, lhs_dil):
        lo = 1 if kind in ("same", "SAME") else max(1, -(-(span - total - 1) // ld) + 1)
        sizes.append(draw(st.integers(lo, lo + 5)))
    in_size = (sizes[0], sizes[1])
    if convention == "torch":
        n = draw(st.sampled_from([None, 1, 2, 3]))
        return ConvCase(
            "torch",
            n,
            groups,
            ci,
            co,
            in_size,
            kernel,
            stride,
            dilation,
            padding,
            bias=draw(st.booleans()),
            seed=seed,
        )
    n = bgc * draw(st.integers(1, 2))
    layout = draw(st.sampled_from(LAX_LAYOUTS))
    as_object = layout is not None and draw(st.booleans())
    return ConvCase(
        "lax",
        n,
        groups,
        ci,
        co,
        in_size,
        kernel,
        stride,
        dilation,
        padding,
        lhs_dilation=lhs_dil,
        batch_groups=bgc,
        layout=layout,
        layout_as_object=as_object,
        seed=seed,
    )
