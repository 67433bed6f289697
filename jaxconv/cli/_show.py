"""``jaxconv show``: a picture of an RGB image's channels feeding several output channels.

Each named 3-D kernel has one 2-D kernel per input channel (R, G, B). The picture shows,
for each output channel, the three per-channel correlations (the terms of the lesson's
vmap over channels, :func:`jaxconv.channel_contributions`) and their sum.
"""

from __future__ import annotations

import io

import numpy as np

from .._contributions import channel_contributions

LUMA = np.array([0.299, 0.587, 0.114])
MEAN = np.full(3, 1 / 3)
_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_CENTER = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
_SHARPEN = np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])


def _per_channel(weights, kernel2d):
    return np.stack([w * kernel2d for w in weights])


KERNELS = {
    "edge-x": ("vertical edges: Sobel-x on the mean of R, G, B", _per_channel(MEAN, _SOBEL_X)),
    "edge-y": ("horizontal edges: Sobel-y on the mean of R, G, B", _per_channel(MEAN, _SOBEL_X.T)),
    "blur": ("5x5 box blur of the mean of R, G, B", _per_channel(MEAN, np.full((5, 5), 1 / 25))),
    "sharpen": ("sharpened mean of R, G, B", _per_channel(MEAN, _SHARPEN)),
    "red-green": ("colour opponent: +R - G (a 1x1 mix)", _per_channel([1.0, -1.0, 0.0], _CENTER)),
    "blue-yellow": (
        "colour opponent: +B - (R + G)/2 (a 1x1 mix)",
        _per_channel([-0.5, -0.5, 1.0], _CENTER),
    ),
    "luma": ("grey level: 0.299 R + 0.587 G + 0.114 B (a 1x1 mix)", _per_channel(LUMA, _CENTER)),
}
DEFAULT_KERNELS = ("edge-x", "edge-y", "blur", "blue-yellow")
MAX_SIDE = 192  # images are downscaled to this many pixels on their longer side


def kernel_stack(names) -> np.ndarray:
    """``(co, 3, k, k)``: the named kernels, zero-padded to a common odd size."""
    unknown = [n for n in names if n not in KERNELS]
    if unknown or not names:
        raise ValueError(
            f"unknown kernel name(s) {unknown or names}; choose from {', '.join(KERNELS)}"
        )
    k = max(KERNELS[n][1].shape[-1] for n in names)
    out = np.zeros((len(names), 3, k, k))
    for i, n in enumerate(names):
        kern = KERNELS[n][1]
        p = (k - kern.shape[-1]) // 2
        out[i, :, p : p + kern.shape[-1], p : p + kern.shape[-1]] = kern
    return out


def load_rgb(path=None) -> np.ndarray:
    """``(3, H, W)`` floats in [0, 1]; grayscale is repeated over R, G, B, alpha is dropped.

    ``None`` loads scikit-image's bundled ``astronaut``. Raises ``ValueError`` with a one-line
    reason for a missing or unreadable file.
    """
    import skimage.data
    import skimage.io
    import skimage.transform
    import skimage.util

    if path is None:
        image = skimage.data.astronaut()
    else:
        try:
            # decoded from bytes read here: on a file that is not an image, imageio's
            # backends left the file open (a ResourceWarning)
            with open(path, "rb") as file:
                image = skimage.io.imread(io.BytesIO(file.read()))
        except FileNotFoundError:
            raise ValueError(f"no such file: {path}") from None
        except Exception as err:  # noqa: BLE001 - any decoder failure means "not an image"
            raise ValueError(f"cannot read {path} as an image ({type(err).__name__})") from None
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4) or min(image.shape[:2]) < 8:
        raise ValueError(
            f"expected an RGB, RGBA or grayscale image of at least 8x8 pixels, "
            f"got an array of shape {image.shape}"
        )
    image = skimage.util.img_as_float(image[..., :3])
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        shape = (round(image.shape[0] * scale), round(image.shape[1] * scale))
        image = skimage.transform.resize(image, shape, anti_aliasing=True)
    return np.moveaxis(image, -1, 0)


def figure_size(n_kernels: int) -> tuple[float, float]:
    """Inches: 5 columns by (1 + kernels) rows of 2.2-inch panels."""
    return 5 * 2.2, (1 + n_kernels) * 2.2


def render(X: np.ndarray, names, out_path: str, dpi: int = 100) -> np.ndarray:
    """Draws the picture to ``out_path`` (PNG); returns the summed outputs ``(co, H, W)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K = kernel_stack(names)
    terms = np.asarray(channel_contributions(X, K, padding="same"))  # (co, 3, H, W)
    Y = terms.sum(axis=1)
    rows = 1 + len(names)
    fig, axes = plt.subplots(
        rows,
        5,
        figsize=figure_size(len(names)),
        dpi=dpi,
        gridspec_kw=dict(left=0.01, right=0.99, top=0.95, bottom=0.01, wspace=0.05, hspace=0.25),
    )
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].imshow(np.moveaxis(X, 0, -1))
    axes[0, 0].set_title("input (3, H, W)", fontsize=9)
    for c, (name, cmap) in enumerate(zip("RGB", ("Reds", "Greens", "Blues"))):
        axes[0, c + 1].imshow(X[c], cmap=cmap, vmin=0, vmax=1)
        axes[0, c + 1].set_title(f"channel {name} = X[{c}]", fontsize=9)
    axes[0, 4].axis("off")
    axes[0, 4].text(
        0.0,
        0.5,
        "row o: kernel K[o],\nthen corr2d(X[c], K[o, c])\nfor c = R, G, B\n"
        "(the vmap over channels),\nthen their sum:\noutput channel o",
        fontsize=9,
        va="center",
    )
    for o, name in enumerate(names):
        row = axes[o + 1]
        k = K[o]
        gap = np.full((k.shape[1], 1), np.nan)
        row[0].imshow(
            np.concatenate([k[0], gap, k[1], gap, k[2]], axis=1),
            cmap="coolwarm",
            vmin=-np.abs(k).max(),
            vmax=np.abs(k).max(),
        )
        row[0].set_title(f"K[{o}] '{name}': R | G | B", fontsize=9)
        lim = max(np.abs(terms[o]).max(), np.abs(Y[o]).max(), 1e-6)
        for c, ch in enumerate("RGB"):
            row[c + 1].imshow(terms[o, c], cmap="RdBu_r", vmin=-lim, vmax=lim)
            row[c + 1].set_title(f"corr2d(X[{ch}], K[{o},{ch}])", fontsize=9)
        row[4].imshow(Y[o], cmap="RdBu_r", vmin=-lim, vmax=lim)
        row[4].set_title(f"sum = output channel {o}", fontsize=9)
    fig.suptitle(
        "Multi-input, multi-output channels: each output channel is a sum over input channels",
        fontsize=11,
    )
    fig.savefig(out_path, dpi=dpi)
    plt.close(fig)
    return Y
