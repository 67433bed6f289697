"""Port a small PyTorch CNN to jaxconv layer by layer, then check the outputs match.

The torch network mixes every padding mode, groups, stride and dilation. Each
torch.nn.Conv2d becomes a jaxconv.nn.Conv2d with `Conv2d.from_torch` (the live tensors
are copied; nothing is pickled or loaded from disk). Needs torch (the test extra).

  python examples/04_port_from_torch.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx

import jaxconv.nn


def torch_net() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1, padding_mode="reflect"),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=4, padding_mode="replicate"),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=2, dilation=2, groups=32, padding_mode="circular"),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 10, 1, bias=False),
    )


class Ported(nnx.Module):
    """The same network: each torch conv converted, each ReLU kept as jax.nn.relu.

    ``precision="highest"``: on NVIDIA GPUs XLA's default float32 convolution is TF32,
    which differs from torch's CPU float32 around 1e-3; the check below wants float32.
    """

    def __init__(self, net: torch.nn.Sequential):
        self.layers = nnx.List(
            [
                jaxconv.nn.Conv2d.from_torch(m, precision="highest")
                if isinstance(m, torch.nn.Conv2d)
                else None
                for m in net
            ]
        )

    def __call__(self, x):
        for layer in self.layers:
            x = jax.nn.relu(x) if layer is None else layer(x)
        return x


def main():
    net = torch_net()
    ported = Ported(net)
    for t, j in zip(net, ported.layers):
        if j is not None:
            c = j.config
            print(
                f"{str(t):100s} -> Conv2d weight {tuple(j.weight.shape)}, "
                f"padding {c.padding} ({c.padding_mode}), groups {c.groups}"
            )
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    got = np.asarray(nnx.jit(lambda m, x: m(x))(ported, jnp.asarray(x)))
    diff = float(np.max(np.abs(got - expected)))
    print(f"output {got.shape}; max |jaxconv - torch| = {diff:.2e} (float32)")
    if diff > 1e-4:
        raise SystemExit("outputs differ")


if __name__ == "__main__":
    main()
