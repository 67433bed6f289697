"""The ``jaxconv`` command line (``demo``, ``flops``, ``show``, ``bench``) and the
functions behind ``demo`` and ``show``, for scripts and notebooks."""

from ._demo import main as demo
from ._main import main as main
from ._show import KERNELS as KERNELS
from ._show import kernel_stack as kernel_stack
from ._show import load_rgb as load_rgb
from ._show import render as render

__all__ = ["KERNELS", "demo", "kernel_stack", "load_rgb", "main", "render"]
