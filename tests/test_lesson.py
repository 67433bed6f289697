"""The lesson's worked numbers are exact test vectors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv

X = np.array(
    [
        [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
        [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
    ],
    dtype=np.float32,
)
K = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]], dtype=np.float32)
STACK = np.array(
    [
        [[56.0, 72.0], [104.0, 120.0]],
        [[76.0, 100.0], [148.0, 172.0]],
        [[96.0, 128.0], [192.0, 224.0]],
    ],
    dtype=np.float32,
)


@pytest.mark.parametrize("impl", jaxconv.impls())
def test_multi_in_sum(impl):
    y = jaxconv.corr2d_multi_in(X, K, impl=impl)
    np.testing.assert_array_equal(y, [[56.0, 72.0], [104.0, 120.0]])
    assert y.dtype == jnp.float32


def test_multi_in_is_the_sum_of_single_channel_correlations():
    per_channel = [jaxconv.corr2d(X[c], K[c]) for c in range(2)]
    np.testing.assert_array_equal(per_channel[0] + per_channel[1], jaxconv.corr2d_multi_in(X, K))


@pytest.mark.parametrize("impl", jaxconv.impls())
def test_three_kernel_stack(impl):
    K3 = np.stack([K, K + 1, K + 2])
    assert K3.shape == (3, 2, 2, 2)
    np.testing.assert_array_equal(jaxconv.corr2d_multi_in_out(X, K3, impl=impl), STACK)
    np.testing.assert_array_equal(jaxconv.conv2d(X[None], K3)[0], STACK)


def test_one_by_one_is_a_matmul():
    kx, kk = jax.random.split(jax.random.key(0))
    X1 = jax.random.normal(kx, (3, 3, 3))
    K1 = jax.random.normal(kk, (2, 3, 1, 1))
    y1 = jaxconv.corr2d_multi_in_out_1x1(X1, K1)
    y2 = jaxconv.corr2d_multi_in_out(X1, K1)
    assert y1.shape == y2.shape == (2, 3, 3)
    assert float(jnp.abs(y1 - y2).sum()) < 1e-6
    # ... and a fully connected layer at every pixel
    np.testing.assert_allclose(y1[:, 1, 2], K1[:, :, 0, 0] @ X1[:, 1, 2], rtol=1e-6)
