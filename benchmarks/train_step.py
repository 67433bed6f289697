"""One training step (forward, backward, optax SGD update) of a single conv layer, timed
for jaxconv.nn.Conv2d against flax.nnx.Conv, flax.linen.Conv, equinox.nn.Conv2d and
torch.nn.Conv2d (the last two when installed), in one interleaved run on this machine.

  python benchmarks/train_step.py [--reps 20] [--json out.json]

Every JAX step is a jitted pure function of (params, optimizer state, batch): NNX modules
are split once, so no Python graph traversal is timed. Loss: mean(y ** 2).
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen, nnx

import jaxconv.nn
from jaxconv.cli.bench import time_interleaved

# name, n (cpu), n (gpu), ci, co, k, output side, padding
SHAPES = [
    ("lesson 100->100 k5 m64", 4, 32, 100, 100, 5, 64, 0),
    ("3x3 64->64 m56", 8, 64, 64, 64, 3, 56, 1),
]
LR = 1e-3


def _sgd_runner(loss, params, x):
    """A zero-argument callable running one jitted SGD step of ``loss(params, x)``."""
    tx = optax.sgd(LR)

    @jax.jit
    def step(params, opt_state, x):
        grads = jax.grad(loss)(params, x)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    state = [params, tx.init(params)]

    def run():
        state[:] = step(*state, x)
        jax.block_until_ready(state[0])

    return run


def _nnx_step(model, x):
    """NNX models are split once; the step is a pure function of their Param state."""
    graphdef, params = nnx.split(model, nnx.Param)
    return _sgd_runner(lambda p, x: jnp.mean(nnx.merge(graphdef, p)(x) ** 2), params, x)


def _linen_step(module, x):
    params = module.init(jax.random.key(0), x)
    return _sgd_runner(lambda p, x: jnp.mean(module.apply(p, x) ** 2), params, x)


def _equinox_step(ci, co, k, pad, x):
    import equinox as eqx

    model = eqx.nn.Conv2d(ci, co, k, padding=pad, key=jax.random.key(0))
    tx = optax.sgd(LR)
    opt_state = tx.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def step(model, opt_state, x):
        grads = eqx.filter_grad(lambda m: jnp.mean(jax.vmap(m)(x) ** 2))(model)
        updates, opt_state = tx.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state

    state = [model, opt_state]

    def run():
        state[:] = step(*state, x)
        jax.block_until_ready(eqx.filter(state[0], eqx.is_array))

    return run


def _torch_step(ci, co, k, pad, x_np):
    import torch

    layer = torch.nn.Conv2d(ci, co, k, padding=pad)
    opt = torch.optim.SGD(layer.parameters(), lr=LR)
    x = torch.from_numpy(x_np)

    def run():
        opt.zero_grad()
        torch.mean(layer(x) ** 2).backward()
        opt.step()

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json")
    args = ap.parse_args()
    on_gpu = jax.default_backend() == "gpu"
    print(
        f"device: {jax.devices()[0].device_kind}, jax {jax.__version__}, float32, reps {args.reps}"
    )
    rows = []
    for name, n_cpu, n_gpu, ci, co, k, m, pad in SHAPES:
        n = n_gpu if on_gpu else n_cpu
        size = m - 2 * pad + k - 1
        x_np = np.random.default_rng(0).standard_normal((n, ci, size, size)).astype(np.float32)
        x, x_nhwc = jnp.asarray(x_np), jnp.asarray(x_np.transpose(0, 2, 3, 1))
        rngs = lambda: nnx.Rngs(0)
        runs = {
            "jaxconv.nn NCHW": _nnx_step(jaxconv.nn.Conv2d(ci, co, k, padding=pad, rngs=rngs()), x),
            "jaxconv.nn NHWC": _nnx_step(
                jaxconv.nn.Conv2d(ci, co, k, padding=pad, data_format="NHWC", rngs=rngs()), x_nhwc
            ),
            "flax.nnx.Conv": _nnx_step(nnx.Conv(ci, co, (k, k), padding=pad, rngs=rngs()), x_nhwc),
            "flax.linen.Conv": _linen_step(linen.Conv(co, (k, k), padding=pad), x_nhwc),
        }
        try:
            runs["equinox Conv2d"] = _equinox_step(ci, co, k, pad, x)
        except ImportError:
            print("  (equinox not installed: skipped)")
        try:
            if not on_gpu:
                runs["torch Conv2d"] = _torch_step(ci, co, k, pad, x_np)
        except ImportError:
            print("  (torch not installed: skipped)")
        res = time_interleaved(runs, args.reps, warmup=2)
        base = res["flax.nnx.Conv"]
        for peer, t in res.items():
            rows.append(dict(shape=name, n=n, peer=peer, median_s=t, ratio_to_flax_nnx=t / base))
            print(f"{name:24s} n={n:<3d} {peer:18s} {t * 1e3:9.2f} ms  x{t / base:5.2f} flax.nnx")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": jax.devices()[0].device_kind, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
