"""Every lowering at realistic sizes, forward and gradients, against a float64 oracle.

Small test shapes never reach the programs XLA's GPU compiler once failed on (the
``matmul`` gradient's loop over taps at any realistic size, issue 12). On a GPU these
run the issue's shapes at their batch; on a CPU with one image, to keep the suite's
time. In bfloat16 they found gradients summed over taps and blocks in bfloat16 (1.4-5.8%
errors, lax 0.3-0.6%), now summed in float32 (``_taps.summed_in_accumulator``).
``"dots"`` runs here too: its patches are the largest temporaries of any lowering (a 7x7
stem's are 49 times its input).

The oracle is lax in float64 on the same (rounded) operands. Each output must be within
the dtype's tolerance of it, or no further from it than lax's own program in that dtype
(twice its error): on an H200, the float32 weight gradient of the lesson's layer from
lax's program at ``Precision.HIGHEST`` was 17.85 from the matmul and gemm lowerings'
(2.7e-3 of its largest value), the same number for both, so a float32 lax oracle could
not tell which side was off.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxconv
from tests.helpers import ON_GPU, max_error

# x shape (batch on a GPU), w shape, padding, stride: the shapes that failed on an H100,
# a MobileNet-v1 depthwise layer at ImageNet size (on a GPU its forward pass and input
# gradient are "auto"'s fused taps), ConvNeXt-T's first depthwise 7x7 (matmul's loops
# over kernel rows, forward and both gradients) and ViT-B/16's patch embedding (gemm's
# patches are then a reshape of the input)
SHAPES = {
    "lesson k5": ((16, 100, 68, 68), (100, 100, 5, 5), 0, 1),
    "3x3 pad 1": ((4, 64, 56, 56), (64, 64, 3, 3), 1, 1),
    "stem 7x7": ((4, 3, 229, 229), (64, 3, 7, 7), 0, 1),
    "depthwise s2": ((32, 128, 56, 56), (128, 1, 3, 3), 1, 2),
    "depthwise 7x7": ((32, 96, 56, 56), (96, 1, 7, 7), 3, 1),
    "vit patches": ((32, 3, 224, 224), (768, 3, 16, 16), 0, 16),
}
DTYPES = ["float32", "bfloat16"]
RTOL = {"float32": 2e-5, "bfloat16": 1e-2}  # lax itself: 0.3-0.6% in bfloat16


def _outputs(conv, x, w):
    y, vjp = jax.vjp(conv, x, w)
    return (y, *vjp(y))  # the output and the gradients of 0.5 * sum(y ** 2)


def _precision(dtype):
    return lax.Precision.HIGHEST if dtype != jnp.bfloat16 else None


def _lax(padding, stride):
    def conv(x, w):
        pads = [(padding, padding)] * 2
        groups = x.shape[1] // w.shape[1]
        return lax.conv_general_dilated(
            x, w, (stride, stride), pads, feature_group_count=groups, precision=_precision(x.dtype)
        )

    return conv


def _jaxconv(impl, padding, stride):
    def conv(x, w):
        return jaxconv.conv2d(
            x,
            w,
            stride=stride,
            padding=padding,
            groups=x.shape[1] // w.shape[1],
            precision=_precision(x.dtype),
            impl=impl,
        )

    return conv


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_lowering_compiles_and_agrees_at_realistic_sizes(shape, dtype):
    """Each lowering in turn, against one oracle and one lax program per shape and dtype
    (on a CPU, "xla" is lax's own program: only a GPU's compiler can fail it here)."""
    x_shape, w_shape, padding, stride = SHAPES[shape]
    if not ON_GPU:
        x_shape = (1, *x_shape[1:])
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, x_shape, dtype)
    w = (jax.random.normal(kw, w_shape) / (w_shape[1] * w_shape[2] * w_shape[3]) ** 0.5).astype(
        dtype
    )
    oracle = [
        np.asarray(o, np.float64)
        for o in jax.jit(lambda x, w: _outputs(_lax(padding, stride), x, w))(
            x.astype(jnp.float64), w.astype(jnp.float64)
        )
    ]
    theirs = jax.jit(lambda x, w: _outputs(_lax(padding, stride), x, w))(x, w)
    lax_errors = [max_error(np.asarray(a, np.float64), e)[0] for a, e in zip(theirs, oracle)]
    for impl in ["matmul", "gemm", "xla", "dots"] if ON_GPU else ["matmul", "gemm", "dots"]:
        mine = jax.jit(lambda x, w: _outputs(_jaxconv(impl, padding, stride), x, w))(x, w)
        assert all(a.dtype == x.dtype for a in mine), impl
        for name, (err, scale), lax_err in zip(
            ("output", "input gradient", "weight gradient"),
            [max_error(np.asarray(a, np.float64), e) for a, e in zip(mine, oracle)],
            lax_errors,
        ):
            bound = max(RTOL[dtype] * scale, 2 * lax_err)
            assert err <= bound, (
                f"{impl}, {name}: max error {err:.3e} > {bound:.3e} (lax: {lax_err:.3e})"
            )
