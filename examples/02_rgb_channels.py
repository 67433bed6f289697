"""An RGB image's three channels feeding several output channels, as a PNG.

For each output channel: its 3-D kernel (one 2-D kernel per input channel), the three
per-channel correlations (jaxconv.channel_contributions: the terms of the vmap over
channels) and their sum. Same as `jaxconv show`.

  python examples/02_rgb_channels.py [IMAGE] [--out rgb_channels.png] [--quick]
"""

import argparse

import numpy as np

import jaxconv
from jaxconv.cli import kernel_stack, load_rgb, render


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", help="default: scikit-image's astronaut")
    ap.add_argument("--out", default="rgb_channels.png")
    ap.add_argument("--quick", action="store_true", help="a low-resolution picture")
    args = ap.parse_args(argv)
    X = load_rgb(args.image)
    names = ["edge-x", "blur", "blue-yellow"]
    Y = render(X, names, args.out, dpi=50 if args.quick else 100)
    # the picture's last column is the lesson's multi-input, multi-output correlation:
    direct = np.asarray(jaxconv.corr2d_multi_in_out(X, kernel_stack(names), padding="same"))
    print(
        f"wrote {args.out}; input {X.shape} (ci, H, W), kernels "
        f"{kernel_stack(names).shape} (co, ci, kh, kw), outputs {Y.shape} (co, H, W); "
        f"sum of terms == corr2d_multi_in_out (float32 round-off): "
        f"{np.allclose(Y, direct, rtol=1e-5, atol=1e-5)}"
    )


if __name__ == "__main__":
    main()
