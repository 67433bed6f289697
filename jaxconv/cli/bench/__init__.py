"""``jaxconv bench``: jaxconv against every peer on one shape suite, in one run.

``_suite.py`` holds the shapes, ``_peers.py`` builds each library's entry,
``_timing.py`` compiles and times them in turns, ``_report.py`` runs the suite and
prints the table.
"""

from ._report import build_parser as build_parser
from ._report import default_impls as default_impls
from ._report import failed as failed
from ._report import main as main
from ._report import report as report
from ._report import run as run
from ._report import summarize as summarize
from ._suite import PEERS as PEERS
from ._suite import SUITE as SUITE
from ._suite import TINY as TINY
from ._suite import Case as Case
from ._timing import time_interleaved as time_interleaved

__all__ = [
    "PEERS",
    "SUITE",
    "TINY",
    "Case",
    "build_parser",
    "default_impls",
    "failed",
    "main",
    "report",
    "run",
    "summarize",
    "time_interleaved",
]
