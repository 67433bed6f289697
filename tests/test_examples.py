"""The examples run on their own, as a user would run them."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_lesson_walkthrough_runs_and_shows_the_lesson_numbers():
    out = subprocess.run([sys.executable, "examples/01_lesson_walkthrough.py"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert "[[ 56.  72.]\n [104. 120.]]" in out
    assert "[[ 96. 128.]\n  [192. 224.]]]" in out
    assert "(OK)" in out
    assert "the stack is 1 dense convolution and 0 reductions" in out
