"""A lean install: ``import jaxconv`` and ``jaxconv demo`` need no extra, and a missing
extra is named in one line.

Each test runs a fresh interpreter in which the extras' packages cannot be imported (a
meta-path finder refuses them), as on a machine that ran ``pip install jaxconv``.
"""

import importlib.metadata
import pathlib
import re
import subprocess
import sys

import pytest

import jaxconv

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXTRAS = (
    "flax",
    "hypothesis",
    "rich",
    "matplotlib",
    "skimage",
    "torch",
    "equinox",
    "optax",
    "sklearn",
)
BLOCKER = """
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, _NotInstalled())
"""


def _python(code: str, blocked=EXTRAS):
    return subprocess.run(
        [sys.executable, "-c", BLOCKER.format(blocked=set(blocked)) + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_core_imports_and_computes_without_any_extra():
    done = _python(
        "import jax.numpy as jnp, jaxconv\n"
        "y = jaxconv.conv2d(jnp.ones((1, 2, 5, 5)), jnp.ones((3, 2, 3, 3)), padding=1)\n"
        "assert y.shape == (1, 3, 5, 5)\n"
        f"assert not {{m for m in sys.modules if m.split('.')[0] in {set(EXTRAS)!r}}}\n"
        "print('ok')"
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_demo_runs_without_any_extra():
    done = _python("from jaxconv.cli import main\nsys.exit(main(['demo']))")
    assert done.returncode == 0, done.stderr
    assert "[[ 56.  72.]\n [104. 120.]]" in done.stdout


@pytest.mark.parametrize("module,extra", [("jaxconv.nn", "flax"), ("jaxconv.linen", "flax")])
def test_layers_without_flax_name_the_extra_in_one_line(module, extra):
    done = _python(f"import {module}")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"ImportError: {module} needs the '{extra}' extra (flax not installed): "
        f"pip install 'jaxconv[{extra}]'"
    )


@pytest.mark.parametrize(
    "args,extra",
    [
        (
            [
                "flops",
                "--in-channels",
                "4",
                "--out-channels",
                "4",
                "--kernel",
                "3",
                "--out-size",
                "8",
            ],
            "cli",
        ),
        (["show"], "cli"),
        (["bench", "--tiny"], "bench"),
    ],
)
def test_cli_subcommands_without_their_extra_say_which_in_one_line(args, extra):
    done = _python(f"from jaxconv.cli import main\nsys.exit(main({args!r}))")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert re.fullmatch(
        rf"jaxconv {args[0]}: error: jaxconv {args[0]} needs the '{extra}' "
        rf"extra \(.* not installed\): pip install 'jaxconv\[{extra}\]'\n",
        done.stderr,
    ), done.stderr


def test_runtime_dependencies_are_jax_jaxlib_and_numpy_only():
    required = [r for r in importlib.metadata.requires("jaxconv") if "extra ==" not in r]
    assert sorted(re.match(r"[\w-]+", r).group(0) for r in required) == ["jax", "jaxlib", "numpy"]


def test_version_comes_from_the_installed_metadata():
    assert jaxconv.__version__ == importlib.metadata.version("jaxconv")
