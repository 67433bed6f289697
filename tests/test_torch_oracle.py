"""PyTorch as an independent oracle: conv2d equals torch.nn.Conv2d, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import jaxconv
from tests.helpers import RTOL, assert_close

torch = pytest.importorskip("torch", reason="the torch oracle needs torch==2.13.0 (test extra)")


@st.composite
def torch_cases(draw):
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    groups = draw(st.integers(1, 3))
    ci, co = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    kind = draw(st.sampled_from(["same", "valid", "int", "pair"]))
    stride = (1, 1) if kind == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = {"same": "same", "valid": "valid", "int": draw(st.integers(0, 3)),
               "pair": (draw(st.integers(0, 3)), draw(st.integers(0, 3)))}[kind]
    size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    pads = [(k - 1) * d for k, d in zip(kernel, dilation)] if kind == "same" else (
        [0, 0] if kind == "valid" else
        [2 * p for p in ((padding, padding) if kind == "int" else padding)])
    for n, k, d, p in zip(size, kernel, dilation, pads):
        assume(n + p >= (k - 1) * d + 1)  # a non-empty output
        if mode == "reflect":
            assume(p - p // 2 < n)  # torch: reflect padding smaller than the input
        if mode == "circular":
            assume(p - p // 2 <= n)  # torch: circular padding wraps at most once
    n = draw(st.sampled_from([None, 1, 2]))
    bias = draw(st.booleans())
    return dict(mode=mode, groups=groups, ci=ci, co=co, kernel=kernel, dilation=dilation,
                stride=stride, padding=padding, size=size, n=n, bias=bias,
                seed=draw(st.integers(0, 2**32 - 1)))


@given(torch_cases())
def test_conv2d_equals_torch_forward_and_gradients(c):
    layer = torch.nn.Conv2d(
        c["ci"], c["co"], c["kernel"], stride=c["stride"], padding=c["padding"],
        dilation=c["dilation"], groups=c["groups"], bias=c["bias"], padding_mode=c["mode"],
        dtype=torch.float64,
    )
    rng = np.random.default_rng(c["seed"])
    x_shape = ((c["n"],) if c["n"] else ()) + (c["ci"], *c["size"])
    x_np = rng.standard_normal(x_shape)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = layer(xt)
    ct_np = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(ct_np))

    w = jnp.asarray(layer.weight.detach().numpy())
    b = jnp.asarray(layer.bias.detach().numpy()) if c["bias"] else None

    def f(x, w, b):
        return jaxconv.conv2d(x, w, b, stride=c["stride"], padding=c["padding"],
                              dilation=c["dilation"], groups=c["groups"],
                              padding_mode=c["mode"])

    y, vjp = jax.vjp(f, jnp.asarray(x_np), w, b)
    assert_close(y, yt.detach().numpy(), RTOL["float64"])
    gx, gw, gb = vjp(jnp.asarray(ct_np))
    assert_close(gx, xt.grad.numpy(), RTOL["float64"])
    assert_close(gw, layer.weight.grad.numpy(), RTOL["float64"])
    if c["bias"]:
        assert_close(gb, layer.bias.grad.numpy(), RTOL["float64"])
