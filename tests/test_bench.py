"""The benchmark harness, run tiny: a well-formed table and JSON (no timing is asserted)."""

import collections
import json
import math
import pathlib
import re
import statistics
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv
import jaxconv.lowering
import jaxconv.nn
from jaxconv import impls
from jaxconv.cli import bench
from jaxconv.cli.bench import _models as bench_models
from jaxconv.cli.bench import _networks as bench_networks
from jaxconv.cli.bench import _report as bench_report
from jaxconv.cli.bench import _timing as bench_timing
from tests.helpers import assert_close

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
            "--no-autotune",  # the tiny shapes are below autotune's size: it would be auto
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
    } | {f"jaxconv {i}" for i in impls() if i not in ("reference", "autotune")}
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
        args = ["--tiny", "--cases", "1x1", "--dtype", "float32", "--no-torch", "--json", str(out)]
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


def test_every_library_builds_the_same_networks():
    """Same convolutions, same head: equal parameter counts in every entry, torch's too."""
    torch = pytest.importorskip("torch")
    nets = (bench_models.resnet18(8), bench_models.mobilenet(4), bench_models.convnext(4))
    for net in (*nets, bench_models.vgg11(8)):
        entries = bench_models.jax_entries(net, batch=2)
        assert set(entries) == {
            "jaxconv.nn NCHW", "jaxconv.nn NHWC", "jaxconv.nn NCHW autotune", "flax.nnx.Conv",
            "flax.linen.Conv", "equinox Conv2d",
        }  # fmt: skip
        expected = (
            sum(c.co * (c.ci // c.groups * c.k * c.k + 1) for c in net.convs)
            + (net.features + 1) * bench_models.CLASSES
        )
        counts = {name: bench_models.param_count(e[1]) for name, e in entries.items()}
        assert set(counts.values()) == {expected}, counts
        model = bench_models.torch_model(net)
        assert sum(p.numel() for p in model.parameters()) == expected
        assert isinstance(model(torch.zeros(2, 3, 32, 32)), torch.Tensor)
    assert [c.stride for c in bench_models.resnet18().convs].count(2) == 6
    assert len(bench_models.mobilenet().convs) == 27
    assert [c.pad for c in bench_models.convnext().convs if c.k == 2] == [0] * 4  # patches


def test_vgg_halves_its_images_as_torch_pools_them():
    """VGG-11's ``"pool"`` blocks are torch's 2x2 max pooling in either layout, five of
    them between eight 3x3 layers, the last two on 2x2 images; every entry runs it."""
    torch = pytest.importorskip("torch")
    y = np.random.default_rng(0).standard_normal((2, 3, 6, 8), np.float32)
    theirs = torch.nn.functional.max_pool2d(torch.from_numpy(y), 2).numpy()
    first = bench_models._halver((2, 3))(jnp.asarray(y))
    last = bench_models._halver((1, 2))(jnp.transpose(jnp.asarray(y), (0, 2, 3, 1)))
    np.testing.assert_array_equal(first, theirs)
    np.testing.assert_array_equal(jnp.transpose(last, (0, 3, 1, 2)), theirs)
    net = bench_models.vgg11(8)
    sides, side = [], bench_models.SIDE
    for block in net.blocks:
        side = side // 2 if block == "pool" else side
        sides += [side] if block == "conv" else []
    assert sides == [32, 16, 8, 8, 4, 4, 2, 2] and len(net.convs) == 8
    for name, (apply, params, x, _) in bench_models.jax_entries(net, 2, autotune=False).items():
        assert apply(params, x).shape == (2, bench_models.CLASSES), name


def test_batch_norm_is_one_function_in_every_layout_and_library():
    """The batch's statistics per channel: zero mean and unit variance per channel, the
    same values channels-first, channels-last, image by image under a named vmap (as
    equinox runs it) and in torch."""
    torch = pytest.importorskip("torch")
    y = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (4, 3, 5, 6))
    first = bench_models.batch_norm(y, 1)
    last = jnp.transpose(bench_models.batch_norm(jnp.transpose(y, (0, 2, 3, 1)), 3), (0, 3, 1, 2))
    per_image = jax.vmap(lambda im: bench_models.batch_norm(im, 0, "i"), axis_name="i")(y)
    theirs = torch.nn.functional.batch_norm(
        torch.tensor(np.asarray(y)), None, None, training=True, eps=bench_models.EPS
    ).numpy()
    for other in (last, per_image, theirs):
        np.testing.assert_allclose(other, first, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jnp.mean(first, (0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.var(first, (0, 2, 3)), 1.0, rtol=1e-4)


def test_normalised_networks_normalise_in_every_library(monkeypatch):
    """``normalised``: no new parameters, and every entry (torch's too) computes another
    output than the plain network's from the same parameters. jaxconv's channels-first
    entry normalises through ``channels_last``, to the values of the entry that
    normalises on axis 1."""
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 32, 32), np.float32))
    for net in (TOY, bench_models.resnet18(8)):
        norm = bench_models.normalised(net)
        assert norm.name == f"{net.name}+bn" and norm.convs == net.convs
        plain, normed = (bench_models.jax_entries(n, 2, autotune=False) for n in (net, norm))
        for name, (apply, params, x_in, _) in plain.items():
            apply_norm, params_norm, _, _ = normed[name]
            assert bench_models.param_count(params_norm) == bench_models.param_count(params)
            outputs = apply(params, x_in), apply_norm(params, x_in)
            assert outputs[0].shape == outputs[1].shape == (2, bench_models.CLASSES)
            assert not np.allclose(*outputs, atol=1e-3), name
        axis_1 = normed.pop("jaxconv.nn NCHW axis-1 norm")
        assert set(normed) == set(plain)
        apply_last, params_last, x_nchw, _ = normed["jaxconv.nn NCHW"]
        assert_close(apply_last(params_last, x_nchw), axis_1[0](axis_1[1], x_nchw), 1e-5)
        calls = []  # every convolution's normalisation went through channels_last
        wrap = jaxconv.nn.channels_last
        spy = lambda f: wrap(lambda y: calls.append(y.shape) or f(y))  # noqa: E731
        monkeypatch.setattr(jaxconv.nn, "channels_last", spy)
        apply_last(params_last, x_nchw)
        assert len(calls) == len(net.convs) and calls[0] == (2, 32, 32, net.convs[0].co)
        monkeypatch.undo()
        torch.manual_seed(0)
        model = bench_models.torch_model(net)
        torch.manual_seed(0)
        model_norm = bench_models.torch_model(norm)
        with torch.no_grad():
            assert not torch.allclose(model(x), model_norm(x), atol=1e-3)


TOY = bench_models.Net(
    "toy",
    (
        bench_models.Conv(3, 4),
        bench_models.Conv(4, 4, 3, 2, groups=4),
        bench_models.Conv(4, 8, 1),
        bench_models.Conv(8, 8, 3, 2),
        bench_models.Conv(8, 8),
        bench_models.Conv(8, 8, 1, 2),
    ),
    ("conv", "conv", "conv", "proj"),
)


def test_network_bench_normalises_the_networks_it_is_asked_to(monkeypatch):
    seen = []

    def recorded(net, batch, equinox=True, autotune=True, dtype="float32"):
        seen.append(net)
        return {}

    monkeypatch.setattr(bench_networks, "jax_entries", recorded)
    for norm in (False, True):
        assert bench_networks.run_networks([TOY], batch=2, norm=norm, torch=False) == ([], [])
    assert [(n.name, n.norm, n.convs) for n in seen] == [
        ("toy", False, TOY.convs),
        ("toy+bn", True, TOY.convs),
    ]


def test_network_bench_times_every_library_and_survives_a_failure(monkeypatch):
    entries = bench_models.jax_entries

    def with_a_broken_entry(net, batch, equinox=True, autotune=True, dtype="float32"):
        assert not autotune  # run_networks passes it on
        out = entries(net, batch, equinox, autotune, dtype)
        apply, params, x, labels = out["flax.nnx.Conv"]

        def broken(p, x):
            raise RuntimeError("INTERNAL: a compiler bug\nmore")

        return {**out, "broken": (broken, params, x, labels)}

    monkeypatch.setattr(bench_networks, "jax_entries", with_a_broken_entry)
    rows, failures = bench_networks.run_networks([TOY], batch=2, reps=1, compiles=2, autotune=False)
    assert failures == [
        {
            "model": "toy",
            "dtype": "float32",
            "entry": "broken",
            "error": "RuntimeError: INTERNAL: a compiler bug",
        }
    ]
    by_entry = {r["entry"]: r for r in rows}
    assert set(by_entry) == {
        "jaxconv.nn NCHW", "jaxconv.nn NHWC", "flax.nnx.Conv", "flax.linen.Conv",
        "equinox Conv2d", "torch NCHW", "torch channels_last",
    }  # fmt: skip
    base = by_entry["flax.nnx.Conv"]
    assert base["ratio_to_flax_nnx"] == base["compile_ratio"] == base["temp_ratio"] == 1.0
    assert base["compile_ratio_min"] == 1.0
    for r in rows:
        assert r["batch"] == 2 and r["dtype"] == "float32" and r["median_ms"] > 0
        assert math.isclose(r["ratio_to_flax_nnx"], r["median_ms"] / base["median_ms"])
        assert (r["compile_s"] is None) == r["entry"].startswith("torch")
        if r["compile_s"] is not None:  # the median of the two rounds
            assert len(r["compile_s_runs"]) == 2
            assert r["compile_s"] == statistics.median(r["compile_s_runs"])
            assert r["compile_s_min"] == min(r["compile_s_runs"])  # robust to interference
            assert math.isclose(r["compile_ratio_min"], r["compile_s_min"] / base["compile_s_min"])
        if r["compile_s"] is None:  # torch: nothing compiled, nothing counted
            assert r["kernels"] is None and r["kernel_ratio"] is None
            assert r["operations"] is None and r["operation_ratio"] is None
        else:
            assert r["kernels"] > 0 and r["operations"] > r["kernels"]
            assert math.isclose(r["kernel_ratio"], r["kernels"] / base["kernels"])
            assert math.isclose(r["operation_ratio"], r["operations"] / base["operations"])
        even = r["steps_to_even"]
        if even is not None:  # by then compile + steps take no longer than flax's
            total = lambda row, k: row["compile_s"] + k * row["median_ms"] / 1e3
            assert total(r, even) <= total(base, even) + 1e-9
            assert even == 0 or total(r, even - 1) > total(base, even - 1)
        elif r["compile_s"] is not None:  # never: a step no faster than flax's
            assert r["median_ms"] >= base["median_ms"]


def test_kernel_count_counts_the_compiled_programs_kernels():
    """More different kernels, a higher count; one elementwise kernel counts once, and so
    do kernels of the same code on different buffers, which XLA compiles once."""
    x = jnp.ones((16, 8, 4))
    one = jax.jit(lambda x: jnp.sin(x) * 2).lower(x).compile()
    several = jax.jit(lambda x: [jnp.sin(x[i:]).transpose(2, 0, 1) for i in range(5)])
    count = bench_timing.kernel_count
    assert count(one) == 1
    assert count(several.lower(x).compile()) >= 5
    xs = (x, x + 1, x + 2)
    same = jax.jit(lambda *xs: [(jnp.sin(v) * 2).transpose(2, 0, 1) for v in xs]).lower(*xs)
    ops = (jnp.sin, jnp.cos, jnp.exp)
    apart = jax.jit(lambda *xs: [(f(v) * 2).transpose(2, 0, 1) for f, v in zip(ops, xs)])
    same, apart = same.compile(), apart.lower(*xs).compile()
    assert same.as_text().count(" fusion(") == apart.as_text().count(" fusion(")
    assert count(same) < count(apart) <= apart.as_text().count(" fusion(")


def test_operation_count_counts_each_subprogram_once():
    """A nested jit called twice is traced (and lowered) once: its operations count once;
    the same function inlined twice counts twice. Loop bodies are counted."""
    inner = lambda x: jnp.sin(x) * 2 + 1  # 3 operations
    count = lambda f: bench_timing.operation_count(jax.jit(f).trace(jnp.ones(3)))
    assert count(inner) == 3
    assert count(lambda x: inner(x) * inner(x)) == 7
    shared = jax.jit(inner)
    assert count(lambda x: shared(x) * shared(x + 1)) == 3 + 4  # 2 calls, add, mul
    looped = lambda x: jax.lax.fori_loop(0, 4, lambda i, x: inner(x), x)
    assert count(looped) > 3


@pytest.mark.parametrize(
    "compile_s, step_s, expected",
    [
        (3.0, 1.0, 2),  # 1 s more to compile, 0.5 s less per step: even after 2 steps
        (2.5, 1.0, 1),
        (2.6, 1.0, 2),  # a step short of even after 1: rounded up
        (1.0, 1.5, 0),  # no slower anywhere: ahead from the start
        (1.0, 2.0, None),  # a slower step: behind for good once its compile lead is spent
        (3.0, 1.5, None),  # slower to compile, no faster to run
    ],
)
def test_steps_to_even(compile_s, step_s, expected):
    assert bench_networks.steps_to_even(compile_s, step_s, 2.0, 1.5) == expected
    assert bench_networks.steps_to_even(None, step_s, 2.0, 1.5) is None  # torch: no compile time


def test_model_options_are_refused_without_model(capsys):
    assert bench.main(["--quick", "--batch", "8", "--batchnorm"]) == 1
    assert capsys.readouterr().err == (
        "jaxconv bench: error: --batch, --batchnorm apply to --model; the layer suite times "
        "single layers, at batches of its own\n"
    )
    assert bench.main(["--batchnorm"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jaxconv bench: error: --batchnorm applies to --model;")


def test_the_layer_suite_compiles_each_entry_as_often_as_asked():
    """``--compiles 3``: each entry traced and compiled afresh every time (caches cleared;
    without, JAX would reuse its first trace), each compiled program timed; an entry that
    fails in a later round is reported once and left out, as one failing in the first."""
    traced = collections.Counter()

    def entry(name, fails_on=None):
        def apply(p, x):
            traced[name] += 1
            if traced[name] == fails_on:
                raise RuntimeError("the second compile failed")
            return x * p

        return apply, jnp.float32(2.0), jnp.ones(3)

    failures: list = []
    with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"):  # a user's config
        entries = {"steady": entry("steady"), "flaky": entry("flaky", fails_on=2)}
        runs, info = bench_report._compiled(entries, "fwd", 3, {"case": "c"}, failures)
    assert traced == {"steady": 3, "flaky": 2}
    assert failures == [
        {"case": "c", "entry": "flaky", "error": "RuntimeError: the second compile failed"}
    ]
    assert set(runs) == set(info) == {"steady"} and len(runs["steady"]) == 3
    assert info["steady"]["compile_s"] == statistics.median(info["steady"]["compile_s_runs"])
    each = bench_report._timed(runs, reps=1)
    assert set(each) == {"steady"} and len(each["steady"]) == 3


def test_the_layer_suite_reports_the_median_over_compiles():
    case = next(c for c in bench_report.TINY if c.key == "1x1")
    with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"):  # a user's config
        result = bench_report.run(
            (case,), dtypes=["float32"], reps=1, compiles=3, impls=["auto"], module=False,
            torch=False,
        )  # fmt: skip
    assert not result["failures"] and result["rows"]
    for row in result["rows"]:
        assert len(row["median_ms_runs"]) == 3
        assert row["median_ms"] == pytest.approx(statistics.median(row["median_ms_runs"]))
    with pytest.raises(ValueError, match=r"run: `compiles` \(=0\) must be at least 1"):
        bench_report.run((case,), compiles=0)


def test_layer_suite_options_are_refused_with_model(capsys):
    assert bench.main(["--model", "resnet18", "--reference", "--cases", "1x1"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "jaxconv bench: error: --cases, --reference apply to the layer suite; --model times "
        "training steps of whole networks\n"
    )


def test_network_bench_runs_each_dtype_it_is_given(monkeypatch, capsys):
    """``--model ... --dtype``: every network in every dtype, rows and failures marked."""
    calls = []

    def recorded(models, *, dtype, **kwargs):
        calls.append((tuple(models), dtype))
        row = {"model": models[0], "dtype": dtype, "batch": 2, "entry": "flax.nnx.Conv"}
        row |= dict.fromkeys(["median_ms", "ratio_to_flax_nnx"], 1.0)
        row |= dict.fromkeys(bench_row_keys, None)
        failure = {"model": models[0], "dtype": dtype, "entry": "torch", "error": "E: e"}
        return [row], [failure]

    bench_row_keys = [
        "compile_s", "compile_ratio", "compile_ratio_min", "kernels", "kernel_ratio",
        "operations", "operation_ratio", "steps_to_even", "temp_mib", "temp_ratio",
    ]  # fmt: skip
    monkeypatch.setattr(bench_report, "run_networks", recorded)
    args = ["--model", "resnet18", "--dtype", "float32", "bfloat16", "--no-torch"]
    assert bench.main(args) == 1  # the failures
    assert calls == [(("resnet18",), "float32"), (("resnet18",), "bfloat16")]
    printed = capsys.readouterr().out
    assert "FAILED resnet18 bfloat16 torch: E: e" in printed
    assert "FAILED resnet18 float32 torch: E: e" in printed


def test_network_steps_in_half_precision_are_mixed_precision(monkeypatch):
    """``dtype="bfloat16"``: every JAX entry computes in bfloat16 from float32
    parameters, whose gradients stay float32; torch's layers run under autocast."""
    torch = pytest.importorskip("torch")
    half = bench_models.jax_entries(TOY, 2, autotune=False, dtype="bfloat16")
    full = bench_models.jax_entries(TOY, 2, autotune=False)
    assert set(half) == set(full)
    for name, (apply, params, x, _) in half.items():
        assert x.dtype == jnp.float32
        assert {a.dtype for a in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}
        y = jax.jit(apply)(params, x)  # jitted: one compile, not one per operation
        assert y.dtype == jnp.bfloat16, name
        y_full = jax.jit(full[name][0])(params, x)
        assert y_full.dtype == jnp.float32
        np.testing.assert_allclose(
            y.astype(jnp.float32), y_full, rtol=0.05, atol=0.05 * float(jnp.max(jnp.abs(y_full)))
        )
        grads = jax.jit(jax.grad(lambda p: jnp.sum(apply(p, x).astype(jnp.float32))))(params)
        assert {g.dtype for g in jax.tree.leaves(grads)} == {jnp.dtype(jnp.float32)}
    seen = []
    build = bench_models.torch_model

    def recording(net):
        model = build(net)
        for conv in model.convs:
            conv.register_forward_hook(lambda m, args, out: seen.append(out.dtype))
        return model

    monkeypatch.setattr(bench_models, "torch_model", recording)
    for dtype, expected in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        seen.clear()
        for run in bench_models.torch_entries(TOY, 2, dtype=dtype).values():
            run()
        assert seen and set(seen) == {expected}


def test_batch_norm_keeps_its_statistics_in_float32():
    """bfloat16 in and out, float32 statistics: values far from zero normalise as well
    as in float32 (bfloat16 statistics would round the mean of ~300 by up to 1, one
    standard deviation)."""
    y = (300.0 + jax.random.normal(jax.random.key(1), (8, 3, 4, 4))).astype(jnp.bfloat16)
    out = bench_models.batch_norm(y, 1)
    assert out.dtype == jnp.bfloat16
    wide = bench_models.batch_norm(y.astype(jnp.float32), 1)
    np.testing.assert_allclose(out.astype(jnp.float32), wide, atol=0.02, rtol=0.01)


@pytest.mark.parametrize("backend,measured", [("cpu", [1.0, 2.0]), ("gpu", [2.0, 3.0])])
def test_off_a_cpu_the_first_compile_round_is_not_measured(monkeypatch, backend, measured):
    """XLA's GPU compiler times convolution algorithms on a shape's first compile, for
    every later entry too: there the first round is compiled, run and not counted."""
    times = iter([1.0, 2.0, 3.0])

    def fake_compile_step(apply, params, x, labels):
        return bench_models.Step(lambda: None, next(times), 0, 1, 2)

    monkeypatch.setattr(bench_networks, "compile_step", fake_compile_step)
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    where = {"model": "toy", "dtype": "float32"}
    runs, info = bench_networks._compiled({"a": (None, {}, None, None)}, 2, where, [])
    assert set(runs) == {"a"} and info["a"]["compile_s_runs"] == measured


def test_the_device_script_runs_every_test_file():
    """``benchmarks/gpu_check.sh``, the one prepared run on a lent GPU, names every test
    file of the suite, so that a file added later is not left to the CPU alone (six were,
    until 2026-12-08)."""
    root = pathlib.Path(__file__).resolve().parent.parent
    script = (root / "benchmarks" / "gpu_check.sh").read_text()
    named = set(re.findall(r"tests/(test_\w+\.py)", script))
    files = {p.name for p in (root / "tests").glob("test_*.py")}
    assert files - named == set(), sorted(files - named)
