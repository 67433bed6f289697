"""Train a small LeNet-style CNN made of jaxconv.nn.Conv2d layers on scikit-learn's digits.

The 1797 bundled 8x8 digit images need no download. Usage:

  python examples/03_train_digits.py                 # jaxconv layers, full training
  python examples/03_train_digits.py --conv flax     # the same network with flax.nnx.Conv
  python examples/03_train_digits.py --compare       # both, with accuracies and step times
  python examples/03_train_digits.py --quick         # a few epochs (what CI runs)
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import jaxconv.nn


def _pool2(x, layout):
    """2x2 average pooling in NCHW or NHWC."""
    if layout == "NCHW":
        n, c, h, w = x.shape
        return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class LeNet(nnx.Module):
    """conv 1->32 -> conv 32->64 -> pool -> conv 64->128 -> pool -> dense 512->128->10."""

    def __init__(self, conv: str, rngs: nnx.Rngs):
        self.layout = "NCHW" if conv == "jaxconv" else "NHWC"
        if conv == "jaxconv":  # torch-style layers: (in, out, kernel), int kernel = 3x3
            make = lambda i, o: jaxconv.nn.Conv2d(i, o, 3, padding=1, rngs=rngs)
        else:  # flax's channels-last layer, same shapes
            make = lambda i, o: nnx.Conv(i, o, (3, 3), padding=1, rngs=rngs)
        self.convs = nnx.List([make(1, 32), make(32, 64), make(64, 128)])
        self.hidden = nnx.Linear(128 * 2 * 2, 128, rngs=rngs)
        self.out = nnx.Linear(128, 10, rngs=rngs)

    def __call__(self, images):  # images: (N, 8, 8)
        x = images[:, None] if self.layout == "NCHW" else images[..., None]
        x = jax.nn.relu(self.convs[0](x))
        x = _pool2(jax.nn.relu(self.convs[1](x)), self.layout)
        x = _pool2(jax.nn.relu(self.convs[2](x)), self.layout)
        x = jax.nn.relu(self.hidden(x.reshape(x.shape[0], -1)))
        return self.out(x)


def load(seed: int):
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    return train_test_split(
        images, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )


def train(conv: str, epochs: int, batch_size: int, lr: float, seed: int, show: bool = True):
    """Returns (test accuracy, median seconds per training step, total seconds)."""
    x_train, x_test, y_train, y_test = load(seed)
    model = LeNet(conv, nnx.Rngs(seed))
    steps_per_epoch = len(x_train) // batch_size
    schedule = optax.cosine_decay_schedule(lr, epochs * steps_per_epoch)
    opt = nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, x, y):
        def loss_fn(m):
            return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    @nnx.jit
    def predict(model, x):
        return jnp.argmax(model(x), axis=-1)

    rng = np.random.default_rng(seed)
    step_times = []
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"{conv:8s}", unit="epoch", disable=not show)
    for _ in bar:
        order = rng.permutation(len(x_train))
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            t0 = time.perf_counter()
            loss = step(model, opt, jnp.asarray(x_train[idx]), jnp.asarray(y_train[idx]))
            loss.block_until_ready()
            step_times.append(time.perf_counter() - t0)
        bar.set_postfix(loss=f"{float(loss):.4f}")
    total = time.perf_counter() - start
    accuracy = float(jnp.mean(predict(model, jnp.asarray(x_test)) == jnp.asarray(y_test)))
    return accuracy, statistics.median(step_times[1:]), total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--conv",
        choices=["jaxconv", "flax"],
        default="jaxconv",
        help="which convolution layer the network uses",
    )
    ap.add_argument("--compare", action="store_true", help="train both and compare")
    ap.add_argument("--quick", action="store_true", help="a short run (CI smoke test)")
    ap.add_argument("--epochs", type=int, default=None, help="default 40 (quick: 8)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3, help="peak, cosine-decayed to 0")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    epochs = args.epochs or (8 if args.quick else 40)
    for conv in ["jaxconv", "flax"] if args.compare else [args.conv]:
        acc, step_s, total = train(conv, epochs, args.batch_size, args.lr, args.seed)
        print(
            f"{conv}: test accuracy {acc:.2%} after {epochs} epochs in {total:.1f} s "
            f"(median step {step_s * 1e3:.2f} ms)"
        )


if __name__ == "__main__":
    main()
