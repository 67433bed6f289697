"""PyTorch as an independent oracle: conv2d equals torch.nn.Conv2d, values and gradients."""

import jax
import jax.numpy as jnp
from hypothesis import given

import jaxconv
from jaxconv.testing import strategies as S
from tests.helpers import RTOL, assert_close, torch_reference


@given(S.torch_cases())
def test_conv2d_equals_torch_forward_and_gradients(c):
    layer, x, y_torch, ct, grads = torch_reference(c)
    w = jnp.asarray(layer.weight.detach().numpy())
    b = jnp.asarray(layer.bias.detach().numpy()) if c["bias"] else None

    def f(x, w, b):
        return jaxconv.conv2d(
            x,
            w,
            b,
            stride=c["stride"],
            padding=c["padding"],
            dilation=c["dilation"],
            groups=c["groups"],
            padding_mode=c["mode"],
        )

    @jax.jit  # one program: eagerly, each operation would compile one for its shape
    def value_and_vjp(x, w, b, ct):
        y, vjp = jax.vjp(f, x, w, b)
        return y, *vjp(ct)

    y, gx, gw, gb = value_and_vjp(x, w, b, ct)
    assert_close(y, y_torch, RTOL["float64"])
    assert_close(gx, grads["x"], RTOL["float64"])
    assert_close(gw, grads["weight"], RTOL["float64"])
    if c["bias"]:
        assert_close(gb, grads["bias"], RTOL["float64"])
