"""Where a training step's XLA compile time goes, kernel by kernel (CPU).

  python benchmarks/kernel_compile.py [--model resnet18] [--dtype bfloat16]
      [--entries "jaxconv.nn NCHW" "flax.nnx.Conv"] [--top 12] [--batch 32]

XLA's CPU backend emits each fusion as a kernel of its own, MLIR then LLVM, and logs how
long each took when asked (``TF_CPP_VMODULE=ir_compiler=2,fusion_compiler=1``). For each
entry of ``jaxconv bench --model`` (``_models.jax_entries``) this compiles the training
step once, in a child process with that logging on, and sums the times of the step's
kernels: how many there are, their MLIR and LLVM seconds (CPU time, summed over XLA's
compile threads), and the kinds of fusion that took the most (XLA names a fusion after
its operations: ``copy_bitcast_fusion`` is a layout copy). These counts move little
with a noisy machine, unlike the wall time of one compile, and they point at kernels
worth not emitting: on the 2-core Xeon a kernel of a few operations took 25-60 ms.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import time

MS = {"s": 1e3, "ms": 1.0, "us": 1e-3}
KERNEL = re.compile(r"Compiled (MLIR|LLVM) module: (\S+) time: ([\d.]+) (s|ms|us)")


def _compile_step(model: str, dtype: str, entry: str, batch: int) -> None:
    """The child: compiles one entry's training step (XLA logs to stderr)."""
    import jax
    import jax.numpy as jnp

    from jaxconv.cli.bench import _models

    net = _models.MODELS[model]()
    entries = _models.jax_entries(net, batch, equinox=False, autotune=False, dtype=dtype)
    apply, params, x, labels = entries[entry]
    momentum = jax.tree.map(jnp.zeros_like, params)
    lowered = jax.jit(_models._train_step(apply)).lower(params, momentum, x, labels)
    start = time.perf_counter()
    lowered.compile()
    print(f"WALL {time.perf_counter() - start:.3f}", flush=True)


def _kernel_times(log: str) -> dict[str, list[float]]:
    """``{kernel: [MLIR ms, LLVM ms]}`` of the module ``jit_step`` in XLA's log."""
    times: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    module = None
    for line in log.splitlines():
        if "Compiling: " in line:
            module = line.rsplit("Compiling: ", 1)[1].strip()
        elif module == "jit_step" and (m := KERNEL.search(line)):
            name = m[2].replace("__compute_module_", "").replace("_kernel_module", "")
            times[name][m[1] == "LLVM"] += float(m[3]) * MS[m[4]]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--entries", nargs="+", default=["jaxconv.nn NCHW", "flax.nnx.Conv"])
    parser.add_argument("--top", type=int, default=12, help="kinds of fusion listed")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _compile_step(args.model, args.dtype, args.child, args.batch)
        return
    env = os.environ | {
        "TF_CPP_MIN_LOG_LEVEL": "0",
        "TF_CPP_VMODULE": "ir_compiler=2,fusion_compiler=1,cpu_compiler=1",
    }
    totals = {}
    for entry in args.entries:
        command = [sys.executable, __file__, "--model", args.model, "--dtype", args.dtype]
        command += ["--batch", str(args.batch), "--child", entry]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        times = _kernel_times(done.stderr)
        wall = re.search(r"WALL (\S+)", done.stdout)
        mlir = sum(t[0] for t in times.values()) / 1e3
        llvm = sum(t[1] for t in times.values()) / 1e3
        totals[entry] = (len(times), mlir + llvm)
        print(
            f"{args.model} {args.dtype} {entry}: {len(times)} kernels, MLIR {mlir:.2f} s + "
            f"LLVM {llvm:.2f} s of CPU; the compile {wall[1] if wall else '?'} s of wall time"
        )
        kinds: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        for name, (a, b) in times.items():
            kind = kinds[re.sub(r"\.\d+$", "", name)]
            kind[0] += 1
            kind[1] += a + b
        for kind_name, (count, ms) in sorted(kinds.items(), key=lambda kv: -kv[1][1])[: args.top]:
            print(f"  {ms / 1e3:6.2f} s  {count:3d}  {kind_name}")
    if len(totals) > 1:
        base, (n0, s0) = list(totals.items())[-1]
        for entry, (n, s) in list(totals.items())[:-1]:
            print(f"{entry} / {base}: kernels {n / n0:.2f}x, kernel compile time {s / s0:.2f}x")


if __name__ == "__main__":
    main()
