"""The ``jaxconv`` command: ``demo``, ``flops``, ``show`` and ``bench``.

Bad arguments give one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time

from .._extras import require
from ._args import bounded_int, one_line, positive_int

MAX_DPI = 600  # a 5 x 11 inch figure: 6.6 x 3.3 kpixels at 600 dpi
LESSON_CPU = 0.15e12  # the lesson's assumed rates, in operations per second
LESSON_GPU = 12e12


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Fail(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.2f} s"


def cmd_demo(args) -> None:
    from ._demo import main

    main()


def _memory_bytes() -> int:
    """Physical memory of this machine (Linux, macOS), or 16 GiB where unknown."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def _measure_rate(args) -> float:
    """FLOP/s of jaxconv.conv2d on this machine for the layer, with a progress bar."""
    import jax
    import jax.numpy as jnp
    from rich.progress import Progress

    import jaxconv

    size = args.out_size + args.kernel - 1
    elements = args.batch * (
        args.in_channels * size**2
        + args.out_channels * args.out_size**2
        + args.out_channels * args.in_channels // args.groups * args.kernel**2
    )
    need, have = 4 * elements, _memory_bytes()
    if need > have // 2:  # refuse before allocating rather than die in XLA
        raise _Fail(
            f"--measure: the layer's arrays need {need / 2**30:.3g} GiB, more than half of "
            f"this machine's {have / 2**30:.3g} GiB; lower --batch, the channels or --out-size"
        )
    x = jnp.ones((args.batch, args.in_channels, size, size), jnp.float32)
    w = jnp.ones(
        (args.out_channels, args.in_channels // args.groups, args.kernel, args.kernel), jnp.float32
    )
    f = jax.jit(lambda x, w: jaxconv.conv2d(x, w, groups=args.groups))
    runs = 5
    with Progress(transient=True) as bar:
        task = bar.add_task("compiling and measuring", total=runs + 1)
        f(x, w).block_until_ready()
        bar.advance(task)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            f(x, w).block_until_ready()
            times.append(time.perf_counter() - t0)
            bar.advance(task)
    work = jaxconv.flops(
        args.in_channels,
        args.out_channels,
        args.kernel,
        args.out_size,
        groups=args.groups,
        batch=args.batch,
    ).flops
    return work / sorted(times)[len(times) // 2]


def cmd_flops(args) -> None:
    from rich.console import Console
    from rich.table import Table

    import jaxconv

    try:  # the library's own checks, with its message
        per = jaxconv.flops(
            args.in_channels, args.out_channels, args.kernel, args.out_size, groups=args.groups
        )
    except ValueError as err:
        raise _Fail(str(err)) from None
    total_macs = per.multiply_adds * args.layers * args.samples
    rate = _measure_rate(args) if args.measure else None  # may fail: before any output
    console = Console(width=100)
    console.print(
        f"Layer: {args.in_channels} -> {args.out_channels} channels, "
        f"{args.kernel}x{args.kernel} kernel, {args.out_size}x{args.out_size} output"
        f"{f', groups {args.groups}' if args.groups > 1 else ''}; "
        f"{args.layers} layers x {args.samples:,} samples."
    )
    console.print(
        "Cost = ci/groups * co * kh * kw * mh * mw multiply-adds; 1 multiply-add = 2 FLOPs.",
        soft_wrap=True,
    )
    console.print("The lesson's '1 GFLOP' counts multiply-adds.", soft_wrap=True)
    counts = Table(title="Work")
    for col in ("", "multiply-adds", "FLOPs"):
        counts.add_column(col, justify="right")
    counts.add_row("per sample, one layer", f"{per.multiply_adds:,}", f"{per.flops:,}")
    counts.add_row(
        f"per sample, {args.layers} layers",
        f"{per.multiply_adds * args.layers:,}",
        f"{per.flops * args.layers:,}",
    )
    counts.add_row("in total", f"{total_macs:.3e}", f"{2 * total_macs:.3e}")
    console.print(counts)
    rates = [("lesson's CPU, 0.15 T/s", LESSON_CPU), ("lesson's GPU, 12 T/s", LESSON_GPU)]
    times = Table(title="Time for the whole job")
    for col in ("rate", "if the rate counts multiply-adds (lesson)", "if it counts FLOPs"):
        times.add_column(col, justify="right")
    for label, rate in rates:  # an assumed rate "T/s" can be read either way
        times.add_row(label, _duration(total_macs / rate), _duration(2 * total_macs / rate))
    if rate is not None:  # a measured rate is in FLOP/s: one reading only
        t = _duration(2 * total_macs / rate)
        times.add_row(f"this machine, measured {rate / 1e9:.1f} GFLOP/s", t, t)
    console.print(times)


def _figure_path(out: str) -> str:
    """The file ``show`` writes for ``--out``: a directory gets the default name, a name
    without a suffix gets ``.png``; any other suffix must be a format matplotlib writes."""
    import os

    from matplotlib.figure import Figure

    if out.endswith(os.sep) or os.path.isdir(out):
        out = os.path.join(out, "jaxconv-channels.png")
    root, ext = os.path.splitext(out)
    if not ext:
        return root + ".png"
    formats = Figure().canvas.get_supported_filetypes()
    if ext[1:].lower() not in formats:
        raise _Fail(
            f"cannot write {out}: unknown image format {ext!r}; use one of "
            f"{', '.join('.' + f for f in sorted(formats))}"
        )
    return out


def cmd_show(args) -> None:
    from . import _show

    out = _figure_path(args.out)
    names = [n.strip() for n in args.kernels.split(",") if n.strip()]
    try:
        _show.kernel_stack(names)
        X = _show.load_rgb(args.image)
    except ValueError as err:
        raise _Fail(str(err)) from None
    try:
        _show.render(X, names, out, dpi=args.dpi)
    except OSError as err:
        raise _Fail(f"cannot write {out}: {err.strerror or err}") from None
    h, w = X.shape[1:]
    print(
        f"wrote {out}: the RGB channels of a {h}x{w} image and {len(names)} output "
        f"channels ({', '.join(names)}), each as 3 per-channel terms and their sum"
    )


def cmd_bench(args) -> None:
    from . import bench

    try:  # failed entries are reported and the rest timed, then the exit status is 1
        bench.failed(bench.report(args))
    except ValueError as err:
        raise _Fail(str(err)) from None


def _bench_args(p) -> None:
    from . import bench  # light: flax, equinox and torch load only when it runs

    bench.build_parser(p)


def build_parser() -> argparse.ArgumentParser:
    from ._show import DEFAULT_KERNELS, KERNELS

    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="jaxconv",
        description="Multi-input / multi-output channel convolution, the lesson made runnable.",
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser(
        "demo",
        help="walk through the lesson with live numbers",
        description="Walk through the lesson: the multi-input sum, the 3-kernel "
        "stack, the 1x1 identity, shapes, and which vmap does what.",
        epilog="example:\n  jaxconv demo",
        formatter_class=fmt,
    )
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser(
        "flops",
        help="the lesson's cost model as a table",
        description="Multiply-adds, FLOPs and time of a stack of identical convolution layers.",
        formatter_class=fmt,
        epilog="example (the lesson's estimate):\n  jaxconv flops --in-channels "
        "100 --out-channels 100 --kernel 5 --out-size 64 --layers 10 "
        "--samples 1000000 --measure",
    )
    p.add_argument("--in-channels", type=positive_int, required=True, help="ci")
    p.add_argument("--out-channels", type=positive_int, required=True, help="co")
    p.add_argument("--kernel", type=positive_int, required=True, help="kernel side k (k x k)")
    p.add_argument("--out-size", type=positive_int, required=True, help="output side m (m x m)")
    p.add_argument("--groups", type=positive_int, default=1)
    p.add_argument("--layers", type=positive_int, default=10, help="default 10")
    p.add_argument("--samples", type=positive_int, default=1_000_000, help="default 1000000")
    p.add_argument(
        "--measure",
        action="store_true",
        help="time a short jaxconv run of the layer here and add its rate",
    )
    p.add_argument("--batch", type=positive_int, default=4, help="batch for --measure (default 4)")
    p.set_defaults(run=cmd_flops)

    p = sub.add_parser(
        "show",
        help="draw how RGB channels feed output channels (PNG)",
        description="Write a PNG: the image's R, G, B channels, the named 3-D "
        "kernels, and for each output channel the per-input-channel terms and "
        "their sum.\n\nkernels:\n" + "\n".join(f"  {n:12s} {d}" for n, (d, _) in KERNELS.items()),
        epilog="example:\n  jaxconv show --kernels edge-x,blur,red-green --out channels.png",
        formatter_class=fmt,
    )
    p.add_argument(
        "image",
        nargs="?",
        default=None,
        help="RGB, RGBA or grayscale image file (default: scikit-image's astronaut)",
    )
    p.add_argument(
        "--kernels",
        default=",".join(DEFAULT_KERNELS),
        help=f"comma-separated names (default {','.join(DEFAULT_KERNELS)})",
    )
    p.add_argument(
        "--out",
        default="jaxconv-channels.png",
        help="file to write (PNG unless its suffix names another format; a directory gets "
        "jaxconv-channels.png)",
    )
    p.add_argument("--dpi", type=bounded_int(MAX_DPI), default=100, help=f"1-{MAX_DPI}")
    p.set_defaults(run=cmd_show)

    p = sub.add_parser(
        "bench",
        help="benchmarks against lax, flax, equinox and torch",
        description="Time jaxconv's lowerings and layer against lax, flax, "
        "equinox and torch on the speed suite.",
        epilog="examples:\n  jaxconv bench --quick\n  jaxconv bench --cases "
        "1x1 stem --json bench.json",
        formatter_class=fmt,
    )
    _bench_args(p)
    p.set_defaults(run=cmd_bench)

    p = sub.add_parser(
        "check",
        help="run the property suite on a convolution of your own",
        description="Check MODULE:FUNCTION against lax.conv_general_dilated with "
        "jaxconv.testing.check_conv: named properties on drawn cases, the minimal failing "
        "case on failure (exit status 1).",
        epilog="examples:\n  jaxconv check jaxconv:conv2d\n  jaxconv check "
        "jax.lax:conv_general_dilated --convention lax --max-examples 50",
        formatter_class=fmt,
    )
    p.add_argument("target", metavar="MODULE:FUNCTION", help="an importable function")
    p.add_argument(
        "--convention",
        choices=["torch", "lax", "lesson"],
        default="torch",
        help="the function's signature (default torch)",
    )
    p.add_argument("--max-examples", type=positive_int, default=25, help="default 25")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--no-derivatives", action="store_true", help="skip jvp, vjp, adjoint")
    p.add_argument("--x64", action="store_true", help="float64 (adds check_grads)")
    p.set_defaults(run=cmd_check)
    return parser


def _load(target: str):
    """The function named by ``MODULE:FUNCTION`` (attributes may be dotted)."""
    import importlib

    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise _Fail(f"expected MODULE:FUNCTION, got {target!r}")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as err:
        raise _Fail(f"cannot import {module_name!r}: {err}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise _Fail(f"{module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise _Fail(f"{target} is not callable")
    return obj


def cmd_check(args) -> None:
    import jax

    fn = _load(args.target)
    jax.config.update("jax_enable_x64", args.x64)
    from jaxconv.testing import ConvCheckError, check_conv

    try:
        report = check_conv(
            fn,
            args.convention,
            max_examples=args.max_examples,
            derivatives=not args.no_derivatives,
            seed=args.seed,
        )
    except ConvCheckError as err:
        raise _Fail(f"{args.target} failed:\n{err}") from None
    print(f"{args.target}: {report}")


EXTRA_OF = {"flops": "cli", "show": "cli", "bench": "bench", "check": "testing"}  # demo: none


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in EXTRA_OF:
            try:
                require(f"jaxconv {args.command}", EXTRA_OF[args.command])
            except ImportError as err:
                raise _Fail(str(err)) from None
        args.run(args)
    except _Fail as err:
        print(f"jaxconv {args.command}: error: {err}", file=sys.stderr)
        return 1
    except (MemoryError, OverflowError) as err:
        print(f"jaxconv {args.command}: error: too large: {one_line(err)}", file=sys.stderr)
        return 1
    except Exception as err:
        if "RESOURCE_EXHAUSTED" not in str(err):  # a bug: keep its traceback
            raise
        print(f"jaxconv {args.command}: error: out of memory: {one_line(err)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
