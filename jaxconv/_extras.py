"""Optional dependencies: each feature names the extra that installs it, in one line."""

from __future__ import annotations

import importlib.util

EXTRAS = {
    "flax": ("flax",),
    "testing": ("hypothesis",),
    "cli": ("rich", "matplotlib", "skimage"),
    "bench": ("flax", "rich"),
}
"""The extras of ``pyproject.toml`` and the top-level modules each must provide."""


def _absent(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a broken or blocked installation counts as absent
        return True


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [m for m in EXTRAS[extra] if _absent(m)]


def require(feature: str, extra: str) -> None:
    """Raises a one-line ``ImportError`` if ``extra``'s modules are not installed."""
    absent = missing(extra)
    if absent:
        raise ImportError(
            f"{feature} needs the '{extra}' extra ({', '.join(absent)} not "
            f"installed): pip install 'jaxconv[{extra}]'"
        )
