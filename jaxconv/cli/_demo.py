"""``jaxconv demo``: the lesson on multi-input / multi-output channels, step by step.

Every number printed is computed live; the lesson's own tensors are the inputs.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv


def show(title, value):
    print(f"\n{title}")
    print(np.asarray(value))


def main() -> None:
    print("== 1. Several input channels: correlate each channel, then add ==")
    X = jnp.array(
        [
            [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
            [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
        ]
    )
    K = jnp.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    print(f"X {X.shape} = (ci, H, W),  K {K.shape} = (ci, kh, kw)")
    for c in range(2):
        show(
            f"corr2d(X[{c}], K[{c}])  (one term of the vmap over channels)",
            jaxconv.corr2d(X[c], K[c]),
        )
    show("corr2d_multi_in(X, K) = their sum  -> (mh, mw)", jaxconv.corr2d_multi_in(X, K))
    print(
        f"shape: mh = H - kh + 1 = {X.shape[1]} - {K.shape[1]} + 1 = "
        f"{X.shape[1] - K.shape[1] + 1}, likewise mw"
    )

    print("\n== 2. Several output channels: one 3-D kernel each, stacked ==")
    K3 = jnp.stack([K, K + 1, K + 2])
    print(f"K3 {K3.shape} = (co, ci, kh, kw): kernels K, K+1, K+2")
    Y = jaxconv.corr2d_multi_in_out(X, K3)
    show(f"corr2d_multi_in_out(X, K3) -> {Y.shape} = (co, mh, mw)", Y)
    terms = jaxconv.channel_contributions(X, K3)
    print(
        f"\nchannel_contributions(X, K3) -> {terms.shape} = (co, ci, mh, mw): the terms "
        f"before the sum; summed over ci they give Y: "
        f"{bool(jnp.array_equal(terms.sum(axis=1), Y))}"
    )

    print("\n== 3. Which vmap does what ==")
    print("  corr2d_multi_in     = jax.vmap(corr2d) over channels, then a sum")
    print("  corr2d_multi_in_out = jax.vmap(corr2d_multi_in) over kernels (the stack)")
    print("  conv2d              = jax.vmap over images, jax.vmap over channel groups")
    fast = jax.jit(jaxconv.corr2d_multi_in_out).lower(X, K3).as_text()
    literal = jax.jit(lambda X, K: jaxconv.corr2d_multi_in_out(X, K, impl="reference"))
    slow = literal.lower(X, K3).as_text()
    count = lambda text, op: text.count(f"stablehlo.{op}")
    print(
        f"  lowered for XLA, the stack is {count(fast, 'convolution')} dense convolution "
        f"and {count(fast, 'reduce')} reductions (jaxconv's batching rule);"
    )
    print(
        f"  left to vmap's generic rules it would be {count(slow, 'convolution')} "
        f"depthwise convolution + {count(slow, 'reduce')} reduction (impl='reference')."
    )

    print("\n== 4. A 1x1 convolution is a matmul over channels ==")
    kx, kk = jax.random.split(jax.random.key(0))
    X1 = jax.random.normal(kx, (3, 3, 3))
    K1 = jax.random.normal(kk, (2, 3, 1, 1))
    # full float32: on NVIDIA GPUs the default would be TF32, rounding each product to ~1e-3
    Y1 = jaxconv.corr2d_multi_in_out_1x1(X1, K1, precision="highest")
    Y2 = jaxconv.corr2d_multi_in_out(X1, K1, precision="highest")
    diff = float(jnp.abs(Y1 - Y2).sum())
    print(f"X {X1.shape}, K {K1.shape}: matmul (2, 3) @ (3, 9) -> {Y1.shape}")
    print(f"sum |matmul - convolution| = {diff:.2e}  ({'OK' if diff < 1e-6 else 'MISMATCH'})")

    print("\n== 5. The whole layer (torch.nn.functional.conv2d semantics) ==")
    x = jax.random.normal(kx, (8, 3, 32, 32))
    w = jax.random.normal(kk, (16, 3, 5, 5))
    y = jaxconv.conv2d(x, w, stride=2, padding=2, padding_mode="reflect")
    print(
        f"input {x.shape} (N, C, H, W), weight {w.shape} (O, C, kh, kw), stride 2, "
        f"padding 2 (reflect) -> {y.shape}"
    )
    ref = lax.conv_general_dilated(
        jnp.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect"), w, (2, 2), "VALID"
    )
    print(f"max |jaxconv - lax.conv_general_dilated| = {float(jnp.abs(y - ref).max()):.1e}")

    print(
        f"shape: jaxconv.output_shape({x.shape}, {w.shape}, stride=2, padding=2) = "
        f"{jaxconv.output_shape(x.shape, w.shape, stride=2, padding=2)}"
    )

    print("\n== 6. Cost ==")
    cost = jaxconv.flops(100, 100, 5, 64)
    print(
        f"ci*co*kh*kw*mh*mw = 100*100*5*5*64*64 = {cost.multiply_adds:,} multiply-adds per "
        f"sample (the lesson's '1 GFLOP'), {cost.flops:,} FLOPs counting multiply and add."
    )
    print("See `jaxconv flops --help` for the lesson's 10-layer, 1M-sample estimate.")
