"""The dtype matrix against a float64/complex128 reference, and half-precision accumulation.

Tolerances (max error / max |reference|), for inputs already rounded to the dtype, so only
accumulation and output rounding count. Half precision accumulates in float32 (XLA's CPU and
cuDNN convolutions do it; the long-sum test below checks it on whatever backend runs it).

| dtype | CPU | GPU (default precision) |
|---|---|---|
| float16 | 2e-3 | 2e-3 |
| bfloat16 | 1.6e-2 | 1.6e-2 |
| float32 | 1e-5 | 5e-3 (TF32) |
| float64 | 1e-12 | 1e-12 |
| complex64 | 1e-5 | 5e-3 (TF32) |
"""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax

import jaxconv
from jaxconv.testing import strategies as S
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


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_accumulates_in_float32(dtype):
    """A long sum (ci*kh*kw = 4608 positive terms near 0.25) stays within one output rounding
    of the exact sum. Accumulating in the half dtype could not: past 512 (float16) or 128
    (bfloat16) a term of 0.25 is below half the spacing and is rounded away, so the sum
    would stall far below its true value of about 1150."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(0, 1, (1, 512, 5, 5)), dtype)
    w = jnp.asarray(rng.uniform(0, 1, (1, 512, 3, 3)), dtype)
    exact = lax.conv_general_dilated(x.astype(jnp.float64), w.astype(jnp.float64), (1, 1), "VALID")
    for kwargs in ({}, {"preferred_element_type": jnp.float32}):
        y = jaxconv.conv2d(x, w, **kwargs)
        assert y.dtype == (kwargs.get("preferred_element_type") or dtype)
        rel = jnp.abs(y.astype(jnp.float64) - exact) / jnp.abs(exact)
        assert float(jnp.max(rel)) <= float(jnp.finfo(dtype).eps), kwargs
