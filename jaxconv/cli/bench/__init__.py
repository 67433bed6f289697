"""``jaxconv bench``: jaxconv against every peer on one shape suite, in one run."""

from ._report import (
    SUITE as SUITE,
    TINY as TINY,
    Case as Case,
    PEERS as PEERS,
    build_parser as build_parser,
    main as main,
    report as report,
    run as run,
    summarize as summarize,
    time_interleaved as time_interleaved,
)
