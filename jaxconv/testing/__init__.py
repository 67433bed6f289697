"""Property-based tests for any 2-D convolution (needs the ``testing`` extra).

``check_conv(fn, convention)`` runs named properties (:data:`PROPERTIES`) of ``fn`` on
drawn cases against ``lax.conv_general_dilated`` and returns a :class:`CheckReport`, or
raises a :class:`ConvCheckError` (an ``AssertionError``) naming the property and the
minimal case. :mod:`jaxconv.testing.strategies` holds the hypothesis strategies.
"""

from .._extras import require

require("jaxconv.testing", "testing")

from . import strategies as strategies  # noqa: E402
from ._check import PROPERTIES as PROPERTIES  # noqa: E402
from ._check import CheckReport as CheckReport  # noqa: E402
from ._check import ConvCheckError as ConvCheckError  # noqa: E402
from ._check import check_conv as check_conv  # noqa: E402

__all__ = ["PROPERTIES", "CheckReport", "ConvCheckError", "check_conv", "strategies"]
