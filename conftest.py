"""Test configuration shared by the suite and the doctests.

* Strict JAX: rank promotion raises, dtype promotion is strict.
* Tests run with float64 enabled (the exact oracle); doctests run in JAX's defaults,
  as a user would see them.
* Hypothesis profiles, picked by ``JAXCONV_HYPOTHESIS_PROFILE``: ``ci`` (default;
  derandomized, no database, no deadline) and ``thorough`` (10x the examples).
* ``impl="autotune"`` keeps its choices in memory: the suite never reads or writes the
  user's cache file (the tests of that file point it at a temporary one).
"""

import os

import jax
import pytest
from hypothesis import HealthCheck, settings

os.environ["JAXCONV_AUTOTUNE_CACHE"] = ""
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

CI_EXAMPLES = 25
settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=10 * CI_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("JAXCONV_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _x64_for_tests(request):
    """float64 in tests, JAX's defaults (float32) in doctests."""
    with jax.enable_x64(not isinstance(request.node, pytest.DoctestItem)):
        yield
