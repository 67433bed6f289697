"""Turns a `python -m jaxconv.cli.bench --json` file into the Markdown tables of BENCHMARKS.md.

  python benchmarks/to_markdown.py bench.json

One table per dtype: rows are (case, pass), columns the entries as time / lax time, with
lax's own time and GFLOP/s (TFLOP/s on a GPU) in the first column.
"""

from __future__ import annotations

import json
import sys

COLUMNS = [
    "lax NHWC",
    "flax.linen.Conv",
    "flax.nnx.Conv",
    "equinox.nn.Conv2d",
    "torch.nn.Conv2d",
    "jaxconv auto",
    "jaxconv xla",
    "jaxconv matmul",
    "jaxconv gemm",
    "jaxconv.nn.Conv2d",
    "jaxconv.nn.Conv2d NHWC",
]


def main(path: str) -> None:
    result = json.load(open(path))
    gpu = result["backend"] == "gpu"
    unit, scale = ("TFLOP/s", 1e3) if gpu else ("GFLOP/s", 1)
    print(
        f"{result['device']} ({result['backend']}), jax {result['jax']}, {result['date']}, "
        f"median of {result['reps']}\n"
    )
    for dtype in dict.fromkeys(r["dtype"] for r in result["rows"]):
        rows = [r for r in result["rows"] if r["dtype"] == dtype]
        present = [c for c in COLUMNS if any(r["entry"] == c for r in rows)]
        print(f"{dtype}: time / lax (NCHW) time; **auto** is `jaxconv.conv2d` (default)\n")
        print(
            "| case | n | pass | lax | "
            + " | ".join(present)
            + " | auto plan | auto temp / lax | auto compile / lax |"
        )
        print("|---" * (7 + len(present)) + "|")
        groups = dict.fromkeys((r["case"], r["mode"]) for r in rows)
        for case, mode in groups:
            d = {r["entry"]: r for r in rows if (r["case"], r["mode"]) == (case, mode)}
            lax, auto = d["lax"], d["jaxconv auto"]
            cells = [
                f"**{d[c]['ratio_to_lax']:.2f}**"
                if c == "jaxconv auto"
                else f"{d[c]['ratio_to_lax']:.2f}"
                for c in present
            ]
            print(
                f"| {case} | {lax['n']} | {mode} | {lax['median_ms']:.2f} ms "
                f"({lax['gflops'] / scale:.0f} {unit}) | "
                + " | ".join(cells)
                + f" | {auto['plan']} | {auto['temp_mib'] / max(lax['temp_mib'], 1e-9):.2f} | "
                f"{auto['compile_s'] / lax['compile_s']:.2f} |"
            )
        print()
    for peer, s in result["summary"].items():
        print(
            f"- auto / {peer}: median {s['median_ratio']:.2f}, worst {s['max_ratio']:.2f} "
            f"({s['cases']} cases)"
        )


if __name__ == "__main__":
    main(sys.argv[1])
