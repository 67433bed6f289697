"""Kernel taps that only ever meet padding, dropped before planning: an exact rewrite.

Along an axis of ``n`` input pixels padded by ``(lo, hi)``, tap ``t`` of a kernel of
dilation ``d`` and stride ``s`` reads input pixel ``i*s + t*d - lo`` for each output
pixel ``i < m``. A tap none of whose pixels can lie in ``[0, n)`` multiplies zeros only.
Where a kernel reaches past its image on both sides (a 7x7 kernel "same"-padded on a 2x2
image, an atrous rate beyond the feature map), the leading and trailing such taps are
dropped and the padding shrunk by as much: the output, its size and every derivative are
unchanged (a dropped tap's weight gradient is zero, which the slice's transpose writes
back). The 7x7 kernel on a 2x2 image becomes a 3x3 one padded by 1, a 3x3 kernel of
dilation 36 on a 33x33 map a 1x1 one. Taps are kept where dropping them would make the
padding negative, and every tap where none meets the image (the output is all zeros).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
from jax import lax

from ._checks import ConvParams, is_static


def spans(
    in_size: Sequence[int], kernel: Sequence[int], params: ConvParams
) -> tuple[tuple[int, int], ...]:
    """Per spatial axis, ``(first, stop)``: the kernel's taps that a call keeps.

    >>> spans((2, 2), (7, 7), ConvParams((1, 1), ((3, 3), (3, 3)), (1, 1)))
    ((2, 5), (2, 5))
    >>> spans((8, 8), (3, 3), ConvParams((1, 1), ((1, 1), (1, 1)), (1, 1)))
    ((0, 3), (0, 3))
    """
    out = params.output_size(in_size, kernel)
    kept = []
    for n, k, m, s, d, (lo, hi) in zip(
        in_size, kernel, out, params.stride, params.dilation, params.padding
    ):
        if not is_static(n, m) or m <= 0:
            kept.append((0, k))
            continue
        first = max(0, -(((m - 1) * s - lo) // d))  # the first tap whose last pixel is >= 0
        last = min(k - 1, (n - 1 + lo) // d)  # the last tap whose first pixel is < n
        if first > last:  # no tap meets the image
            kept.append((0, k))
            continue
        kept.append((min(first, lo // d), max(last, k - 1 - hi // d) + 1))
    return tuple(kept)


def trimmed(
    in_size: Sequence[int], kernel: Sequence[int], params: ConvParams
) -> tuple[tuple[int, int], ConvParams]:
    """``(kernel, params)`` of the call with only the taps of :func:`spans`.

    >>> kernel, params = trimmed((2, 2), (7, 7), ConvParams((1, 1), ((3, 3), (3, 3)), (1, 1)))
    >>> kernel, params.padding
    ((3, 3), ((1, 1), (1, 1)))
    >>> trimmed((33, 33), (3, 3), ConvParams((1, 1), ((36, 36), (36, 36)), (36, 36)))[0]
    (1, 1)
    """
    return _shrunk(spans(in_size, kernel, params), kernel, params)


def _shrunk(kept, kernel: Sequence[int], params: ConvParams) -> tuple[tuple[int, int], ConvParams]:
    """``(kernel, params)`` keeping the taps ``kept`` (:func:`spans`) of ``kernel``."""
    (top, bottom), (left, right) = kept
    (dh, dw), ((t, b), (lft, rgt)) = params.dilation, params.padding
    padding = (
        (t - top * dh, b - (kernel[0] - bottom) * dh),
        (lft - left * dw, rgt - (kernel[1] - right) * dw),
    )
    kh, kw = bottom - top, right - left
    dilation = (1 if kh == 1 else dh, 1 if kw == 1 else dw)  # one tap: undilated
    return (kh, kw), params._replace(padding=padding, dilation=dilation)


def trim(x_shape: Sequence[int], w: jax.Array, params: ConvParams) -> tuple[jax.Array, ConvParams]:
    """``(w, params)`` for ``x`` ``(N, C, H, W)``: ``w`` ``(O, C/groups, kh, kw)`` sliced to
    the taps of :func:`spans`, and the padding shrunk to match."""
    kept = spans(x_shape[2:], w.shape[2:], params)
    if all(first == 0 and stop == k for (first, stop), k in zip(kept, w.shape[2:])):
        return w, params
    _, params = _shrunk(kept, w.shape[2:], params)
    (top, bottom), (left, right) = kept
    return lax.slice(w, (0, 0, top, left), (*w.shape[:2], bottom, right)), params
