"""Fixtures for every test."""

import pytest

from jaxconv.lowering import _cpu


@pytest.fixture(autouse=True)
def intel_rules(monkeypatch):
    """``impl="auto"``'s CPU rules as on the Xeons they were first set on, whichever CPU
    runs the tests: a few differ on AMD's (``_cpu.amd``), and a test of those says so."""
    monkeypatch.setattr(_cpu, "amd", lambda: False)
