"""``check_conv``: named properties of a 2-D convolution, checked on drawn cases.

The oracle is ``lax.conv_general_dilated`` at ``Precision.HIGHEST`` on the same arrays.
Arrays are float64 when x64 is enabled (tolerance 1e-10 relative to the oracle's largest
magnitude), else float32 (1e-5 on CPUs, 5e-3 on GPUs, where the default precision of
the function under test is TF32), with larger multiples for the properties that add up
more rounding (``FACTORS``, ``TF32_FACTORS``). Hypothesis draws the cases and shrinks a
failure to a minimal one before it is reported.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from jax import lax
from jax.test_util import check_grads

from .strategies import ConvCase, conv_cases

HIGHEST = lax.Precision.HIGHEST

PROPERTIES = {
    "shape": "the output shape follows the convolution's shape rule",
    "dtype": "the output has the input's dtype",
    "values": "the output equals lax.conv_general_dilated's",
    "one_by_one": "a 1x1 kernel is a matmul over channels at every pixel",
    "linearity": "linear in the input and in the weight (without bias)",
    "adjoint": "<conv(x, w), y> = <x, vjp_x(y)> and <w, vjp_w(y)> of the function itself",
    "jvp": "forward-mode derivatives equal the oracle's",
    "vjp": "reverse-mode derivatives equal the oracle's",
    "check_grads": "jax.test_util.check_grads, order 2, fwd and rev (float64 only)",
    "jit": "jax.jit of the function equals the eager call",
    "vmap": "jax.vmap over a leading axis of the input equals a loop",
    "unbatched": "an unbatched (C, H, W) input equals the batched call's image (torch)",
    "nan": "a NaN reaches exactly the outputs whose window reads it, in its group (opt-in)",
}
"""Every property ``check_conv`` knows, by name, with what it states."""

DERIVATIVES = ("adjoint", "jvp", "vjp", "check_grads")


class ConvCheckError(AssertionError):
    """A property failed: the message names it, the minimal case, the error and the
    tolerance, and says how to rebuild the arrays. ``prop`` is the property's name."""

    prop: str = ""


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """What ``check_conv`` verified: the properties, how many cases, dtype, tolerance."""

    convention: str
    checked: dict[str, int]  # property -> cases it was checked on
    skipped: dict[str, str]  # property -> why it was not checked
    cases: int
    dtype: str
    tolerance: float
    seed: int

    @property
    def properties(self) -> tuple[str, ...]:
        return tuple(self.checked)

    def __str__(self) -> str:
        held = ", ".join(f"{p} ({n})" for p, n in self.checked.items())
        skipped = "".join(f"; {p} skipped: {why}" for p, why in self.skipped.items())
        return (
            f"check_conv ({self.convention} convention): {len(self.checked)} properties "
            f"held on {self.cases} drawn cases, {self.dtype}, tolerance "
            f"{self.tolerance:g} x max(|oracle|, 1), seed {self.seed}: {held}{skipped}"
        )


# Each property's bound on max |error| / max(|oracle|, 1), as a multiple of the dtype's
# tolerance. In float64 and in a CPU's float32 the derivatives sum longer products than
# the output does, and the adjoint is one inner product over every output: 10x and 100x.
# A GPU's float32 is TF32 by default: its rounding of each operand to 10 mantissa bits
# dwarfs the sums' own rounding, and the 5e-3 tolerance already covers it. A correct
# convolution emulating TF32 on a CPU (tests/test_testing.py) erred at most, over 1500
# drawn cases: output 1.1e-3, vjp 1.7e-3, jvp 3.2e-3 (a tangent is two convolutions
# summed), linearity 5.1e-3 and adjoint 2.5e-2 (both compare sums that may cancel).
# The TF32 factors keep a 3-10x margin over those and catch a derivative 1% off, which
# the 10x of a CPU (5e-2) let through on an H200.
FACTORS: dict[str, float] = {"linearity": 10, "jvp": 10, "vjp": 10, "adjoint": 100}
TF32_FACTORS: dict[str, float] = {"linearity": 10, "jvp": 2, "vjp": 1, "adjoint": 20}


def _tf32() -> bool:
    """Whether float32 convolutions compute in TF32 here (a GPU's default precision)."""
    return jax.default_backend() == "gpu"


def _tolerance(dtype) -> tuple[float, dict[str, float]]:
    """``(tolerance, factor per property)`` for arrays of ``dtype``."""
    if dtype == jnp.float64:
        return 1e-10, FACTORS
    return (5e-3, TF32_FACTORS) if _tf32() else (1e-5, FACTORS)


def _error(actual, expected) -> tuple[float, float]:
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    return float(np.max(np.abs(actual - expected), initial=0.0)), scale


class _Run:
    """One drawn case bound to the function under test."""

    def __init__(self, fn: Callable, case: ConvCase, dtype, bounds: tuple, checked: dict):
        self.fn, self.case, self.dtype = fn, case, dtype
        self.tol, self.factors = bounds
        self.checked = checked

    def fail(self, prop: str, detail: str, cause: BaseException | None = None):
        message = (
            f"property {prop!r} failed ({PROPERTIES[prop]}): {detail}\n"
            f"  minimal case: {self.case.describe()}\n"
            f"  dtype {np.dtype(self.dtype).name}, tolerance {self.tol:g} x "
            f"max(|oracle|, 1)\n"
            f"  arrays: jaxconv.testing.strategies.{self.case!r}.arrays("
            f"jnp.{np.dtype(self.dtype).name})"
        )
        error = ConvCheckError(message)
        error.prop = prop
        raise error from cause

    def call(self, prop: str, f: Callable, *args):
        try:
            return f(*args)
        except ConvCheckError:
            raise
        except Exception as err:  # the function under test raised on a valid case
            self.fail(prop, f"the function raised {type(err).__name__}: {err}", err)

    def close(self, prop: str, actual, expected, what: str = "output"):
        self.checked[prop] = self.checked.get(prop, 0) + 1
        factor = self.factors.get(prop, 1)
        actual, expected = np.asarray(actual), np.asarray(expected)
        if actual.shape != expected.shape:
            self.fail(prop, f"{what} has shape {actual.shape}, expected {expected.shape}")
        err, scale = _error(actual, expected)
        if not err <= factor * self.tol * scale:  # also catches NaN
            self.fail(prop, f"{what}: max |error| {err:.3e} > {factor * self.tol:g} x {scale:.3e}")


def _derivatives(f: Callable) -> Callable:
    """``(x, w, ct, tx, tw) -> (f(x, w), vjp_x(ct), vjp_w(ct), jvp(tx, tw))``, jitted."""

    def both(x, w, ct, tx, tw):
        out, vjp = jax.vjp(f, x, w)
        dx, dw = vjp(ct)
        return out, dx, dw, jax.jvp(f, (x, w), (tx, tw))[1]

    return jax.jit(both)


def _check_case(run: _Run, props: Sequence[str]) -> None:
    """The properties ``props`` on one drawn case. The checker's own arithmetic (test
    inputs, combinations, inner products) runs on the host in NumPy and its oracle is one
    jitted program: a device operation outside ``jit`` compiles a program for every
    drawn shape, which made up most of a case's time."""
    case, fn = run.case, run.fn
    x, w, b = case.arrays(run.dtype)
    conv = functools.partial(case.call, fn, b=b)
    oracle = jax.jit(lambda x, w, b=None: case.oracle(x, w, b))
    y = run.call("values", conv, x, w)
    expected = np.asarray(oracle(x, w, b))
    if "shape" in props:
        run.checked["shape"] = run.checked.get("shape", 0) + 1
        if np.shape(y) != expected.shape:
            run.fail("shape", f"output shape {np.shape(y)}, expected {expected.shape}")
    if "dtype" in props:
        run.checked["dtype"] = run.checked.get("dtype", 0) + 1
        if jnp.result_type(y) != expected.dtype:
            run.fail("dtype", f"output dtype {jnp.result_type(y)}, input dtype {expected.dtype}")
    if "values" in props:
        run.close("values", y, expected)
    if "one_by_one" in props and case.is_one_by_one:
        run.close("one_by_one", y, case.matmul(x, w, b), "output against the matmul")
    rng = np.random.default_rng(case.seed + 1)
    host = lambda a: np.asarray(a)
    rand = lambda a: rng.standard_normal(np.shape(a)).astype(host(a).dtype)
    # drawn in one order whatever is checked: a failure replays with the same inputs when
    # only its own property is checked (``focus`` in check_conv)
    x2, w2, ct, tx, tw = (rand(a) for a in (x, w, expected, x, w))
    nobias_conv = functools.partial(case.call, fn, b=None)
    nobias_oracle = functools.partial(case.oracle, b=None)
    if "linearity" in props:
        f = lambda x, w: host(nobias_conv(jnp.asarray(x), jnp.asarray(w)))
        fxw = f(x, w)
        run.close(
            "linearity",
            run.call("linearity", f, 2 * host(x) - 3 * x2, w),
            2 * fxw - 3 * f(x2, w),
            "f(2x - 3x2, w)",
        )
        run.close(
            "linearity",
            run.call("linearity", f, x, 2 * host(w) - 3 * w2),
            2 * fxw - 3 * f(x, w2),
            "f(x, 2w - 3w2)",
        )
    if "jit" in props:  # before the derivatives, which are computed under jit
        run.close("jit", run.call("jit", jax.jit(conv), x, w), y, "jax.jit(f)")
    if any(p in props for p in ("adjoint", "vjp", "jvp")):
        tangents = [jnp.asarray(a) for a in (ct, tx, tw)]
        out, dx, dw, dy = run.call("vjp", _derivatives(nobias_conv), x, w, *tangents)
        _, ref_dx, ref_dw, ref_dy = _derivatives(nobias_oracle)(x, w, *tangents)
        if "adjoint" in props:
            inner = lambda a, c: np.vdot(host(a).astype(np.float64), host(c))
            lhs = inner(out, ct)
            run.close("adjoint", inner(x, dx), lhs, "<x, vjp_x(y)> against <conv(x, w), y>")
            run.close("adjoint", inner(w, dw), lhs, "<w, vjp_w(y)> against <conv(x, w), y>")
        if "vjp" in props:
            run.close("vjp", dx, ref_dx, "the input gradient")
            run.close("vjp", dw, ref_dw, "the weight gradient")
        if "jvp" in props:
            run.close("jvp", dy, ref_dy, "the tangent")
    if "check_grads" in props and run.dtype == jnp.float64:
        run.checked["check_grads"] = run.checked.get("check_grads", 0) + 1
        try:
            check_grads(
                jax.jit(nobias_conv), (x, w), order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6
            )
        except AssertionError as err:
            run.fail("check_grads", str(err).splitlines()[0] if str(err) else "mismatch", err)
        except Exception as err:
            run.fail("check_grads", f"the function raised {type(err).__name__}: {err}", err)
    if "vmap" in props:
        xs = np.stack([host(x), 2 * host(x) + 1])
        ys = run.call("vmap", jax.jit(jax.vmap(conv, in_axes=(0, None))), jnp.asarray(xs), w)
        y1 = host(conv(jnp.asarray(xs[1]), w))
        run.close("vmap", ys, np.stack([host(y), y1]), "jax.vmap(f)")
    if "unbatched" in props and case.can_unbatch:
        one = run.call("unbatched", case.call_unbatched, fn, x, w, b)
        run.close("unbatched", one, case.first_image(host(y)), "f(x[0]) against f(x)[0]")
    if "nan" in props:
        xn = host(x).copy()
        xn[(0,) * x.ndim] = np.nan
        ours = np.isnan(host(run.call("nan", conv, jnp.asarray(xn), w)))
        # The rule (README, "Special values"): NaN reaches exactly the outputs whose
        # window reads it, whatever the weight (0 x NaN = NaN), within its group. A count
        # of those windows (a convolution of ones) states it (lax's own float64 CPU loop
        # spreads NaN over groups, so lax's NaN positions are not the oracle here).
        marked = np.zeros(x.shape, host(x).dtype)
        marked[(0,) * x.ndim] = 1
        theirs = np.asarray(oracle(marked, np.ones(w.shape, marked.dtype), None)) > 0
        run.checked["nan"] = run.checked.get("nan", 0) + 1
        if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
            run.fail(
                "nan",
                f"NaN at {int(ours.sum())} output positions; the windows that read the NaN "
                f"(a NaN at the input's first element) are {int(theirs.sum())}",
            )


def check_conv(
    fn: Callable,
    convention: str = "torch",
    *,
    max_examples: int = 25,
    derivatives: bool = True,
    seed: int = 0,
    properties: Sequence[str] | None = None,
    nan: bool = False,
    lhs_dilation: bool = True,
    batch_groups: bool = True,
    **strategy_options: Any,
) -> CheckReport:
    """Checks a 2-D convolution ``fn`` against ``lax.conv_general_dilated`` on drawn cases.

    Args:
      fn: the convolution under test, with the signature of ``convention``:
        ``"torch"``: ``fn(input, weight, bias=None, stride=1, padding=0, dilation=1,
        groups=1)`` like ``torch.nn.functional.conv2d`` (NCHW/OIHW, int, pair,
        ``"same"`` or ``"valid"`` padding, unbatched ``(C, H, W)`` input);
        ``"lax"``: ``lax.conv_general_dilated``'s signature (dimension numbers as
        strings, ``ConvDimensionNumbers`` or ``None``; explicit, ``"SAME"`` or
        ``"VALID"`` padding; ``lhs_dilation``, ``rhs_dilation``, ``feature_group_count``,
        ``batch_group_count``);
        ``"lesson"``: ``fn(X, K)``, ``(ci, H, W) x (co, ci, kh, kw) -> (co, mh, mw)``.
      max_examples: drawn cases (hypothesis ``max_examples``).
      derivatives: also check ``jvp``, ``vjp``, the adjoint identity and ``check_grads``.
      seed: the draw's seed; the same seed draws the same cases.
      properties: a subset of :data:`PROPERTIES` (default: all that apply; ``"nan"``
        only with ``nan=True``).
      nan: also check NaN propagation.
      lhs_dilation, batch_groups: ``"lax"`` convention: draw input dilation and batch
        groups (``False`` for a kernel that does not support them).
      strategy_options: passed to :func:`jaxconv.testing.strategies.conv_cases`
        (e.g. ``max_channels``, ``max_kernel``).

    Returns:
      A :class:`CheckReport` when every property held.

    Raises:
      ConvCheckError: (an ``AssertionError``) naming the failed property, the minimal
        case, the error and the tolerance; an exception of ``fn`` on a valid case is a
        failure too, chained. The minimal case is searched for the first property found
        failing, checked alone.

    >>> import jaxconv
    >>> report = check_conv(jaxconv.conv2d, max_examples=3)
    >>> report.cases, "values" in report.properties
    (3, True)
    """
    fn_name = "check_conv"
    if convention not in ("torch", "lax", "lesson"):
        raise ValueError(
            f"{fn_name}: `convention` (={convention!r}) must be one of ('torch', 'lax', 'lesson')"
        )
    if not callable(fn):
        raise TypeError(f"{fn_name}: `fn` must be callable, got {type(fn).__name__}")
    default = [p for p in PROPERTIES if p != "nan" or nan]
    if not derivatives:
        default = [p for p in default if p not in DERIVATIVES]
    props = list(properties) if properties is not None else default
    unknown = [p for p in props if p not in PROPERTIES]
    if unknown:
        raise ValueError(
            f"{fn_name}: unknown `properties` {unknown}; choose from {tuple(PROPERTIES)}"
        )
    if convention != "torch":
        props = [p for p in props if p != "unbatched"]
    dtype = jnp.float64 if jnp.zeros(()).dtype == jnp.float64 else jnp.float32  # x64 on?
    bounds = _tolerance(dtype)
    strategy = conv_cases(
        convention, lhs_dilation=lhs_dilation, batch_groups=batch_groups, **strategy_options
    )
    count = [0]
    checked: dict[str, int] = {p: 0 for p in props}
    # Once a property fails, the search for a smaller failing case checks that property
    # alone: a candidate that passes it need not run the rest (derivatives above all).
    focus: list[str] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    )
    @given(strategy)
    def run(case):
        count[0] += 1
        try:
            _check_case(_Run(fn, case, dtype, bounds, checked), focus or props)
        except ConvCheckError as err:
            focus[:] = focus or [err.prop]
            raise

    run()
    skipped = {p: "no drawn case applies" for p, n in checked.items() if n == 0}
    if "check_grads" in skipped and dtype != jnp.float64:
        skipped["check_grads"] = "float32 (enable x64: numerical derivatives need float64)"
    return CheckReport(
        convention,
        {p: n for p, n in checked.items() if n},
        skipped,
        count[0],
        np.dtype(dtype).name,
        bounds[0],
        seed,
    )
