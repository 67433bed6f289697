"""``python -m jaxconv.bench``: jaxconv against every peer on one shape suite, in one run.

For each suite shape and each pass (``fwd``: forward; ``fwd+bwd``: forward and the
gradients of ``0.5 * sum(y**2)`` with respect to input and weights) it compiles and
times the JAX entries interleaved (a, b, c, a, b, c, ...), so that machine noise hits all
alike, then torch on its own right after (its CPU threads keep spinning after a call and
would slow the next entry):

* peers: ``lax.conv_general_dilated`` (NCHW and NHWC), ``flax.linen.Conv``,
  ``flax.nnx.Conv``, ``equinox.nn.Conv2d`` and ``torch.nn.Conv2d`` (the last two when
  installed);
* jaxconv: :func:`jaxconv.conv2d` with every plan-based ``impl`` and
  ``jaxconv.nn.Conv2d`` in NCHW and NHWC (``impl="reference"`` with ``--reference``:
  it is 10-170x slower).

No layer has a bias. Reported per entry: median time, ratio to ``lax`` (NCHW) and to the
fastest peer in the same run, achieved GFLOP/s (multiply-add = 2 FLOPs; forward+backward
counts 3 convolutions), the share of the device's peak where known, compile time and
compiled temporary memory. Compile times are in compile order: on a GPU the first
compile of a shape also pays cuDNN autotuning.

Examples::

  python -m jaxconv.bench --quick
  python -m jaxconv.bench --json bench.json
  jaxconv bench --cases stem depthwise --dtype bfloat16
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform as _platform
import statistics
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ... import _conv2d
from ..._checks import ConvParams
from ...lowering._plan import resolve
from ...lowering._registry import IMPLS
from .._main import _positive

__all__ = [
    "Case", "SUITE", "TINY", "build_parser", "main", "report", "run", "summarize",
    "time_interleaved",
]


@dataclasses.dataclass(frozen=True)
class Case:
    """One convolution of the suite: ``(n, ci, side, side) -> (n, co, m, m)``."""

    key: str
    name: str
    n_cpu: int
    n_gpu: int
    ci: int
    co: int
    k: int
    stride: int
    pad: int
    side: int
    groups: int = 1

    @property
    def out_side(self) -> int:
        return (self.side + 2 * self.pad - self.k) // self.stride + 1

    def flops(self, n: int) -> int:
        """FLOPs of the forward convolution (one multiply-add = 2)."""
        return 2 * n * self.co * (self.ci // self.groups) * self.k ** 2 * self.out_side ** 2


SUITE = (
    Case("lesson", "lesson 100->100 5x5 m64", 4, 32, 100, 100, 5, 1, 0, 68),
    Case("3x3-64", "3x3 64->64 m56", 8, 64, 64, 64, 3, 1, 1, 56),
    Case("3x3-256", "3x3 256->256 m14", 8, 64, 256, 256, 3, 1, 1, 14),
    Case("1x1", "1x1 256->64 m56", 8, 64, 256, 64, 1, 1, 0, 56),
    Case("stem", "stem 7x7/2 3->64 224", 8, 64, 3, 64, 7, 2, 3, 224),
    Case("depthwise", "depthwise 3x3 128 m28", 8, 64, 128, 128, 3, 1, 1, 28, groups=128),
)
"""The shapes of the speed issue; batch ``n_cpu`` on a CPU, ``n_gpu`` on a GPU."""

TINY = (
    Case("lesson", "lesson (tiny) 4->4 5x5", 1, 1, 4, 4, 5, 1, 0, 9),
    Case("3x3-64", "3x3 (tiny) 4->4", 1, 1, 4, 4, 3, 1, 1, 7),
    Case("3x3-256", "3x3 (tiny) 8->8", 1, 1, 8, 8, 3, 1, 1, 4),
    Case("1x1", "1x1 (tiny) 8->4", 1, 1, 8, 4, 1, 1, 0, 7),
    Case("stem", "stem (tiny) 7x7/2 3->4", 1, 1, 3, 4, 7, 2, 3, 14),
    Case("depthwise", "depthwise (tiny) 3x3 4", 1, 1, 4, 4, 3, 1, 1, 5, groups=4),
)
"""The suite scaled down to seconds, for smoke tests (``--tiny``)."""

# Dense peak FLOP/s by device and dtype; float32 counts TF32 tensor cores, which JAX's
# default precision uses on these GPUs. CPUs: unknown, left out.
PEAKS = {
    "H100": {"float32": 494.7e12, "bfloat16": 989.4e12},
    "H200": {"float32": 494.7e12, "bfloat16": 989.4e12},
}
PEERS = ("lax", "lax NHWC", "flax.linen.Conv", "flax.nnx.Conv", "equinox.nn.Conv2d",
         "torch.nn.Conv2d")


def _peak(device_kind: str, dtype: str) -> float | None:
    for name, peaks in PEAKS.items():
        if name in device_kind:
            return peaks.get(dtype)
    return None


# --- entries: (apply(params, x), params, x) in each library's own layout --------------


def _jax_entries(case: Case, n: int, dtype, impls, with_module: bool) -> dict[str, tuple]:
    from flax import linen, nnx

    s, p, g, k = case.stride, case.pad, case.groups, case.k
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (n, case.ci, case.side, case.side), dtype)
    w = (jax.random.normal(kw, (case.co, case.ci // g, k, k), dtype)
         / np.sqrt(case.ci // g * k * k)).astype(dtype)
    x_nhwc, w_hwio = jnp.transpose(x, (0, 2, 3, 1)), jnp.transpose(w, (2, 3, 1, 0))
    pads = ((p, p), (p, p))

    def lax_apply(dims):
        return lambda w, x: lax.conv_general_dilated(
            x, w, (s, s), pads, dimension_numbers=dims, feature_group_count=g)

    out: dict[str, tuple] = {
        "lax": (lax_apply(("NCHW", "OIHW", "NCHW")), w, x),
        "lax NHWC": (lax_apply(("NHWC", "HWIO", "NHWC")), w_hwio, x_nhwc),
    }
    conv = linen.Conv(case.co, (k, k), strides=s, padding=p, feature_group_count=g,
                      use_bias=False, dtype=dtype, param_dtype=dtype)
    out["flax.linen.Conv"] = (conv.apply, conv.init(jax.random.key(0), x_nhwc), x_nhwc)
    out["flax.nnx.Conv"] = _nnx(nnx.Conv(case.ci, case.co, (k, k), strides=s, padding=p,
                                         feature_group_count=g, use_bias=False, dtype=dtype,
                                         param_dtype=dtype, rngs=nnx.Rngs(0)), x_nhwc)
    try:
        import equinox as eqx
    except ImportError:
        pass
    else:
        model = eqx.nn.Conv2d(case.ci, case.co, k, stride=s, padding=p, groups=g,
                              use_bias=False, dtype=dtype, key=jax.random.key(0))
        out["equinox.nn.Conv2d"] = (lambda m, x: jax.vmap(m)(x), model, x)
    for impl in impls:
        out[f"jaxconv {impl}"] = (
            lambda w, x, impl=impl: _conv2d.conv2d(x, w, stride=s, padding=p, groups=g,
                                                   impl=impl), w, x)
    if with_module:
        from ... import nn

        for fmt, arr in (("NCHW", x), ("NHWC", x_nhwc)):
            name = "jaxconv.nn.Conv2d" + (" NHWC" if fmt == "NHWC" else "")
            out[name] = _nnx(nn.Conv2d(case.ci, case.co, k, stride=s, padding=p, groups=g,
                                       bias=False, data_format=fmt, dtype=dtype,
                                       param_dtype=dtype, rngs=nnx.Rngs(0)), arr)
    return out


def _nnx(module, x):
    from flax import nnx

    graphdef, state = nnx.split(module)
    return (lambda state, x: nnx.merge(graphdef, state)(x)), state, x


def _loss_grads(apply: Callable) -> Callable:
    """Gradients of a loss that needs the output (a linear loss would let XLA drop the
    forward convolution): one forward and two backward convolutions."""
    return jax.grad(lambda p, x: 0.5 * jnp.sum(apply(p, x).astype(jnp.float32) ** 2),
                    argnums=(0, 1))


def _compile(apply, params, x, mode: str):
    fn = apply if mode == "fwd" else _loss_grads(apply)
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(params, x).compile()
    compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    temp = getattr(mem, "temp_size_in_bytes", None) if mem is not None else None
    return (lambda: jax.block_until_ready(compiled(params, x))), compile_s, temp


def _torch_entry(case: Case, n: int, dtype: str, mode: str, on_gpu: bool):
    try:
        import torch
    except ImportError:
        return None
    device = "cuda" if on_gpu and torch.cuda.is_available() else "cpu"
    if on_gpu and device == "cpu":
        return None  # a CPU torch next to a GPU JAX would not be a comparison
    tdtype = getattr(torch, dtype)
    layer = torch.nn.Conv2d(case.ci, case.co, case.k, stride=case.stride, padding=case.pad,
                            groups=case.groups, bias=False).to(device=device, dtype=tdtype)
    x = torch.randn(n, case.ci, case.side, case.side, device=device, dtype=tdtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def fwd():
        with torch.no_grad():
            layer(x)
        sync()

    def fwd_bwd():
        xg = x.detach().requires_grad_(True)
        layer.weight.grad = None
        y = layer(xg).float()
        (0.5 * (y * y).sum()).backward()
        sync()

    return fwd if mode == "fwd" else fwd_bwd


def time_interleaved(runs: dict[str, Callable[[], Any]], reps: int, warmup: int = 1
                     ) -> dict[str, float]:
    """Median seconds per call of each zero-argument callable, run in turns (a, b, c, a,
    b, c, ...) so that machine noise hits all alike. Each must block until done."""
    for fn in runs.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def _plan_of(case: Case, n: int, impl: str, dtype: str) -> str:
    if impl == "reference":
        return "reference"
    params = ConvParams((case.stride,) * 2, ((case.pad,) * 2,) * 2, (1, 1))
    plan = resolve(impl, (n, case.ci, case.side, case.side),
                   (case.co, case.ci // case.groups, case.k, case.k), params, case.groups,
                   np.dtype(dtype))
    return "/".join(plan)


def run(cases=SUITE, *, dtypes=None, reps: int = 5, impls=None, module: bool = True,
        torch: bool = True, progress: Callable[[str], None] | None = None) -> dict:
    """Runs the benchmark and returns its results (the ``--json`` document)."""
    backend = jax.default_backend()
    on_gpu = backend == "gpu"
    device_kind = jax.devices()[0].device_kind
    dtypes = dtypes or (["float32", "bfloat16"] if on_gpu else ["float32"])
    impls = impls or [i for i in IMPLS if i != "reference"]
    rows = []
    for dtype in dtypes:
        for case in cases:
            n = case.n_gpu if on_gpu else case.n_cpu
            entries = _jax_entries(case, n, jnp.dtype(dtype), impls, module)
            for mode in ("fwd", "fwd+bwd"):
                if progress:
                    progress(f"{dtype} {case.name} {mode}")
                runs, info = {}, {}
                for name, (apply, params, x) in entries.items():
                    runs[name], compile_s, temp = _compile(apply, params, x, mode)
                    info[name] = {"compile_s": compile_s, "temp_bytes": temp}
                medians = time_interleaved(runs, reps)
                t = _torch_entry(case, n, dtype, mode, on_gpu) if torch else None
                if t is not None:  # timed on its own: torch's CPU threads spin after each
                    # call and would slow whichever JAX entry ran next in an interleaving
                    medians.update(time_interleaved({"torch.nn.Conv2d": t}, reps))
                    info["torch.nn.Conv2d"] = {"compile_s": None, "temp_bytes": None}
                rows += _rows(case, n, dtype, mode, medians, info, device_kind)
    return {
        "device": device_kind, "backend": backend, "jax": jax.__version__,
        "machine": _platform.processor() or _platform.machine(), "cpus": _cpu_count(),
        "date": time.strftime("%Y-%m-%d"), "reps": reps, "rows": rows,
        "summary": summarize(rows),
    }


def _cpu_count() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _rows(case, n, dtype, mode, medians, info, device_kind) -> list[dict]:
    work = case.flops(n) * (1 if mode == "fwd" else 3)
    peers = [v for k, v in medians.items() if k in PEERS]
    best_peer = min(peers)
    peak = _peak(device_kind, dtype)
    rows = []
    for name, t in medians.items():
        impl = (name.split(" ", 1)[1] if name.startswith("jaxconv ")
                else "auto" if name.startswith("jaxconv.nn") else None)
        rows.append({
            "case": case.key, "shape": case.name, "n": n, "dtype": dtype, "mode": mode,
            "entry": name, "median_ms": t * 1e3,
            "ratio_to_lax": t / medians["lax"], "ratio_to_best_peer": t / best_peer,
            "gflops": work / t / 1e9, "peak_share": work / t / peak if peak else None,
            "compile_s": info[name]["compile_s"], "temp_mib": (
                info[name]["temp_bytes"] / 2 ** 20 if info[name]["temp_bytes"] is not None
                else None),
            "plan": _plan_of(case, n, impl, dtype) if impl else None,
        })
    return rows


def summarize(rows: list[dict]) -> dict:
    """Median over the suite of ``jaxconv auto``'s time ratio to each peer."""
    out = {}
    auto = {(r["dtype"], r["case"], r["mode"]): r["median_ms"] for r in rows
            if r["entry"] == "jaxconv auto"}
    for peer in PEERS:
        ratios = [auto[key] / r["median_ms"] for r in rows if r["entry"] == peer
                  for key in [(r["dtype"], r["case"], r["mode"])] if key in auto]
        if ratios:
            out[peer] = {"median_ratio": statistics.median(ratios), "max_ratio": max(ratios),
                         "cases": len(ratios)}
    return out


def _table(result: dict):
    from rich.table import Table

    table = Table(title=f"{result['device']} ({result['backend']}), jax {result['jax']}, "
                        f"{result['date']}, median of {result['reps']}")
    for col in ("case", "n", "dtype", "pass", "entry", "ms", "x lax", "x best peer",
                "GFLOP/s", "% peak", "compile s", "temp MiB", "plan fwd/dx/dw"):
        table.add_column(col, justify="left" if col in ("case", "entry", "pass", "plan fwd/dx/dw")
                         else "right", no_wrap=True)
    last = None
    for r in result["rows"]:
        group = (r["dtype"], r["case"], r["mode"])
        if last is not None and group != last:
            table.add_section()
        last = group
        table.add_row(
            r["case"], str(r["n"]), r["dtype"], r["mode"], r["entry"], f"{r['median_ms']:.2f}",
            f"{r['ratio_to_lax']:.2f}", f"{r['ratio_to_best_peer']:.2f}", f"{r['gflops']:.1f}",
            "-" if r["peak_share"] is None else f"{100 * r['peak_share']:.1f}",
            "-" if r["compile_s"] is None else f"{r['compile_s']:.2f}",
            "-" if r["temp_mib"] is None else f"{r['temp_mib']:.1f}",
            r["plan"] or "",
        )
    return table


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(
        prog="python -m jaxconv.bench", description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m jaxconv.bench --quick\n"
               "  python -m jaxconv.bench --json bench.json")
    keys = [c.key for c in SUITE]
    p.add_argument("--quick", action="store_true",
                   help="half the batch and 3 repetitions (about 2 minutes on 2 CPU cores)")
    p.add_argument("--tiny", action="store_true",
                   help="scaled-down shapes, 2 repetitions: checks the harness, not speed")
    p.add_argument("--reps", type=_positive, default=None,
                   help="timed repetitions (default 7)")
    p.add_argument("--cases", nargs="+", choices=keys, metavar="CASE",
                   help=f"a subset of the suite: {' '.join(keys)}")
    p.add_argument("--dtype", nargs="+", choices=["float32", "bfloat16", "float16"],
                   help="default: float32 on CPU, float32 and bfloat16 on GPU")
    p.add_argument("--reference", action="store_true",
                   help="also time impl='reference' (the literal, 10-170x slower lowering)")
    p.add_argument("--no-torch", action="store_true", help="leave torch out")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p


def main(argv=None) -> int:
    """``python -m jaxconv.bench [options]``: 0 on success, 1 with a one-line error."""
    try:
        report(build_parser().parse_args(argv))
    except ValueError as err:
        print(f"jaxconv bench: error: {err}", file=sys.stderr)
        return 1
    return 0


def report(args: argparse.Namespace) -> dict:
    """Runs the benchmark for parsed options, prints the table, writes ``--json``.

    Raises ``ValueError`` if the JSON file cannot be written.
    """
    from rich.console import Console
    from rich.progress import Progress

    if args.json:
        try:  # fail before the run, not after it
            open(args.json, "a").close()
        except OSError as err:
            raise ValueError(f"cannot write {args.json}: {err.strerror or err}") from None

    cases = TINY if args.tiny else SUITE
    if args.quick:
        cases = tuple(dataclasses.replace(c, n_cpu=max(c.n_cpu // 2, 1),
                                          n_gpu=max(c.n_gpu // 2, 1)) for c in cases)
    if args.cases:
        cases = tuple(c for c in cases if c.key in args.cases)
    reps = args.reps or (2 if args.tiny else 3 if args.quick else 7)
    impls = [i for i in IMPLS if i != "reference" or args.reference]
    console = Console(width=None if sys.stdout.isatty() else 160)
    steps = len(cases) * 2 * len(args.dtype or (["f32", "bf16"] if jax.default_backend() ==
                                                "gpu" else ["f32"]))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("benchmarking", total=steps)
        result = run(cases, dtypes=args.dtype, reps=reps, impls=impls,
                     torch=not args.no_torch,
                     progress=lambda label: bar.update(task, description=label, advance=1))
    for case in cases:
        console.print(f"{case.key}: {case.name}", highlight=False)
    console.print(_table(result))
    for peer, s in result["summary"].items():
        console.print(f"jaxconv auto / {peer}: median x{s['median_ratio']:.2f}, "
                      f"worst x{s['max_ratio']:.2f} over {s['cases']} cases "
                      f"(below 1 = jaxconv faster)")
    if args.json:
        try:
            with open(args.json, "w") as fh:
                json.dump(result, fh, indent=1)
        except OSError as err:
            raise ValueError(f"cannot write {args.json}: {err.strerror or err}") from None
        console.print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    sys.exit(main())
