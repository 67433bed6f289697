"""Argument types shared by the subcommands."""

from __future__ import annotations

import argparse

MAX_INT = 2**53  # larger counts lose their exactness in the floats they are printed as


def bounded_int(maximum: int):
    """An argparse type: an integer in ``[1, maximum]``, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a positive integer, got {text!r:.40}"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
        if value > maximum:
            raise argparse.ArgumentTypeError(
                f"expected a positive integer at most {maximum}, got {text:.40}"
                + ("..." if len(text) > 40 else "")
            )
        return value

    return parse


positive_int = bounded_int(MAX_INT)
"""An integer in ``[1, 2**53]``."""


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")
