"""The `jaxconv` command: end to end in a subprocess, its argument errors and help in
this process (the same ``main``, without a Python start and a JAX import per case)."""

import pathlib
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def jaxconv(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "jaxconv", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def in_process(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``jaxconv *args`` run by its ``main`` here, in
    JAX's defaults (float32), from the repository's root."""
    from jaxconv.cli._main import main

    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    with jax.enable_x64(False):
        try:
            code = main(list(args))
        except SystemExit as done:  # argparse: errors and --help
            code = done.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def _layer(channels, size):
    return ["--in-channels", str(channels), "--out-channels", str(channels), "--kernel", "3",
            "--out-size", str(size)]  # fmt: skip


FLOPS = ["flops", *_layer(4, 8)]


def test_console_script_is_installed():
    script = pathlib.Path(sys.executable).parent / "jaxconv"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("demo", "flops", "show", "bench"):
        assert command in done.stdout


def test_demo_walks_through_the_lesson():
    done = jaxconv("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[[ 56.  72.]\n [104. 120.]]" in out
    assert "[[ 96. 128.]\n  [192. 224.]]]" in out
    diff = float(re.search(r"sum \|matmul - convolution\| = ([\d.e+-]+)  \(OK\)", out).group(1))
    assert diff < 1e-6
    assert "the stack is 1 dense convolution and 0 reductions" in out
    assert "(co, ci, mh, mw)" in out and "summed over ci they give Y: True" in out
    assert "1,024,000,000 multiply-adds per sample" in out


def test_flops_reproduces_the_lesson_estimate():
    done = jaxconv(
        "flops",
        "--in-channels",
        "100",
        "--out-channels",
        "100",
        "--kernel",
        "5",
        "--out-size",
        "64",
        "--layers",
        "10",
        "--samples",
        "1000000",
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "1,024,000,000" in out and "2,048,000,000" in out  # per sample, one layer
    assert "1.024e+16" in out  # the lesson's "10 PFLOP" (multiply-adds)
    assert "19.0 h" in out  # the lesson's "18 h" on a 0.15 T/s CPU
    assert "14.2 min" in out  # the lesson's "14 min" on a 12 T/s GPU
    assert "The lesson's '1 GFLOP' counts multiply-adds." in out


def test_flops_measure_adds_this_machine():
    done = jaxconv(
        "flops",
        "--in-channels",
        "8",
        "--out-channels",
        "8",
        "--kernel",
        "3",
        "--out-size",
        "16",
        "--measure",
    )
    assert done.returncode == 0, done.stderr
    assert "this machine, measured" in done.stdout and "GFLOP/s" in done.stdout


def _panels(image, rows, cols=5, left=0.01, right=0.99, top=0.95, bottom=0.01):
    """The central half of each grid cell of the figure (the layout `show` draws)."""
    h, w = image.shape[:2]
    cell_h = (top - bottom) * h / rows
    cell_w = (right - left) * w / cols
    for r in range(rows):
        for c in range(cols):
            y0 = int((1 - top) * h + (r + 0.25) * cell_h)
            x0 = int(left * w + (c + 0.25) * cell_w)
            yield r, c, image[y0 : y0 + int(cell_h / 2), x0 : x0 + int(cell_w / 2), :3]


def test_show_writes_a_png_with_nonblank_panels(tmp_path):
    import matplotlib.image

    out = tmp_path / "channels.png"
    done = jaxconv("show", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "4 output channels" in done.stdout
    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (1100, 1100)  # 5 x 5 panels of 2.2 in at 100 dpi
    for r, c, panel in _panels(image, rows=5):
        assert panel.std() > 0.01, f"panel row {r} column {c} is blank"


def test_show_accepts_grayscale_and_rgba_files(tmp_path):
    import matplotlib.image

    rng = np.random.default_rng(0)
    gray = tmp_path / "gray.png"
    rgba = tmp_path / "rgba.png"
    matplotlib.image.imsave(gray, rng.random((40, 30)), cmap="gray")
    matplotlib.image.imsave(rgba, rng.random((20, 24, 4)))
    for path in (gray, rgba):
        out = tmp_path / f"{path.stem}-out.png"
        done = jaxconv("show", str(path), "--kernels", "luma,sharpen", "--out", str(out))
        assert done.returncode == 0, done.stderr
        assert matplotlib.image.imread(out).shape[:2] == (660, 1100)


@pytest.mark.parametrize(
    "args,code,line",
    [
        (["show", "missing.png"], 1, "jaxconv show: error: no such file: missing.png"),
        (
            ["show", "pyproject.toml"],
            1,
            "jaxconv show: error: cannot read pyproject.toml as an image",
        ),
        (
            ["show", "--kernels", "edge-x,wobble"],
            1,
            "jaxconv show: error: unknown kernel name(s) ['wobble']; choose from edge-x",
        ),
        (
            [
                "flops",
                "--in-channels",
                "-3",
                "--out-channels",
                "4",
                "--kernel",
                "3",
                "--out-size",
                "8",
            ],
            2,
            "jaxconv flops: error: argument --in-channels: expected a positive integer, got -3",
        ),
        (
            [
                "flops",
                "--in-channels",
                "4",
                "--out-channels",
                "4",
                "--kernel",
                "x",
                "--out-size",
                "8",
            ],
            2,
            "jaxconv flops: error: argument --kernel: expected a positive integer, got 'x'",
        ),
        (
            [
                "flops",
                "--in-channels",
                "4",
                "--out-channels",
                "6",
                "--kernel",
                "3",
                "--out-size",
                "8",
                "--groups",
                "4",
            ],
            1,
            "jaxconv flops: error: flops: `groups` (=4) must divide `out_channels` (=6)",
        ),
        (
            [*FLOPS, "--samples", "1" + "0" * 400],
            2,
            "jaxconv flops: error: argument --samples: expected a positive integer at most",
        ),
        (
            ["flops", *_layer(100000, 1000), "--measure"],
            1,
            "jaxconv flops: error: --measure: the layer's arrays need",
        ),
        (["show", "--out", "x.xyz"], 1, "jaxconv show: error: cannot write x.xyz: unknown image"),
        (
            ["show", "--dpi", "100000"],
            2,
            "jaxconv show: error: argument --dpi: expected a positive integer at most 600",
        ),
        (["flops"], 2, "jaxconv flops: error: the following arguments are required"),
        (
            ["bench", "--reps", "0"],
            2,
            "jaxconv bench: error: argument --reps: expected a positive integer, got 0",
        ),
        (["bench", "--cases", "huge"], 2, "jaxconv bench: error: argument --cases: invalid choice"),
        (
            ["bench", "--tiny", "--cases", "1x1", "--no-torch", "--json", "no/such/dir/b.json"],
            1,
            "jaxconv bench: error: cannot write no/such/dir/b.json: No such file or directory",
        ),
        (["frobnicate"], 2, "jaxconv: error: argument command: invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_give_one_line_and_nonzero_exit(args, code, line, capsys, monkeypatch):
    status, _, err = in_process(capsys, monkeypatch, *args)
    assert status == code
    assert err.startswith(line), err
    assert err.count("\n") == 1


def test_show_names_the_file_it_really_writes(tmp_path):
    """No suffix: .png is added; a directory: the default name inside it."""
    for out, written in ((tmp_path / "noext", tmp_path / "noext.png"), (tmp_path, None)):
        written = written or tmp_path / "jaxconv-channels.png"
        arg = str(out) + ("/" if out == tmp_path else "")
        done = jaxconv("show", "--kernels", "blur", "--out", arg)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"wrote {written}:") and written.exists()


def test_check_runs_the_property_suite_on_an_importable_function():
    done = jaxconv("check", "jaxconv:conv2d", "--max-examples", "3", "--no-derivatives")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("jaxconv:conv2d: check_conv (torch convention)")
    bad = jaxconv("check", "jax.numpy:add", "--max-examples", "2")
    assert bad.returncode == 1
    assert bad.stderr.startswith("jaxconv check: error: jax.numpy:add failed:\nproperty 'values'")
    assert "the function raised TypeError" in bad.stderr and "minimal case" in bad.stderr
    missing = jaxconv("check", "jaxconv:nothing")
    assert missing.returncode == 1
    assert missing.stderr == "jaxconv check: error: 'jaxconv' has no attribute 'nothing'\n"


@pytest.mark.parametrize("command", ["demo", "flops", "show", "bench", "check"])
def test_every_subcommand_has_help_with_an_example(command, capsys, monkeypatch):
    status, out, _ = in_process(capsys, monkeypatch, command, "--help")
    assert status == 0
    assert "example" in out and f"jaxconv {command}" in out
