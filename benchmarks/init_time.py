"""Time to build a network's convolutions eagerly, each library's own way, from a cold start.

  python benchmarks/init_time.py [--rounds 2] [resnet18 mobilenet]

A user's first training step waits for the model's construction as well as for the
step's compile (``jaxconv bench --model``), and building layers eagerly compiles one
random-number program per new weight shape. Each measurement runs in a fresh process
with JAX's persistent compilation cache off (no compiled program carried over), times
only the construction of the network's convolutions (``jaxconv bench``'s ResNet-18 and
MobileNet-v1, default initialisers; the imports come before the clock starts), and the
rounds take the libraries in turns. Prints the median seconds of each and the
ratio to flax.nnx.Conv's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

SETUP = {  # imported before the clock starts
    "jaxconv.nn.Conv2d": "import jaxconv.nn\nfrom flax import nnx",
    "flax.nnx.Conv": "from flax import nnx",
    "equinox.nn.Conv2d": "import equinox as eqx",
}
BUILD = {
    "jaxconv.nn.Conv2d": (
        "r = nnx.Rngs(0)\n"
        "layers = [jaxconv.nn.Conv2d(c.ci, c.co, c.k, c.stride, c.k // 2, groups=c.groups,"
        " rngs=r) for c in net.convs]"
    ),
    "flax.nnx.Conv": (
        "r = nnx.Rngs(0)\n"
        "layers = [nnx.Conv(c.ci, c.co, (c.k, c.k), strides=c.stride, padding=c.k // 2,"
        " feature_group_count=c.groups, rngs=r) for c in net.convs]"
    ),
    "equinox.nn.Conv2d": (
        "keys = jax.random.split(jax.random.key(0), len(net.convs))\n"
        "layers = [eqx.nn.Conv2d(c.ci, c.co, c.k, c.stride, c.k // 2, groups=c.groups, key=k)"
        " for c, k in zip(net.convs, keys)]"
    ),
}
BASE = "flax.nnx.Conv"

TEMPLATE = """
import time, jax
from jaxconv.cli.bench._models import MODELS
{setup}
net = MODELS[{model!r}]()
jax.block_until_ready(jax.numpy.zeros(1) + 1)  # the backend is up before the clock starts
t0 = time.perf_counter()
{build}
jax.block_until_ready(jax.tree.leaves(layers))
print(time.perf_counter() - t0)
"""


def cold_build_seconds(model: str, library: str) -> float:
    code = TEMPLATE.format(model=model, setup=SETUP[library], build=BUILD[library])
    env = {**os.environ, "JAX_ENABLE_COMPILATION_CACHE": "false"}  # nothing from disk either
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["resnet18", "mobilenet"])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    for model in args.models:
        times: dict[str, list[float]] = {lib: [] for lib in BUILD}
        for _ in range(args.rounds):
            for lib in BUILD:
                try:
                    times[lib].append(cold_build_seconds(model, lib))
                except subprocess.CalledProcessError as err:  # e.g. equinox not installed
                    why = (err.stderr.strip().splitlines() or [f"exit status {err.returncode}"])[-1]
                    print(f"{model}, {lib}: failed: {why}")
        base = statistics.median(times[BASE]) if times[BASE] else None
        for lib, runs in times.items():
            if runs:
                t = statistics.median(runs)
                ratio = f"{t / base:.2f}x {BASE}" if base else "-"
                print(f"{model:10s} {lib:18s} {t:6.2f} s  {ratio}  (runs: {runs})")


if __name__ == "__main__":
    main()
