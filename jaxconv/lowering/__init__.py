"""Lowerings: the algorithms that compute one dense or grouped 2-D convolution.

``impl=`` picks a lowering for a call, or ``"auto"`` a *plan*: one lowering per pass
(forward, input gradient, weight gradient), by the rules in ``_plan.py``; ``"autotune"``
times the candidates of each pass instead (``_tune.py``). jaxconv's own lowerings are
``"xla"`` (``_xla.py``), ``"matmul"`` (``_matmul.py``), ``"gemm"`` (``_gemm.py``) and
``"eigen"`` (``_eigen.py``: ``"xla"`` shaped for XLA's CPU backend) and ``"dots"``
(``_dots.py``: the taps as channels-last matmuls, half precision summed in float32);
:func:`register_lowering` adds one of yours (the contract is in ``_registry.py``).
"""

from .._checks import ConvParams as ConvParams

# isort: off
# The built-ins register when imported, in this order (it is the order of `impls()`).
from . import _xla  # noqa: F401
from . import _matmul  # noqa: F401
from . import _gemm  # noqa: F401
from . import _eigen  # noqa: F401
from . import _dots  # noqa: F401

# isort: on
from ._plan import Plan as Plan
from ._plan import choose_plan as choose_plan
from ._registry import PASSES as PASSES
from ._registry import Lowering as Lowering
from ._registry import impls as impls
from ._registry import lowerings as lowerings
from ._registry import register_lowering as register_lowering
from ._registry import unregister_lowering as unregister_lowering
from ._tune import clear_autotune_cache as clear_autotune_cache

__all__ = [
    "PASSES",
    "ConvParams",
    "Lowering",
    "Plan",
    "choose_plan",
    "clear_autotune_cache",
    "impls",
    "lowerings",
    "register_lowering",
    "unregister_lowering",
]
