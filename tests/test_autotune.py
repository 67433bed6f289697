"""``impl="autotune"``: each pass's lowering chosen by timing its candidates here."""

import functools
import json
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export, lax

import jaxconv
from jaxconv.lowering import (
    _tune,
    clear_autotune_cache,
    lowerings,
    register_lowering,
    unregister_lowering,
)
from tests.helpers import RTOL, assert_close

# 4 x 16 -> 16 channels, 3x3, 32x32: 19 MFLOP, above MIN_TUNED_FLOPS
X_SHAPE, W_SHAPE = (4, 16, 32, 32), (16, 16, 3, 3)
PARAMS = jaxconv.ConvParams((1, 1), ((1, 1), (1, 1)), (1, 1))
BUILTINS = {p: ["xla", "matmul", "gemm"] for p in ("forward", "input_grad", "weight_grad")}


@pytest.fixture(autouse=True)
def _fresh_memory():
    clear_autotune_cache()  # the suite keeps choices in memory only (conftest.py)
    yield
    clear_autotune_cache()


class FakeTimer:
    """Returns fixed seconds and counts the calls: the choice without the noise."""

    def __init__(self, seconds):
        self.seconds, self.calls = seconds, 0

    def __call__(self, candidates, args, params, groups):
        self.calls += 1
        assert [a.shape for a in args[:2]] == [X_SHAPE, W_SHAPE]
        return {p: {n: self.seconds[p].get(n, 1.0) for n in candidates[p]} for p in candidates}


def _tuned(timer, x_shape=X_SHAPE, auto=("xla", "xla", "gemm"), candidates=BUILTINS):
    return _tune.tuned(auto, candidates, x_shape, W_SHAPE, PARAMS, 1, np.float32, timer)


def test_the_fastest_candidate_wins_unless_auto_is_within_the_margin():
    timer = FakeTimer(
        {
            "forward": {"xla": 1.0, "matmul": 0.5, "gemm": None},  # 2x faster: matmul
            "input_grad": {"xla": 1.0, "matmul": 0.97},  # 3% faster: auto's xla stays
            "weight_grad": {"xla": 1.0, "matmul": None, "gemm": None},  # auto failed: xla
        }
    )
    assert _tuned(timer) == ("matmul", "xla", "xla")
    assert timer.calls == 1
    assert _tuned(timer) == ("matmul", "xla", "xla") and timer.calls == 1  # remembered
    # a new candidate (a lowering registered under a new name) is a new question
    assert _tuned(timer, candidates=BUILTINS | {"forward": ["xla", "mine"]})[0] == "xla"
    assert timer.calls == 2
    all_failed = FakeTimer({p: dict.fromkeys(BUILTINS[p]) for p in BUILTINS})
    clear_autotune_cache()
    assert _tuned(all_failed, auto=("gemm", "gemm", "gemm")) == ("gemm", "gemm", "gemm")


def test_calls_too_small_to_time_or_of_symbolic_size_take_autos_plan_untimed():
    timer = FakeTimer({p: {"matmul": 0.1} for p in BUILTINS})
    tiny = _tune.tuned(("xla",) * 3, BUILTINS, (1, 16, 8, 8), W_SHAPE, PARAMS, 1, "f4", timer)
    (b,) = export.symbolic_shape("b")
    symbolic = _tune.tuned(
        ("gemm",) * 3, BUILTINS, (b, *X_SHAPE[1:]), W_SHAPE, PARAMS, 1, "f4", timer
    )
    assert (tiny, symbolic, timer.calls) == (("xla",) * 3, ("gemm",) * 3, 0)


def test_the_cache_file_is_read_back_in_a_new_process_and_survives_bad_files(tmp_path, monkeypatch):
    path = tmp_path / "cache" / "autotune.json"
    monkeypatch.setenv(_tune.CACHE_ENV, str(path))
    timer = FakeTimer({p: {"gemm": 0.1} for p in BUILTINS})
    assert _tuned(timer) == ("gemm",) * 3 and timer.calls == 1
    (entry,) = json.loads(path.read_text()).values()
    assert entry["plan"] == ["gemm"] * 3 and entry["seconds"]["forward"]["xla"] == 1.0
    _tune._MEMORY.clear(), _tune._LOADED.clear()  # as a new process starts
    assert _tuned(timer) == ("gemm",) * 3 and timer.calls == 1
    _tune._MEMORY.clear(), _tune._LOADED.clear()
    path.write_text("{not json")
    with pytest.warns(UserWarning, match="jaxconv autotune: ignoring the unreadable cache"):
        assert _tuned(timer) == ("gemm",) * 3
    assert timer.calls == 2 and json.loads(path.read_text())  # timed again, file mended
    clear_autotune_cache()
    assert not path.exists()
    monkeypatch.setenv(_tune.CACHE_ENV, "")  # memory only
    assert _tuned(timer) == ("gemm",) * 3 and not path.exists()


def _zeros(x, w, params, groups):
    """Fast and wrong: the tuner times programs, the property suite checks them."""
    size = params.output_size(x.shape[2:], w.shape[2:])
    return jnp.zeros((x.shape[0], w.shape[0], *size), x.dtype)


def _slow(x, w, params, groups):
    """The convolution 20 times over, each on a rescaled input, so none is hoisted."""

    def body(i, acc):
        s = (i + 1).astype(x.dtype)
        return acc + lax.conv_general_dilated(x * s, w, params.stride, params.padding) / s

    return lax.fori_loop(0, 20, body, _zeros(x, w, params, groups)) / 20


def _broken(x, w, params, groups):
    raise RuntimeError("this kernel does not handle 16 channels")


@pytest.fixture
def timed_lowerings():
    for name, fn in (("zeros", _zeros), ("slow", _slow), ("broken", _broken)):
        register_lowering(name, fn, description="a test's")
    yield
    for name in ("zeros", "slow", "broken"):
        unregister_lowering(name)


def test_measured_times_rank_a_fast_slow_and_failing_kernel(timed_lowerings):
    """Real timing of the forward pass: a kernel that writes zeros wins, one that runs the
    convolution 20 times is measured slower than XLA's and never chosen, one that raises
    is recorded as failed. Forward-only kernels are not candidates for the gradients."""
    candidates = {
        p: [n for n, rec in lowerings().items() if rec.supports(p, "cpu")]
        for p in ("forward", "input_grad", "weight_grad")
    }
    builtins = ["xla", "matmul", "gemm", "eigen", "dots"]
    assert candidates["forward"] == [*builtins, "zeros", "slow", "broken"]
    plan = _tune.tuned(("xla",) * 3, candidates, X_SHAPE, W_SHAPE, PARAMS, 1, np.float32)
    (entry,) = _tune._MEMORY.values()
    forward = entry["seconds"]["forward"]
    assert plan[0] == "zeros" and forward["broken"] is None
    assert forward["slow"] > 2 * forward["xla"]
    assert set(plan[1:]) <= set(builtins)
    for p, pick in zip(("input_grad", "weight_grad"), plan[1:]):
        assert set(entry["seconds"][p]) == set(builtins)
        assert entry["seconds"][p][pick] <= min(entry["seconds"][p].values()) * 1.05


def test_autotune_works_under_jit_grad_vmap_and_export_and_agrees_with_xla(monkeypatch):
    monkeypatch.setattr(_tune, "MIN_TUNED_FLOPS", 0)  # small shapes compile fast
    rng = np.random.default_rng(0)
    x, w = (jnp.asarray(rng.standard_normal(s)) for s in ((2, 4, 8, 8), (4, 4, 3, 3)))
    conv = functools.partial(jaxconv.conv2d, padding=1)

    def loss(impl):
        return jax.jit(jax.value_and_grad(lambda x, w: (conv(x, w, impl=impl) ** 2).sum(), (0, 1)))

    got, want = loss("autotune")(x, w), loss("xla")(x, w)
    assert len(_tune._MEMORY) == 1  # tuned once, inside the trace
    plan = jaxconv.choose_plan(x.shape, w.shape, padding=1, dtype="float64", impl="autotune")
    assert list(plan) == next(iter(_tune._MEMORY.values()))["plan"]
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert_close(a, b, RTOL["float64"])
    batched = jax.vmap(lambda x: conv(x, w, impl="autotune"))(x[:, None])
    assert_close(batched[:, 0], conv(x, w, impl="xla"), RTOL["float64"])
    assert len(_tune._MEMORY) == 2  # under vmap: the shapes conv2d sees, (1, 4, 8, 8)
    (b,) = export.symbolic_shape("b")
    spec = jax.ShapeDtypeStruct((b, *x.shape[1:]), x.dtype)
    exported = export.export(jax.jit(lambda x: conv(x, w, impl="autotune")))(spec)
    assert_close(exported.call(x), conv(x, w, impl="xla"), RTOL["float64"])


def test_autotune_plans_only_for_the_platform_it_runs_on():
    other = "gpu" if jax.default_backend() == "cpu" else "cpu"
    with pytest.raises(ValueError, match=re.escape("choose_plan: `impl` (='autotune') times")):
        jaxconv.choose_plan(X_SHAPE, W_SHAPE, impl="autotune", platform=other)


def test_candidates_are_traced_in_the_callers_dtype(timed_lowerings):
    """The programs compile in threads; they are traced in the caller's thread, where its
    configuration (here the tests' x64 context) holds."""
    seen = []
    register_lowering("spy", lambda x, w, p, g: seen.append(x.dtype) or _zeros(x, w, p, g))
    try:
        args = _tune.operands(X_SHAPE, W_SHAPE, PARAMS, np.float64)
        only = {"forward": ["spy"], "input_grad": [], "weight_grad": []}
        seconds = _tune.measure(only, args, PARAMS, 1)
    finally:
        unregister_lowering("spy")
    assert set(seen) == {np.dtype("float64")} and seconds["forward"]["spy"] > 0


def test_a_candidate_is_judged_by_its_run_after_the_first():
    """A first run can pay one-time work (on a 2-core CPU, XLA's stem forward pass read
    56 ms once, 2-6 ms after, and was dropped as too slow): the warm-up is the second."""
    calls = []

    def first_run_slow(*args):
        calls.append(len(calls))
        if len(calls) == 1:
            time.sleep(0.2)
        return jnp.zeros(())

    assert _tune._warm_up(first_run_slow, ()) < 0.1 and len(calls) == 2
