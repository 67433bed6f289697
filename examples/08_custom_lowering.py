"""Plug a convolution kernel of your own into jaxconv as a lowering, check it, train with it.

The kernel here is an FFT convolution computed by NumPy on the host through
``jax.pure_callback``: it stands for an FFI binding to a vendor library or a compiled
kernel. Like those it has no batching rule, no derivative and no transpose, so it is
registered as forward-only. jaxconv then

* calls it once per forward pass on the full ``(N, C, H, W)`` arrays (the lesson's vmaps
  over images, groups and kernels are folded into that one call);
* takes the gradients from ``impl="auto"``'s transposable lowerings;
* checks its result's shape and dtype against the contract at trace time.

The script checks the kernel against ``lax.conv_general_dilated`` over a grid of
hyperparameters (values, and gradients through the plan), then trains a small CNN of
``jaxconv.nn.Conv2d(..., impl="fft_host")`` layers on scikit-learn's digits next to the
same network with ``impl="auto"``.

  python examples/08_custom_lowering.py [--quick]
"""

from __future__ import annotations

import argparse
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits

import jaxconv
import jaxconv.nn


def fft_correlate(x, w, stride, padding, dilation, groups):
    """NumPy: ``(N, C, H, W) x (O, C // groups, kh, kw) -> (N, O, mh, mw)`` by FFT.

    Cross-correlation is a product with the conjugate spectrum of the (dilated) kernel;
    the valid part of the circular result is then subsampled by the stride.
    """
    (sh, sw), (dh, dw) = stride, dilation
    x = np.pad(x, ((0, 0), (0, 0), *padding))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    kernel = np.zeros((o, cg, (kh - 1) * dh + 1, (kw - 1) * dw + 1), w.dtype)
    kernel[:, :, ::dh, ::dw] = w
    mh, mw = (h - kernel.shape[2]) // sh + 1, (wd - kernel.shape[3]) // sw + 1
    spectrum_x = np.fft.rfft2(x).reshape(n, groups, cg, h, -1)
    spectrum_w = np.conj(np.fft.rfft2(kernel, s=(h, wd))).reshape(groups, o // groups, cg, h, -1)
    product = np.einsum("ngcuv,gocuv->ngouv", spectrum_x, spectrum_w)
    y = np.fft.irfft2(product, s=(h, wd)).reshape(n, o, h, wd)
    return y[:, :, : (mh - 1) * sh + 1 : sh, : (mw - 1) * sw + 1 : sw].astype(x.dtype)


def fft_host(x, w, params, groups):
    """The lowering: ``(x, w, params, groups) -> y`` in jaxconv's contract."""
    out = jax.ShapeDtypeStruct(
        (x.shape[0], w.shape[0], *params.output_size(x.shape[2:], w.shape[2:])), x.dtype
    )
    return jax.pure_callback(
        lambda x, w: fft_correlate(
            np.asarray(x), np.asarray(w), params.stride, params.padding, params.dilation, groups
        ),
        out,
        x,
        w,
    )


@functools.partial(
    jax.jit, static_argnames=("impl", "stride", "padding", "dilation", "groups", "precision")
)
def value_and_grads(x, w, impl, **kw):
    conv = lambda x, w: jaxconv.conv2d(x, w, **kw, impl=impl)
    return conv(x, w), *jax.grad(lambda x, w: jnp.sum(jnp.sin(conv(x, w))), (0, 1))(x, w)


def check(quick: bool, seed: int = 0) -> tuple[float, int]:
    """Worst relative error against lax over strides, paddings, dilations, groups and batch
    sizes, for the output and for both gradients (which come from auto's plan)."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    paddings = ["same", ((1, 2), (0, 1))] + ([] if quick else [0])
    grid = list(itertools.product([1, 2], paddings, [1, 2], [2] if quick else [1, 2], [1, 3]))
    if quick:  # the half of the 2**4 grid with an even number of second choices: every
        # combination of any three of stride, padding, dilation and batch size still occurs
        grid = [case for i, case in enumerate(grid) if bin(i).count("1") % 2 == 0]
    for stride, padding, dilation, groups, n in grid:
        x = jnp.asarray(rng.standard_normal((n, 4, 11, 9)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((6, 4 // groups, 3, 2)), jnp.float32)
        kw = dict(
            stride=stride, padding=padding, dilation=dilation, groups=groups, precision="highest"
        )
        # output, d/dx and d/dw of a non-linear loss, one jitted program per impl
        ours, ref = (value_and_grads(x, w, impl, **kw) for impl in ("fft_host", "xla"))
        for a, b in zip(ours, ref):
            a, b = np.asarray(a), np.asarray(b)
            worst = max(worst, float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1.0)))
    return worst, len(grid)


class SmallCNN(nnx.Module):
    """conv 1->16 5x5 -> conv 16->32 3x3 stride 2 -> dense 32*4*4 -> 10, NCHW."""

    def __init__(self, impl: str, rngs: nnx.Rngs):
        self.conv1 = jaxconv.nn.Conv2d(1, 16, 5, padding=2, impl=impl, rngs=rngs)
        self.conv2 = jaxconv.nn.Conv2d(16, 32, 3, stride=2, padding=1, impl=impl, rngs=rngs)
        self.out = nnx.Linear(32 * 4 * 4, 10, rngs=rngs)

    def __call__(self, images):  # (N, 8, 8)
        x = jax.nn.relu(self.conv1(images[:, None]))
        x = jax.nn.relu(self.conv2(x))
        return self.out(x.reshape(x.shape[0], -1))


def train(impl: str, epochs: int) -> tuple[list[float], float]:
    digits = load_digits()
    images = jnp.asarray(digits.images / 16.0, jnp.float32)
    labels = jnp.asarray(digits.target)
    train_x, train_y, test_x, test_y = images[:1500], labels[:1500], images[1500:], labels[1500:]
    model = SmallCNN(impl, nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(3e-3), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    losses = []
    for _ in range(epochs):
        for i in range(0, 1500, 100):
            losses.append(float(step(model, optimizer, train_x[i : i + 100], train_y[i : i + 100])))
    accuracy = float(jnp.mean(jnp.argmax(nnx.jit(model)(test_x), -1) == test_y))
    return losses, accuracy


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="8 check cases instead of 48, 3 epochs instead of 10"
    )
    args = ap.parse_args(argv)

    record = jaxconv.register_lowering(
        "fft_host", fft_host, transposable=False, description="FFT convolution, NumPy on the host"
    )
    print(f"registered {record.name!r}: passes {record.passes}; impls now {jaxconv.impls()}")
    plan = jaxconv.choose_plan(
        (100, 16, 8, 8), (32, 16, 3, 3), stride=2, padding=1, impl="fft_host"
    )
    print(f"plan for conv2 with impl='fft_host': {plan}")
    x = jnp.ones((2, 4, 6, 6), jnp.float32)
    hlo = (
        jax.jit(lambda x, w: jaxconv.conv2d(x, w, padding=1, groups=2, impl="fft_host"))
        .lower(x, jnp.ones((6, 2, 3, 3), jnp.float32))
        .as_text()
    )
    print(f"host calls in one grouped, batched forward pass: {hlo.count('callback')}")
    worst, cases = check(args.quick)
    print(
        f"check against lax (values and gradients, {cases} cases): worst relative error "
        f"{worst:.1e} ({'OK' if worst < 1e-4 else 'FAIL'})"
    )
    epochs = 3 if args.quick else 10
    for impl in ("fft_host", "auto"):
        losses, accuracy = train(impl, epochs)
        print(
            f"impl={impl!r}: loss {losses[0]:.3f} -> {losses[-1]:.3f}, test accuracy "
            f"{100 * accuracy:.1f}%"
        )


if __name__ == "__main__":
    main()
