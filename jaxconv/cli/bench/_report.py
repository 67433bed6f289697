"""``jaxconv bench``: jaxconv against every peer on one shape suite, in one run.

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
compile of a shape also pays cuDNN autotuning. ``--compiles N`` compiles every JAX entry
N times, each from cleared caches, and times all the compiled programs in the same turns:
two compiles of one program can run at different speeds (on a 2-core Zen 4 EPYC one
layer's forward pass read 26 and 38 ms; BENCHMARKS.md), so the median over the compiles
is reported, and each compile's median in the JSON (``median_ms_runs``).

Examples::

  python -m jaxconv bench --quick
  python -m jaxconv bench --json bench.json
  jaxconv bench --cases stem depthwise --dtype bfloat16
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform as _platform
import statistics
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from ...lowering import choose_plan, lowerings
from .._args import one_line, positive_int
from ._models import MODELS
from ._networks import network_table, run_networks
from ._peers import jax_entries, torch_entry
from ._suite import PEERS, SUITE, TINY, Case, peak
from ._timing import compile_entry, time_interleaved


def _plan_of(case: Case, n: int, impl: str, dtype: str) -> str:
    if impl == "reference":
        return "reference"
    plan = choose_plan(
        (n, case.ci, case.side, case.side),
        (case.co, case.ci // case.groups, case.k, case.k),
        stride=case.stride,
        padding=case.pad,
        groups=case.groups,
        dtype=dtype,
        impl=impl,
    )
    return "/".join(plan)


def default_impls(platform: str, reference: bool = False, autotune: bool = True) -> list[str]:
    """Every registered lowering that runs here, ``"auto"`` and ``"autotune"`` first (and
    ``"reference"``). ``"autotune"``'s compile time includes its timing of the lowerings."""
    names = [n for n, rec in lowerings().items() if rec.supports("forward", platform)]
    first = ["auto", "autotune"] if autotune else ["auto"]
    return [*first, *names] + (["reference"] if reference else [])


def run(
    cases=SUITE,
    *,
    dtypes=None,
    reps: int = 5,
    compiles: int = 1,
    impls=None,
    module: bool = True,
    torch: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Runs the benchmark and returns its results (the ``--json`` document).

    ``compiles``: how many times each JAX entry is compiled (module notes)."""
    if compiles < 1:
        raise ValueError(f"run: `compiles` (={compiles}) must be at least 1")
    backend = jax.default_backend()
    on_gpu = backend == "gpu"
    device_kind = jax.devices()[0].device_kind
    dtypes = dtypes or (["float32", "bfloat16"] if on_gpu else ["float32"])
    impls = impls or default_impls(backend)
    rows: list[dict] = []
    failures: list[dict] = []
    for dtype in dtypes:
        for case in cases:
            n = case.n_gpu if on_gpu else case.n_cpu
            entries = jax_entries(case, n, jnp.dtype(dtype), impls, module)
            for mode in ("fwd", "fwd+bwd"):
                if progress:
                    progress(f"{dtype} {case.name} {mode}")
                where = {"case": case.key, "dtype": dtype, "mode": mode}
                runs, info = _compiled(entries, mode, compiles, where, failures)
                each = _timed(runs, reps)
                try:
                    t = torch_entry(case, n, dtype, mode, on_gpu) if torch else None
                    if t is not None:  # timed on its own: torch's CPU threads spin after
                        # each call and would slow whichever JAX entry ran next
                        each.update(_timed({"torch.nn.Conv2d": [t]}, reps))
                        info["torch.nn.Conv2d"] = {"compile_s": None, "temp_bytes": None}
                except Exception as err:
                    failures.append({**where, "entry": "torch.nn.Conv2d", "error": one_line(err)})
                rows += _rows(case, n, dtype, mode, each, info, device_kind)
    return {**_machine(reps), "rows": rows, "failures": failures, "summary": summarize(rows)}


def _compiled(entries: dict, mode: str, compiles: int, where: dict, failures: list[dict]):
    """``(runs, info)``: for each entry that compiled and ran, a runner per compile and
    its median compile seconds and temp bytes. Each compile starts from cleared caches
    where there are several; a failing entry is reported (with ``where``), not fatal."""
    runs: dict[str, list[Callable[[], object]]] = {}
    info: dict[str, dict] = {}
    for round_ in range(compiles):
        for name, (apply, params, x) in entries.items():
            if round_ and name not in runs:  # failed in an earlier round
                continue
            if compiles > 1:
                jax.clear_caches()  # this compile traces and compiles from scratch
            try:  # compiled and run once here
                run_, compile_s, temp = compile_entry(apply, params, x, mode)
                run_()
            except Exception as err:
                runs.pop(name, None)
                info.pop(name, None)
                failures.append({**where, "entry": name, "error": one_line(err)})
                continue
            runs.setdefault(name, []).append(run_)
            info.setdefault(name, {"compile_s_runs": []})["compile_s_runs"].append(compile_s)
            info[name]["temp_bytes"] = temp
    for entry in info.values():
        entry["compile_s"] = statistics.median(entry["compile_s_runs"])
    return runs, info


def _timed(runs: dict[str, list[Callable[[], object]]], reps: int) -> dict[str, list[float]]:
    """Each entry's median seconds per call of each of its compiled programs, all timed
    in the same turns (``time_interleaved``)."""
    flat = {f"{name} #{k}": fn for name, fns in runs.items() for k, fn in enumerate(fns)}
    medians = time_interleaved(flat, reps)
    return {name: [medians[f"{name} #{k}"] for k in range(len(fns))] for name, fns in runs.items()}


def _machine(reps: int) -> dict:
    """What a result was measured on (the head of its JSON document)."""
    return {
        "device": jax.devices()[0].device_kind,
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "machine": _platform.processor() or _platform.machine(),
        "cpus": _cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "reps": reps,
    }


def _cpu_count() -> int | None:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _rows(case, n, dtype, mode, each, info, device_kind) -> list[dict]:
    """The rows of one case and pass; ``each``: every entry's seconds per call, one per
    compile (reported by their median)."""
    medians = {name: statistics.median(times) for name, times in each.items()}
    work = case.flops(n) * (1 if mode == "fwd" else 3)
    peers = [v for k, v in medians.items() if k in PEERS]
    best_peer = min(peers) if peers else None  # every peer may have failed
    lax_t = medians.get("lax")
    device_peak = peak(device_kind, dtype)
    rows = []
    for name, t in medians.items():
        impl = (
            name.split(" ", 1)[1]
            if name.startswith("jaxconv ")
            else "auto"
            if name.startswith("jaxconv.nn")
            else None
        )
        rows.append(
            {
                "case": case.key,
                "shape": case.name,
                "n": n,
                "dtype": dtype,
                "mode": mode,
                "entry": name,
                "median_ms": t * 1e3,
                "median_ms_runs": [each_t * 1e3 for each_t in each[name]],
                "ratio_to_lax": t / lax_t if lax_t else None,
                "ratio_to_best_peer": t / best_peer if best_peer else None,
                "gflops": work / t / 1e9,
                "peak_share": work / t / device_peak if device_peak else None,
                "compile_s": info[name]["compile_s"],
                "temp_mib": (
                    info[name]["temp_bytes"] / 2**20
                    if info[name]["temp_bytes"] is not None
                    else None
                ),
                "plan": _plan_of(case, n, impl, dtype) if impl else None,
            }
        )
    return rows


def summarize(rows: list[dict]) -> dict:
    """Median over the suite of ``jaxconv auto``'s time ratio to each peer."""
    out = {}
    auto = {
        (r["dtype"], r["case"], r["mode"]): r["median_ms"]
        for r in rows
        if r["entry"] == "jaxconv auto"
    }
    for peer in PEERS:
        ratios = [
            auto[key] / r["median_ms"]
            for r in rows
            if r["entry"] == peer
            for key in [(r["dtype"], r["case"], r["mode"])]
            if key in auto
        ]
        if ratios:
            out[peer] = {
                "median_ratio": statistics.median(ratios),
                "max_ratio": max(ratios),
                "cases": len(ratios),
            }
    return out


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _table(result: dict):
    from rich.table import Table

    table = Table(
        title=f"{result['device']} ({result['backend']}), jax {result['jax']}, "
        f"{result['date']}, median of {result['reps']}"
    )
    for col in (
        "case",
        "n",
        "dtype",
        "pass",
        "entry",
        "ms",
        "x lax",
        "x best peer",
        "GFLOP/s",
        "% peak",
        "compile s",
        "temp MiB",
        "plan fwd/dx/dw",
    ):
        table.add_column(
            col,
            justify="left" if col in ("case", "entry", "pass", "plan fwd/dx/dw") else "right",
            no_wrap=True,
        )
    last = None
    for r in result["rows"]:
        group = (r["dtype"], r["case"], r["mode"])
        if last is not None and group != last:
            table.add_section()
        last = group
        table.add_row(
            r["case"],
            str(r["n"]),
            r["dtype"],
            r["mode"],
            r["entry"],
            f"{r['median_ms']:.2f}",
            _fmt(r["ratio_to_lax"], ".2f"),
            _fmt(r["ratio_to_best_peer"], ".2f"),
            f"{r['gflops']:.1f}",
            "-" if r["peak_share"] is None else f"{100 * r['peak_share']:.1f}",
            "-" if r["compile_s"] is None else f"{r['compile_s']:.2f}",
            "-" if r["temp_mib"] is None else f"{r['temp_mib']:.1f}",
            r["plan"] or "",
        )
    return table


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(
        prog="python -m jaxconv.cli.bench",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m jaxconv.cli.bench --quick\n"
        "  python -m jaxconv.cli.bench --json bench.json",
    )
    keys = [c.key for c in SUITE]
    p.add_argument(
        "--quick",
        action="store_true",
        help="half the batch and 3 repetitions (about 5 minutes on 2 CPU cores, 3 with "
        "--no-autotune)",
    )
    p.add_argument(
        "--tiny",
        action="store_true",
        help="scaled-down shapes (with --model: narrow networks, batch 2), 2 repetitions: "
        "checks the harness, not speed",
    )
    p.add_argument("--reps", type=positive_int, default=None, help="timed repetitions (default 7)")
    p.add_argument(
        "--cases",
        nargs="+",
        choices=keys,
        metavar="CASE",
        help=f"a subset of the suite: {' '.join(keys)}",
    )
    p.add_argument(
        "--dtype",
        nargs="+",
        choices=["float32", "bfloat16", "float16"],
        help="default: float32 on CPU, float32 and bfloat16 on GPU; with --model float32, "
        "each given computed from float32 parameters (mixed precision)",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="also time impl='reference' (the literal, 10-170x slower lowering)",
    )
    p.add_argument(
        "--model",
        nargs="+",
        choices=sorted(MODELS),
        help="time one training step of whole networks instead of the layer suite",
    )
    p.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        help="--model's batch (default 32 on a CPU, 128 on a GPU)",
    )
    p.add_argument(
        "--compiles",
        type=positive_int,
        default=None,
        help="rounds of compiling each JAX entry, median reported (--model: default 3, "
        "1 with --quick or --tiny; the layer suite: default 1)",
    )
    p.add_argument(
        "--batchnorm",
        action="store_true",
        help="--model's networks with batch normalisation (training mode) after every convolution",
    )
    p.add_argument("--no-torch", action="store_true", help="leave torch out")
    p.add_argument(
        "--no-autotune",
        action="store_true",
        help="leave impl='autotune' out (it times every lowering of each new shape first)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p


def main(argv=None) -> int:
    """``python -m jaxconv.cli.bench [options]``: 0 on success, 1 with a one-line error
    (a bad argument, or entries that failed: reported, the rest still timed)."""
    try:
        failed(report(build_parser().parse_args(argv)))
    except ValueError as err:
        print(f"jaxconv bench: error: {err}", file=sys.stderr)
        return 1
    return 0


def failed(result: dict) -> None:
    """Raises ``ValueError`` naming the failed entries of a finished run, if any."""
    if result["failures"]:
        names = sorted({f["entry"] for f in result["failures"]})
        raise ValueError(
            f"{len(result['failures'])} entries failed ({', '.join(names)}); "
            f"the others were timed, see FAILED above"
        )


def _refuse(args: argparse.Namespace, options: tuple[str, ...], belongs_to: str) -> None:
    """One ``ValueError`` naming every given option of ``options``, which apply to
    ``belongs_to`` only."""
    given = [f"--{k.replace('_', '-')}" for k in options if getattr(args, k)]
    if given:
        verb = "apply" if len(given) > 1 else "applies"
        raise ValueError(f"{', '.join(given)} {verb} to {belongs_to}")


def report(args: argparse.Namespace) -> dict:
    """Runs the benchmark for parsed options, prints the table, writes ``--json``.

    Raises ``ValueError`` if the JSON file cannot be written.
    """
    from rich.console import Console

    if args.model:
        _refuse(
            args,
            ("cases", "reference"),
            "the layer suite; --model times training steps of whole networks",
        )
    else:
        _refuse(
            args,
            ("batch", "batchnorm"),
            "--model; the layer suite times single layers, at batches of its own",
        )
    if args.json:
        try:  # fail before the run, not after it
            open(args.json, "a").close()
        except OSError as err:
            raise ValueError(f"cannot write {args.json}: {err.strerror or err}") from None

    console = Console(width=None if sys.stdout.isatty() else 160)
    result = _networks(args, console) if args.model else _layers(args, console)
    for f in result["failures"]:
        where = " ".join(str(f[k]) for k in ("model", "case", "dtype", "mode") if k in f)
        console.print(f"FAILED {where} {f['entry']}: {f['error']}", highlight=False, markup=False)
    if args.json:
        try:
            with open(args.json, "w") as fh:
                json.dump(result, fh, indent=1)
        except OSError as err:
            raise ValueError(f"cannot write {args.json}: {err.strerror or err}") from None
        console.print(f"wrote {args.json}")
    return result


def _networks(args: argparse.Namespace, console) -> dict:
    """``--model``: whole-network training steps (``_networks.py``)."""
    from rich.progress import Progress

    reps = args.reps or (2 if args.tiny else 3 if args.quick else 7)
    dtypes = args.dtype or ["float32"]
    rows: list[dict] = []
    failures: list[dict] = []
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("benchmarking", total=len(args.model) * len(dtypes))
        for dtype in dtypes:
            more_rows, more_failures = run_networks(
                args.model,
                batch=args.batch,
                reps=reps,
                compiles=args.compiles or (1 if args.tiny or args.quick else 3),
                tiny=args.tiny,
                norm=args.batchnorm,
                dtype=dtype,
                torch=not args.no_torch,
                autotune=not args.no_autotune,
                progress=lambda label: bar.update(task, description=label, advance=1),
            )
            rows += more_rows
            failures += more_failures
    result = {**_machine(reps), "rows": rows, "failures": failures}
    console.print(network_table(result))
    return result


def _layers(args: argparse.Namespace, console) -> dict:
    """The single-layer suite."""
    from rich.progress import Progress

    cases: tuple[Case, ...] = TINY if args.tiny else SUITE
    if args.quick:
        cases = tuple(
            dataclasses.replace(c, n_cpu=max(c.n_cpu // 2, 1), n_gpu=max(c.n_gpu // 2, 1))
            for c in cases
        )
    if args.cases:
        cases = tuple(c for c in cases if c.key in args.cases)
    reps = args.reps or (2 if args.tiny else 3 if args.quick else 7)
    impls = default_impls(jax.default_backend(), args.reference, not args.no_autotune)
    steps = (
        len(cases)
        * 2
        * len(args.dtype or (["f32", "bf16"] if jax.default_backend() == "gpu" else ["f32"]))
    )
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("benchmarking", total=steps)
        result = run(
            cases,
            dtypes=args.dtype,
            reps=reps,
            compiles=args.compiles or 1,
            impls=impls,
            torch=not args.no_torch,
            progress=lambda label: bar.update(task, description=label, advance=1),
        )
    for case in cases:
        console.print(f"{case.key}: {case.name}", highlight=False)
    for name in impls:
        if name in lowerings():
            console.print(f"jaxconv {name}: {lowerings()[name].description}", highlight=False)
    console.print(_table(result))
    for peer, s in result["summary"].items():
        console.print(
            f"jaxconv auto / {peer}: median x{s['median_ratio']:.2f}, "
            f"worst x{s['max_ratio']:.2f} over {s['cases']} cases "
            f"(below 1 = jaxconv faster)"
        )
    return result


if __name__ == "__main__":
    sys.exit(main())
