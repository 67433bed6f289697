"""A fence: the identity, computed on a CPU into a buffer that XLA cannot fuse through.

XLA's CPU fusion recomputes a cheap elementwise producer (a bias, a ReLU, a residual
sum) inside each of its consumers. One consumer of every activation is the transposing
copy that XLA's convolution needs for the layer's weight gradient, whose features are
the images: ``(N, H, W, C)`` to ``(C, H, W, N)``. A transpose alone is a tiled copy; fused
with its producer it runs on XLA's generic loop, which walks the output and reads the
input a channel apart. Measured (2-core Emerald-Rapids Xeon, jaxlib 0.10.2, float32,
medians of 30 runs): ReLU(y + b) transposed for a weight gradient, ``y`` (32, 32, 32, 64),
took 4.2-4.5 ms fused against 1.4-1.5 ms fenced (the transpose alone 1.1-1.3 ms, the sum
and ReLU 0.4 ms). In a ResNet-18 training step the fused transposes took 181-226 ms of
about 840 ms of kernels (flax.nnx's step 168 ms).

The fence is a ``lax.cond`` on a value only known at run time (the first element of the
operand, or of another array: ``fence``'s ``key``), whose branches are the identity and
a double negation, both exact (the sign of zero, NaN and infinity included): XLA neither
fuses a conditional nor can prove the branches equal, so the operand is computed once
into a buffer and the transposes read it. XLA's optimisation barrier does not do this:
the CPU backend removes it before fusion. A ``while_loop`` whose trip count depends on
the data does it too, in six kernels to the conditional's two. The fence also keeps the
fused taps of a depthwise forward pass from being computed again in each consumer
(``_matmul.matmul_forward``). XLA fuses the producer of the tested array into the test,
which computes one element of it: cheap to run, but a kernel of its own to compile, as
large as the producer's. The fused taps of a depthwise 3x3 layer made a 73-instruction
kernel for each fence of MobileNet-v1 (nine of 340 fused kernels, 820 of 4790 fused
instructions); their fences test the layer's weights instead.

Other backends lower the fence to nothing (not measured there: no GPU was lent to this
work), and so do arrays with no element or with symbolic sizes (``jax.export``).
Tangents pass through unchanged.

jaxconv fences float32 arrays (``pays``): in bfloat16, which XLA's CPU convolution
computes in float32 between conversions, ResNet-18's step read 0.98-1.01x its unfenced
time and compiled 6% slower, MobileNet-v1's 1.01x and 7-14% slower
(``benchmarks/fence_ab.py --dtype bfloat16``); float64 was not measured. Two fences take
half precision: those of depthwise taps beyond 5x5 (``_matmul.matmul_forward``) and of
``"dots"``' row-stacked forward pass on few input channels or widening
(``_dots.FENCED_BELOW_CHANNELS``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from .._checks import is_static


def _first(a: jax.Array) -> jax.Array:
    return lax.reshape(lax.slice(a, (0,) * a.ndim, (1,) * a.ndim), ())


def _through_a_conditional(x: jax.Array, key: jax.Array) -> jax.Array:
    if not is_static(*x.shape, *key.shape) or x.size == 0 or key.size == 0:
        return x
    taken = _first(key) != jnp.zeros((), key.dtype)
    return lax.cond(taken, lambda v: v, lambda v: lax.neg(lax.neg(v)), x)


fence_p = Primitive("jaxconv_fence")
fence_p.def_impl(lambda x, key: x)
fence_p.def_abstract_eval(lambda aval, key: aval)
mlir.register_lowering(fence_p, lambda ctx, x, key: [x])
mlir.register_lowering(
    fence_p, mlir.lower_fun(_through_a_conditional, multiple_results=False), platform="cpu"
)
ad.primitive_jvps[fence_p] = lambda primals, tangents: (fence_p.bind(*primals), tangents[0])
ad.primitive_transposes[fence_p] = lambda ct, x, key: [ct, None]
batching.primitive_batchers[fence_p] = lambda args, dims: (fence_p.bind(*args), dims[0])


def fence(x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """``x``, which XLA's CPU backend computes into a buffer of its own (module notes).

    ``key``: the array whose first element the conditional tests (default ``x``); one
    whose producer is cheaper to compile than ``x``'s, such as a layer's weights, spares
    XLA a kernel (module notes).
    """
    if x.dtype == jnp.bool_:  # no negation; nothing here fences booleans
        return x
    key = x if key is None else key
    return fence_p.bind(x, key)


def pays(dtype) -> bool:
    """Whether jaxconv fences arrays of ``dtype``: float32, where it was measured to pay."""
    return jnp.dtype(dtype) == jnp.float32


def fenced_channels_last(x: jax.Array) -> jax.Array:
    """``x`` ``(N, C, H, W)`` through a fence in the channels-last order ``(N, H, W, C)``:
    the memory order of XLA's CPU convolutions, so that the buffer is the activation as it
    lies, and a weight gradient's transposing copy reads it (float32: ``pays``)."""
    if not pays(x.dtype):
        return x
    return lax.transpose(fence(lax.transpose(x, (0, 2, 3, 1))), (0, 3, 1, 2))
