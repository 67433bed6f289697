"""Training steps with and without the fence (``jaxconv/lowering/_fence.py``), one process.

  python benchmarks/fence_ab.py [--model resnet18 mobilenet convnext] [--reps 21] [--compiles 3]
                                [--dtype bfloat16] [--batchnorm] [--batch 32] [--side 32]

For each network of ``jaxconv bench --model``: jaxconv.nn.Conv2d's step (NCHW and NHWC)
compiled with the fence and with the fence lowered to nothing on the CPU as well, and
flax.nnx's, compiled in ``--compiles`` rounds taken in turns (median and minimum of the
compile times) and timed in interleaved runs; prints ms, the ratios to flax.nnx and to the
unfenced step, and XLA's temporary bytes. ``--dtype bfloat16`` computes each step in
half precision: the float32 parameters and the input cast on the way in. ``--batchnorm``
times the networks with batch normalisation after every convolution (``bench --model
--batchnorm``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from jax.interpreters import mlir

from jaxconv.cli.bench import _models
from jaxconv.cli.bench._timing import temp_bytes, time_interleaved
from jaxconv.lowering import _fence


def _set_fence(on: bool) -> None:
    """The fence's CPU lowering: the conditional, or nothing (as on other backends)."""
    rule = mlir.lower_fun(_fence._through_a_conditional, multiple_results=False)
    off = lambda ctx, x, key: [x]  # noqa: E731
    mlir.register_lowering(_fence.fence_p, rule if on else off, platform="cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="+", default=["resnet18"], choices=sorted(_models.MODELS))
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--compiles", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--batchnorm", action="store_true")
    ap.add_argument("--side", type=int, default=_models.SIDE, help="the images' height and width")
    args = ap.parse_args()
    _models.SIDE = args.side
    for model in args.model:
        net = _models.MODELS[model]()
        if args.batchnorm:
            net = _models.normalised(net)
        entries = _models.jax_entries(
            net, args.batch, equinox=False, autotune=False, dtype=args.dtype
        )
        variants = {
            f"{entry} {state}": (entry, state == "fenced")
            for entry in ("jaxconv.nn NCHW", "jaxconv.nn NHWC")
            for state in ("unfenced", "fenced")
        }
        variants["flax.nnx.Conv"] = ("flax.nnx.Conv", True)
        compile_s: dict[str, list[float]] = {name: [] for name in variants}
        runs, temps = {}, {}
        for round_ in range(args.compiles):
            order = list(variants.items())[:: -1 if round_ % 2 else 1]
            for name, (entry, fenced) in order:
                _set_fence(fenced)
                jax.clear_caches()  # the lowering is chosen when a program is lowered
                apply, params, x, labels = entries[entry]
                params = jax.tree.map(jnp.array, params)
                momenta = jax.tree.map(jnp.zeros_like, params)
                step = jax.jit(_models._train_step(apply), donate_argnums=(0, 1))
                t0 = time.perf_counter()
                compiled = step.trace(params, momenta, x, labels).lower().compile()
                compile_s[name].append(time.perf_counter() - t0)
                temps[name] = temp_bytes(compiled)
                state = [params, momenta]

                def run(compiled=compiled, state=state, x=x, labels=labels):
                    state[0], state[1], loss = compiled(state[0], state[1], x, labels)
                    jax.block_until_ready(loss)

                runs[name] = run
        _set_fence(True)
        times = time_interleaved(runs, args.reps)
        base = times["flax.nnx.Conv"]
        print(
            f"{net.name}, {args.dtype}, batch {args.batch}, {args.reps} runs, "
            f"{args.compiles} compiles"
        )
        for name in variants:
            unfenced = times.get(name.replace(" fenced", " unfenced"), times[name])
            c = compile_s[name]
            print(
                f"  {name:26s} {times[name] * 1e3:8.1f} ms  x flax.nnx {times[name] / base:.3f}"
                f"  x unfenced {times[name] / unfenced:.3f}  compile {statistics.median(c):.2f}"
                f" s (min {min(c):.2f})  temp {(temps[name] or 0) / 2**20:.0f} MiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
