"""The ``jaxconv`` command line: ``demo``, ``flops``, ``show`` and ``bench``."""

from ._main import main as main

__all__ = ["main"]
