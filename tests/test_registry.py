"""The lowering registry: the contract, the declared capabilities, and the extension point."""

import contextlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxconv
from jaxconv.cli.bench import default_impls
from jaxconv.lowering import Plan, lowerings, register_lowering, unregister_lowering
from tests.helpers import RTOL, assert_close

HIGHEST = lax.Precision.HIGHEST


def _lax(x, w, params, groups):
    return lax.conv_general_dilated(
        x,
        w,
        params.stride,
        params.padding,
        rhs_dilation=params.dilation,
        feature_group_count=groups,
        precision=params.precision,
        preferred_element_type=params.preferred_element_type,
    )


def _numpy_conv(x, w, stride, padding, dilation, groups):
    """A host NumPy convolution: no batching rule, no JVP, no transpose (like an FFI call)."""
    (sh, sw), (dh, dw) = stride, dilation
    x = np.pad(x, ((0, 0), (0, 0), *padding))
    o, cg, kh, kw = w.shape
    n, c, h, wd = x.shape
    mh, mw = (h - (kh - 1) * dh - 1) // sh + 1, (wd - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n, o, mh, mw), x.dtype)
    per = o // groups
    for i in range(kh):
        for j in range(kw):
            win = x[
                :,
                :,
                i * dh : i * dh + (mh - 1) * sh + 1 : sh,
                j * dw : j * dw + (mw - 1) * sw + 1 : sw,
            ]
            for g in range(groups):
                y[:, g * per : (g + 1) * per] += np.einsum(
                    "nchw,oc->nohw",
                    win[:, g * cg : (g + 1) * cg],
                    w[g * per : (g + 1) * per, :, i, j],
                )
    return y


CALLS = []


def _host(x, w, params, groups):
    CALLS.append((type(x).__name__, x.shape, w.shape, groups))
    out = jax.ShapeDtypeStruct(
        (x.shape[0], w.shape[0], *params.output_size(x.shape[2:], w.shape[2:])), x.dtype
    )
    return jax.pure_callback(
        lambda x, w: _numpy_conv(
            np.asarray(x), np.asarray(w), params.stride, params.padding, params.dilation, groups
        ),
        out,
        x,
        w,
    )


@contextlib.contextmanager
def registered(name, conv, **kwargs):
    register_lowering(name, conv, **kwargs)
    try:
        yield
    finally:
        unregister_lowering(name)


def _data(shape_x=(3, 4, 9, 8), shape_w=(6, 2, 3, 2), seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.standard_normal(shape_x)), jnp.asarray(rng.standard_normal(shape_w))


KW = dict(stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2), groups=2)


def _ref(x, w):
    return lax.conv_general_dilated(
        x,
        w,
        KW["stride"],
        KW["padding"],
        rhs_dilation=KW["dilation"],
        feature_group_count=KW["groups"],
        precision=HIGHEST,
    )


def test_builtins_declare_all_passes_everywhere_and_impls_come_from_the_registry():
    assert jaxconv.impls() == ("auto", "autotune", *lowerings(), "reference")
    assert list(lowerings()) == ["xla", "matmul", "gemm", "eigen", "dots"]
    for rec in lowerings().values():
        assert rec.transposable and rec.platforms is None and rec.description
        assert rec.passes == ("forward", "input_grad", "weight_grad")


def test_a_transposable_lowering_from_outside_serves_every_pass_and_is_benchmarked():
    with registered("lax_again", _lax, transposable=True, description="lax, registered"):
        assert "lax_again" in jaxconv.impls() and "lax_again" in default_impls("cpu")
        assert jaxconv.choose_plan((3, 4, 9, 8), (6, 2, 3, 2), impl="lax_again", **KW) == Plan(
            "lax_again", "lax_again", "lax_again"
        )
        x, w = _data()
        f = lambda x, w: jaxconv.conv2d(x, w, **KW, impl="lax_again", precision=HIGHEST)
        assert_close(f(x, w), _ref(x, w), RTOL["float64"])
        ct = jnp.ones_like(_ref(x, w))
        for a, b in zip(
            jax.grad(lambda x, w: jnp.vdot(ct, f(x, w)), (0, 1))(x, w),
            jax.grad(lambda x, w: jnp.vdot(ct, _ref(x, w)), (0, 1))(x, w),
        ):
            assert_close(a, b, RTOL["float64"])
    assert "lax_again" not in jaxconv.impls()


def test_a_forward_only_lowering_without_batching_rules_runs_once_on_the_full_arrays():
    """A host callback has no vmap, JVP or transpose rule: jaxconv folds the lesson's vmaps
    (images, groups, kernels) and the caller's own vmap into one call, and takes the
    gradients from auto's plan."""
    with registered("host", _host, description="NumPy on the host"):
        assert lowerings()["host"].passes == ("forward",)
        plan = jaxconv.choose_plan((3, 4, 9, 8), (6, 2, 3, 2), impl="host", **KW)
        auto = jaxconv.choose_plan((3, 4, 9, 8), (6, 2, 3, 2), **KW)
        assert plan == Plan("host", auto.input_grad, auto.weight_grad)
        x, w = _data()
        f = lambda x, w: jaxconv.conv2d(x, w, **KW, impl="host")
        CALLS.clear()
        assert_close(jax.jit(f)(x, w), _ref(x, w), RTOL["float64"])
        assert ("DynamicJaxprTracer", (3, 4, 9, 8), (6, 2, 3, 2), 2) in CALLS
        assert all(kind != "BatchTracer" for kind, *_ in CALLS)
        ct = jnp.ones_like(_ref(x, w))
        for a, b in zip(
            jax.grad(lambda x, w: jnp.vdot(ct, f(x, w)), (0, 1))(x, w),
            jax.grad(lambda x, w: jnp.vdot(ct, _ref(x, w)), (0, 1))(x, w),
        ):
            assert_close(a, b, RTOL["float64"])
        xs = jnp.stack([x, 2 * x])  # the caller's vmap over a batch of batches
        CALLS.clear()
        ys = jax.vmap(lambda x: f(x, w))(xs)
        assert_close(ys, jnp.stack([_ref(x, w), 2 * _ref(x, w)]), RTOL["float64"])
        assert all(kind != "BatchTracer" for kind, *_ in CALLS)
        X, K = x[0], w[:, :1].repeat(4, axis=1)  # the lesson's functions take it too
        assert_close(
            jaxconv.corr2d_multi_in_out(X, K, impl="host"),
            lax.conv_general_dilated(X[None], K, (1, 1), "VALID", precision=HIGHEST)[0],
            RTOL["float64"],
        )


@pytest.mark.parametrize("transposable", [False, True])
def test_the_named_lowering_computes_every_call_not_the_folds_stand_in(transposable):
    """Folded calls under jaxconv's own vmaps are typed by lax's convolution, which must
    never run: a lowering that returns twice the convolution is seen doubled through every
    entry point, a caller's vmaps and (when transposable) the input gradient."""
    doubled = lambda x, w, params, groups: 2 * _lax(x, w, params, groups)
    with registered("doubled", doubled, transposable=transposable):
        x, w = _data()
        f = lambda x, w: jaxconv.conv2d(x, w, **KW, impl="doubled")
        assert_close(f(x, w), 2 * _ref(x, w), RTOL["float64"])
        assert_close(jax.jit(f)(x, w), 2 * _ref(x, w), RTOL["float64"])
        xs, ws = jnp.stack([x, -x]), jnp.stack([w, 3 * w])
        ref = 2 * jax.vmap(_ref, (0, None))(xs, w)
        assert_close(jax.vmap(f, (0, None))(xs, w), ref, RTOL["float64"])
        assert_close(jax.vmap(f)(xs, ws), 2 * jax.vmap(_ref)(xs, ws), RTOL["float64"])
        X, K = x[0, :2], w[:, :2]
        conv = lambda X, K: lax.conv_general_dilated(X[None], K, (1, 1), "VALID")[0]
        assert_close(
            jaxconv.corr2d_multi_in_out(X, K, impl="doubled"), 2 * conv(X, K), RTOL["float64"]
        )
        assert_close(
            jaxconv.corr2d_multi_in(X, K[0], impl="doubled"),
            2 * conv(X, K[:1])[0],
            RTOL["float64"],
        )
        if transposable:  # the input gradient is the lowering's transpose: doubled too
            ct = jnp.ones_like(_ref(x, w))
            (ours,) = jax.linear_transpose(lambda x: f(x, w), x)(ct)
            (ref,) = jax.linear_transpose(lambda x: _ref(x, w), x)(ct)
            assert_close(ours, 2 * ref, RTOL["float64"])


@pytest.mark.parametrize("name", ["xla", "matmul", "gemm", "eigen", "dots"])
def test_the_fold_rule_matches_lax_for_every_kind_of_batch(name):
    """vmap over inputs, over weights, over both (groups), nested, with groups: each is
    folded into one convolution by the lowering's batching rule."""
    from jaxconv.lowering import ConvParams
    from jaxconv.lowering._fold import lower

    params = ConvParams((2, 1), ((1, 0), (2, 1)), (1, 2), HIGHEST)
    x, w = _data((5, 2, 4, 9, 8), (5, 6, 2, 3, 2))
    ref = lambda x, w: _lax(x, w, params, 2)
    ours = lambda x, w: lower(name, "forward", x, w, params, 2)
    for axes in [(0, None), (None, 0), (0, 0)]:
        args = (x if axes[0] == 0 else x[0], w if axes[1] == 0 else w[0])
        assert_close(jax.vmap(ours, axes)(*args), jax.vmap(ref, axes)(*args), RTOL["float64"])
    nested = lambda f: jax.vmap(jax.vmap(f, (0, None)), (None, 0))
    assert_close(nested(ours)(x, w), nested(ref)(x, w), RTOL["float64"])


@pytest.mark.parametrize("name", ["xla", "matmul", "forward_only"])
def test_three_nested_folds_of_every_kind_match_lax(name):
    """Pairs (groups) inside a batch of inputs inside a batch of weights, mapped along
    inner axes and returned along another: the folds are recorded and applied at once,
    with transposes where a moved axis has more than one element; a forward-only lowering
    keeps the primitive at the top, where a caller's vmap folds into it too."""
    from jaxconv.lowering import ConvParams
    from jaxconv.lowering._fold import lower

    params = ConvParams((1, 2), ((1, 0), (2, 1)), (2, 1), HIGHEST)
    # x: 5 batches of inputs of 3 pairs (axis 1); w: 2 batches of weights (axis 1) of 3 pairs
    x, w = _data((5, 2, 3, 4, 9, 8), (3, 2, 6, 2, 3, 2))
    with registered("forward_only", _lax, transposable=False):

        def nest(f):
            pairs = jax.vmap(f, (1, 0))  # x's axis 1 and w's axis 0 of what reaches it
            images = jax.vmap(pairs, (0, None), 2)
            return jax.vmap(images, (None, 1), 0)

        depth = None if name == "forward_only" else 3
        ours = nest(lambda x, w: lower(name, "forward", x, w, params, 2, depth=depth))
        ref = nest(lambda x, w: _lax(x, w, params, 2))
        assert_close(jax.jit(ours)(x, w), ref(x, w), RTOL["float64"])
        if name == "forward_only":  # and a caller's vmap around it all
            xs, ws = jnp.stack([x, 2 * x]), jnp.stack([w, -w])
            assert_close(jax.vmap(ours)(xs, ws), jax.vmap(ref)(xs, ws), RTOL["float64"])


LAYOUT_OPS = {"reshape", "transpose", "broadcast_in_dim", "squeeze", "jit", "custom_jvp_call"}


def _operations(f, *args):
    """``(name, output shapes)`` of every non-layout operation of ``f``'s program."""
    from jaxconv.cli.bench._timing import equations

    return sorted(
        (e.primitive.name, tuple(tuple(v.aval.shape) for v in e.outvars))
        for e in equations(jax.make_jaxpr(f)(*args))
        if e.primitive.name not in LAYOUT_OPS
    )


@pytest.mark.parametrize(
    "name, w_shape, groups",
    [
        ("xla", (6, 2, 3, 2), 2),
        ("gemm", (6, 2, 3, 2), 2),
        ("matmul", (6, 2, 3, 2), 2),
        ("gemm", (6, 4, 1, 1), 1),
        ("matmul", (8, 1, 3, 3), 4),
    ],
)
def test_the_vmap_structure_becomes_the_lowering_at_the_calls_shapes(name, w_shape, groups):
    """The lesson's vmaps (images, groups, kernels) around the sum over channels are
    traced into the lowering's own operations, once, at the call's full shapes; only
    layout operations are added, and none of jaxconv's primitives but the fence is left in
    the program (a generic batching of the lowering would add batch axes, a leftover primitive a
    call that JAX cannot transpose)."""
    from jaxconv.lowering import ConvParams
    from jaxconv.lowering._fold import lower

    x, w = _data((3, 4, 9, 8), w_shape)
    params = ConvParams((1, 1), ((1, 1), (0, 1)), (1, 1))
    ours = _operations(
        lambda x, w: jaxconv.conv2d(x, w, padding=((1, 1), (0, 1)), groups=groups, impl=name),
        x,
        w,
    )
    direct = _operations(lambda x, w: lower(name, "forward", x, w, params, groups, depth=0), x, w)
    assert ours == direct
    # the fence (lowering/_fence.py) is the identity, with JVP, transpose and batching rules
    assert not any(op.startswith("jaxconv_") and op != "jaxconv_fence" for op, _ in ours)


@pytest.mark.parametrize(
    "name, w_shape, groups",
    [("xla", (6, 4, 3, 3), 1), ("gemm", (8, 4, 1, 1), 1), ("matmul", (4, 1, 3, 3), 4)],
)
def test_the_vmap_structure_adds_nine_layout_operations(name, w_shape, groups):
    """Around the lowering's own operations the lesson's structure adds a reshape of each
    operand into its groups and out, the sum's one-output view of each operand and of its
    result, and one arrangement of each operand and of the result for all folds at once:
    nine operations. Folding at every level added 15-17 (``_fold.py``)."""
    from jaxconv._conv2d import _batched
    from jaxconv.lowering import ConvParams, Plan
    from jaxconv.lowering._fold import lower

    x = jnp.ones((3, 4, 9, 8), jnp.float32)
    w = jnp.ones(w_shape, jnp.float32)
    params = ConvParams((1, 1), ((1, 1), (0, 1)), (1, 1))
    plan = Plan(name, name, name)
    structure = jax.make_jaxpr(lambda x, w: _batched(x, w, params, groups, plan))(x, w)
    direct = jax.make_jaxpr(lambda x, w: lower(name, "forward", x, w, params, groups, depth=0))(
        x, w
    )
    assert len(structure.eqns) - len(direct.eqns) == 9


def test_a_lowering_that_breaks_the_contract_is_named_at_trace_time():
    def transposed(x, w, params, groups):
        return jnp.swapaxes(_lax(x, w, params, groups), 2, 3)

    with registered("swapped", transposed, transposable=True):
        x, w = _data()
        with pytest.raises(
            ValueError,
            match=re.escape(
                "jaxconv: lowering 'swapped' (forward pass) returned shape (3, 6, 9, 4) and "
                "dtype float64 for x (3, 4, 9, 8), w (6, 2, 3, 2), groups=2; the contract is "
                "shape (3, 6, 4, 9), dtype float64"
            ),
        ):  # traced once, at the call's own shapes, once the vmaps are folded
            jax.jit(lambda x, w: jaxconv.conv2d(x, w, **KW, impl="swapped")).trace(x, w)


def test_platforms_are_respected():
    with registered("tpu_only", _lax, transposable=True, platforms=("tpu",)):
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"conv2d: `impl` (='tpu_only') runs on ('tpu',), not on {jax.default_backend()!r}"
            ),
        ):
            jaxconv.conv2d(*_data(), **KW, impl="tpu_only")
        assert "tpu_only" not in default_impls("cpu") and "tpu_only" in default_impls("tpu")
        assert jaxconv.choose_plan(
            (3, 4, 9, 8), (6, 2, 3, 2), impl="tpu_only", platform="tpu", **KW
        ) == Plan(*["tpu_only"] * 3)


@pytest.mark.parametrize(
    "args,kwargs,exc,message",
    [
        (
            ("auto", _lax),
            {},
            ValueError,
            "register_lowering: `name` (='auto') must be an identifier "
            "other than 'auto', 'autotune' and 'reference'",
        ),
        (
            ("my conv", _lax),
            {},
            ValueError,
            "register_lowering: `name` (='my conv') must be an identifier",
        ),
        (
            ("xla", _lax),
            {"replace": True},
            ValueError,
            "register_lowering: `name` (='xla') is already a built-in lowering",
        ),
        (("fast", "lax"), {}, TypeError, "register_lowering: `conv` must be callable, got str"),
        (
            ("fast", _lax),
            {"transposable": 1},
            TypeError,
            "register_lowering: `transposable` must be a bool, got 1",
        ),
        (
            ("fast", _lax),
            {"gradient_conv": _lax},
            ValueError,
            "register_lowering: `gradient_conv` is only used by a transposable lowering",
        ),
        (
            ("fast", _lax),
            {"platforms": ("cuda",)},
            ValueError,
            "register_lowering: `platforms` (=('cuda',)) must be None or a non-empty sequence of "
            "('cpu', 'gpu', 'tpu')",
        ),
    ],
)
def test_bad_registrations_are_refused(args, kwargs, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        register_lowering(*args, **kwargs)
    assert list(lowerings()) == ["xla", "matmul", "gemm", "eigen", "dots"]


def test_names_are_registered_once_unless_replaced():
    with registered("twice", _lax):
        with pytest.raises(
            ValueError,
            match=re.escape(
                "register_lowering: `name` (='twice') is already registered (pass replace=True)"
            ),
        ):
            register_lowering("twice", _lax)
        register_lowering("twice", _lax, transposable=True, replace=True)
        assert lowerings()["twice"].transposable
    with pytest.raises(ValueError, match="unregister_lowering: `name` \\(='xla'\\) is not"):
        unregister_lowering("xla")
