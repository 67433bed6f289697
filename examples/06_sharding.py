"""jaxconv on several devices with JAX's own SPMD machinery (jax.sharding).

The vmap structure maps onto parallelism: the batch (vmap over images) is data
parallelism, the kernels (vmap over kernels, the multi-output stack) are output-channel
model parallelism. Runs on 8 devices; on a CPU-only machine fake them with

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python examples/06_sharding.py

Each case is checked against the unsharded run. On several hosts, call
jax.distributed.initialize() first in every process and build the same mesh over
jax.devices(); that path is not exercised here (one machine).
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import jaxconv
import jaxconv.nn


def mesh_of(shape, names):
    """A mesh with Auto axes: XLA's SPMD partitioner propagates the shardings. (With
    Explicit axes, JAX's default in make_mesh, a kernel-sharded convolution needs an
    explicit output sharding, in jaxconv as in lax.)"""
    return jax.make_mesh(shape, names, axis_types=(AxisType.Auto,) * len(names))


def conv(x, w):
    return jaxconv.conv2d(x, w, padding=1)


def check(name, sharded, expected, note=""):
    ok = np.allclose(np.asarray(sharded), np.asarray(expected), rtol=1e-5, atol=1e-5)
    print(f"({name}) {'OK' if ok else 'MISMATCH'} {note}")
    if not ok:
        raise SystemExit(1)


def conv_output_channels(compiled_text: str) -> list[int]:
    """Output-feature sizes of the convolutions in a compiled per-device program."""
    sizes = []
    for line in compiled_text.splitlines():
        if " convolution(" in line:
            dims = re.search(r"= f32\[([\d,]+)\]", line).group(1).split(",")
            labels = re.search(r"dim_labels=\w+->(\w+)", line).group(1)
            sizes.append(int(dims[labels.index("f")]))
    return sizes


def main():
    devices = jax.devices()
    if len(devices) < 8:
        raise SystemExit(f"needs 8 devices, found {len(devices)}; see the docstring")
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((16, 4, 12, 12)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((16, 4, 3, 3)), jnp.float32)
    expected = jax.jit(conv)(x, w)

    # (a) data parallelism: the batch split over 8 devices, kernels replicated.
    mesh = mesh_of((8,), ("data",))
    xs = jax.device_put(x, NamedSharding(mesh, P("data")))
    ya = jax.jit(conv)(xs, jax.device_put(w, NamedSharding(mesh, P())))
    check("a", ya, expected, f"batch sharded: {ya.sharding.spec}")

    # (b) model parallelism: the kernels (output channels) split over 8 devices.
    mesh = mesh_of((8,), ("model",))
    ws = jax.device_put(w, NamedSharding(mesh, P("model")))
    xr = jax.device_put(x, NamedSharding(mesh, P()))
    f = jax.jit(conv, out_shardings=NamedSharding(mesh, P(None, "model")))
    yb = f(xr, ws)
    per_device = conv_output_channels(f.lower(xr, ws).compile().as_text())
    local = per_device == [w.shape[0] // 8]
    check(
        "b",
        yb,
        expected,
        f"kernels sharded: each device's convolution makes "
        f"{per_device} of {w.shape[0]} output channels",
    )
    if not local:
        raise SystemExit(1)

    # (c) both on a 2 x 4 mesh.
    mesh = mesh_of((2, 4), ("data", "model"))
    yc = jax.jit(conv, out_shardings=NamedSharding(mesh, P("data", "model")))(
        jax.device_put(x, NamedSharding(mesh, P("data"))),
        jax.device_put(w, NamedSharding(mesh, P("model"))),
    )
    check("c", yc, expected, "2x4 mesh: batch over 'data', kernels over 'model'")

    # (d) a sharded NNX training step of a small jaxconv CNN.
    def make():
        rngs = nnx.Rngs(0)
        return nnx.Sequential(
            jaxconv.nn.Conv2d(4, 8, 3, padding=1, rngs=rngs),
            jax.nn.relu,
            jaxconv.nn.Conv2d(8, 8, 3, stride=2, groups=2, rngs=rngs),
        )

    def train_step(model, opt, x):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean(m(x) ** 2))(model)
        opt.update(model, grads)
        return loss

    results = []
    for sharded in (False, True):
        model = make()
        opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
        batch = x
        if sharded:
            mesh = mesh_of((8,), ("data",))
            batch = jax.device_put(x, NamedSharding(mesh, P("data")))
        loss = nnx.jit(train_step)(model, opt, batch)
        results.append((float(loss), np.asarray(model.layers[0].weight[...])))
    check(
        "d",
        results[1][1],
        results[0][1],
        f"training step, batch sharded: loss {results[1][0]:.6f} vs {results[0][0]:.6f}",
    )


if __name__ == "__main__":
    main()
