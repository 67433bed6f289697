"""The benchmark harness, run tiny: a well-formed table and JSON (no timing is asserted)."""

import json
import math
import subprocess
import sys

import jax
import pytest

import jaxconv
import jaxconv.lowering
from jaxconv import impls
from jaxconv.cli import bench

CASES = ["1x1", "depthwise"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxconv.cli.bench",
            "--tiny",
            "--cases",
            *CASES,
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text())


def test_json_has_every_entry_for_every_case_and_pass(tiny_run):
    _, result = tiny_run
    assert {"device", "backend", "jax", "date", "reps", "rows", "summary"} <= set(result)
    entries = {
        "lax",
        "lax NHWC",
        "flax.linen.Conv",
        "flax.nnx.Conv",
        "equinox.nn.Conv2d",
        "torch.nn.Conv2d",
        "jaxconv.nn.Conv2d",
        "jaxconv.nn.Conv2d NHWC",
    } | {f"jaxconv {i}" for i in impls() if i != "reference"}
    seen = {}
    for row in result["rows"]:
        seen.setdefault((row["case"], row["mode"]), set()).add(row["entry"])
        assert row["median_ms"] > 0 and math.isfinite(row["gflops"]) and row["gflops"] > 0
        assert row["ratio_to_best_peer"] > 0
        if row["entry"] == "lax":
            assert row["ratio_to_lax"] == 1.0
        if row["entry"].startswith("jaxconv"):
            assert row["temp_mib"] >= 0 and row["compile_s"] > 0
            assert len(row["plan"].split("/")) == 3
        else:
            assert row["plan"] is None
    assert seen == {(c, m): entries for c in CASES for m in ("fwd", "fwd+bwd")}
    # the fastest peer of each case has ratio 1 to itself
    for key in seen:
        ratios = [
            r["ratio_to_best_peer"]
            for r in result["rows"]
            if (r["case"], r["mode"]) == key and r["entry"] in bench.PEERS
        ]
        assert min(ratios) == 1.0
    assert set(result["summary"]) == set(bench.PEERS)


def test_terminal_table_and_summary(tiny_run):
    out, result = tiny_run
    for header in ("x lax", "x best peer", "GFLOP/s", "compile s", "temp MiB", "plan fwd/dx/dw"):
        assert header in out
    for row in result["rows"]:
        assert row["entry"] in out
    assert "jaxconv auto / lax: median x" in out
    assert "wrote" in out


def test_summary_is_the_median_ratio_of_auto_to_each_peer():
    rows = [
        dict(dtype="f", case=c, mode="fwd", entry=e, median_ms=t)
        for c, e, t in [
            ("a", "jaxconv auto", 1.0),
            ("a", "lax", 2.0),
            ("b", "jaxconv auto", 3.0),
            ("b", "lax", 3.0),
            ("c", "jaxconv auto", 1.0),
            ("c", "lax", 4.0),
        ]
    ]
    assert bench.summarize(rows) == {"lax": {"median_ratio": 0.5, "max_ratio": 1.0, "cases": 3}}


def test_a_failing_entry_is_reported_and_the_rest_is_timed(tmp_path, capsys):
    """A lowering that cannot compile (as the matmul gradients on an H100 once did) is
    one FAILED line; the other entries are timed, the JSON is valid, the exit status 1."""

    def broken(x, w, params, groups):
        raise RuntimeError("INTERNAL: RET_CHECK failure (a compiler bug)\nmore lines")

    jaxconv.register_lowering("broken", broken, transposable=True)
    try:
        out = tmp_path / "b.json"
        args = ["--tiny", "--cases", "1x1", "--no-torch", "--json", str(out)]
        with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"):  # a user's config
            assert bench.main(args) == 1
    finally:
        jaxconv.lowering.unregister_lowering("broken")
    result = json.loads(out.read_text())
    failed = {(f["mode"], f["entry"]) for f in result["failures"]}
    assert failed == {("fwd", "jaxconv broken"), ("fwd+bwd", "jaxconv broken")}
    assert all(f["error"] == "RuntimeError: INTERNAL: RET_CHECK failure (a compiler bug)"
               for f in result["failures"])  # fmt: skip
    timed = {r["entry"] for r in result["rows"]}
    assert {"lax", "jaxconv auto", "jaxconv xla"} <= timed and "jaxconv broken" not in timed
    printed = capsys.readouterr()
    assert "FAILED 1x1 float32 fwd jaxconv broken: RuntimeError: INTERNAL" in printed.out
    assert "2 entries failed (jaxconv broken)" in printed.err
