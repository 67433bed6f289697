"""jaxconv: multi-input / multi-output channel convolution as pure JAX.

The lesson's three ideas, each a few lines:

* several input channels: a sum over channels of single-channel correlations
  (:func:`corr2d_multi_in`, ``jaxconv/_multi_in.py``);
* several output channels: a stack over kernels (:func:`corr2d_multi_in_out`,
  ``jaxconv/_multi_out.py``);
* a 1x1 convolution is a matmul over channels (:func:`corr2d_multi_in_out_1x1`,
  ``jaxconv/_one_by_one.py``).

:func:`conv2d` is a complete layer (torch semantics), :func:`conv_general_dilated`
a drop-in for ``jax.lax.conv_general_dilated``; both lower each pass (forward, input
gradient, weight gradient) with XLA's convolution, shifted matmuls or im2col, as
:func:`choose_plan` decides from measurements, and ``jaxconv.nn.Conv2d`` (Flax NNX) and
``jaxconv.linen.Conv2d`` (Flax Linen) are layers with torch's parameterisation.
"""

import importlib
import importlib.metadata

from ._checks import PADDING_MODES as PADDING_MODES
from ._contributions import channel_contributions as channel_contributions
from ._conv2d import conv2d as conv2d
from ._corr2d import corr2d as corr2d
from ._cost import ConvCost as ConvCost
from ._cost import flops as flops
from ._cost import output_shape as output_shape
from ._dropin import conv_general_dilated as conv_general_dilated
from ._layout import channels_last as channels_last
from ._multi_in import corr2d_multi_in as corr2d_multi_in
from ._multi_out import corr2d_multi_in_out as corr2d_multi_in_out
from ._one_by_one import corr2d_multi_in_out_1x1 as corr2d_multi_in_out_1x1
from .lowering import ConvParams as ConvParams
from .lowering import Lowering as Lowering
from .lowering import Plan as Plan
from .lowering import choose_plan as choose_plan
from .lowering import impls as impls
from .lowering import lowerings as lowerings
from .lowering import register_lowering as register_lowering

try:
    __version__ = importlib.metadata.version("jaxconv")
except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"


def __getattr__(name: str):
    """``jaxconv.nn`` (Flax NNX layers) and ``jaxconv.linen`` load flax on first use."""
    if name in ("nn", "linen"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'jaxconv' has no attribute {name!r}")


__all__ = [
    "PADDING_MODES",
    "ConvCost",
    "ConvParams",
    "Lowering",
    "Plan",
    "channel_contributions",
    "channels_last",
    "choose_plan",
    "conv2d",
    "conv_general_dilated",
    "corr2d",
    "corr2d_multi_in",
    "corr2d_multi_in_out",
    "corr2d_multi_in_out_1x1",
    "flops",
    "impls",
    "lowerings",
    "output_shape",
    "register_lowering",
]
