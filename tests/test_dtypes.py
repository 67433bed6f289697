"""The dtype matrix against a float64/complex128 reference, and half-precision accumulation.

Tolerances (max error / max |reference|), for inputs already rounded to the dtype, so only
accumulation and output rounding count:

| dtype | CPU | GPU (default precision) |
|---|---|---|
| float16 | 2e-3 | 2e-3 |
| bfloat16 | 1.6e-2 | 1.6e-2 |
| float32 | 1e-5 | 5e-3 (TF32) |
| float64 | 1e-12 | 1e-12 |
| complex64 | 1e-5 | 5e-3 (TF32) |
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax

import jaxconv
from tests import strategies as S
from tests.helpers import ON_GPU, assert_close, conv_kwargs, lax_conv2d

TOLERANCE = {
    "float16": 2e-3,
    "bfloat16": 1.6e-2,
    "float32": 5e-3 if ON_GPU else 1e-5,
    "float64": 1e-12,
    "complex64": 5e-3 if ON_GPU else 1e-5,
}
REFERENCE = {"complex64": np.complex128}


@settings(max_examples=10)
@given(S.cases(max_channels=2, max_kernel=3), st.sampled_from(sorted(TOLERANCE)))
def test_dtype_matrix_against_a_double_precision_reference(case, dtype):
    x, w = case.arrays(np.complex128 if dtype.startswith("complex") else np.float64)
    xd, wd = x.astype(dtype), w.astype(dtype)
    y = jaxconv.conv2d(xd, wd, **conv_kwargs(case))
    assert y.dtype == jnp.dtype(dtype)
    ref_dtype = REFERENCE.get(dtype, np.float64)
    reference = lax_conv2d(xd.astype(ref_dtype), wd.astype(ref_dtype), case)
    assert_close(y.astype(ref_dtype), reference, TOLERANCE[dtype])


def _accumulation_types(f, *args):
    return set(re.findall(r"preferred_element_type=(\w+)", str(jax.make_jaxpr(f)(*args))))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_accumulates_in_float32_unless_asked(dtype):
    x, w = jnp.ones((2, 3, 8, 8), dtype), jnp.ones((4, 3, 3, 3), dtype)
    assert _accumulation_types(jaxconv.conv2d, x, w) == {"float32"}
    assert _accumulation_types(jax.grad(lambda w: jaxconv.conv2d(x, w).sum()), w) == {"float32"}
    asked = lambda x, w: jaxconv.conv2d(x, w, preferred_element_type=dtype)
    assert _accumulation_types(asked, x, w) == {jnp.dtype(dtype).name}
    assert jaxconv.conv2d(x, w).dtype == dtype


def test_long_half_precision_sums_stay_within_one_output_rounding():
    """A long sum (ci*kh*kw = 4608 positive terms) of bfloat16 values stays within one
    bfloat16 rounding of the exact sum. (XLA's CPU backend also widens bfloat16
    accumulation on its own, so the jaxpr check above is what pins jaxconv's choice.)"""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(0, 1, (1, 512, 5, 5)), jnp.bfloat16)
    w = jnp.asarray(rng.uniform(0, 1, (1, 512, 3, 3)), jnp.bfloat16)
    exact = lax.conv_general_dilated(x.astype(jnp.float64), w.astype(jnp.float64), (1, 1),
                                     "VALID")
    ours = jaxconv.conv2d(x, w).astype(jnp.float64)
    assert float(jnp.max(jnp.abs(ours - exact) / jnp.abs(exact))) <= 2.0 ** -8
