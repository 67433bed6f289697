"""The examples run on their own, as a user would run them."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(*args, timeout=300):
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_examples_use_only_the_public_api():
    for path in sorted((ROOT / "examples").glob("*.py")):
        code = path.read_text()
        assert not re.search(r"\bjaxconv(\.\w+)*\._|from jaxconv(\.\w+)* import _", code), path


def test_lesson_walkthrough_runs_and_shows_the_lesson_numbers():
    out = _run("examples/01_lesson_walkthrough.py")
    assert "[[ 56.  72.]\n [104. 120.]]" in out
    assert "[[ 96. 128.]\n  [192. 224.]]]" in out
    assert "(OK)" in out
    assert "the stack is 1 dense convolution and 0 reductions" in out


def test_rgb_channels_picture(tmp_path):
    out = _run("examples/02_rgb_channels.py", "--quick", "--out", str(tmp_path / "rgb.png"))
    assert "sum of terms == corr2d_multi_in_out (float32 round-off): True" in out
    assert (tmp_path / "rgb.png").stat().st_size > 10_000


def test_channel_design_rule():
    out = _run("examples/05_channel_design.py", "--quick")
    costs = [
        int(line.split()[-1].replace(",", ""))
        for line in out.splitlines()
        if line.startswith("Conv2d(") and "stride 2" in line
    ]
    assert len(costs) == 3 and len(set(costs)) == 1  # halve H, W and double C: same cost
    assert "(1, 128, 4, 4)" in out


def test_digits_training_quick_mode_reaches_its_accuracy():
    """--quick trains 8 epochs; seed 0 gives 95.3% on CPU. 93% leaves room for platforms."""
    out = _run("examples/03_train_digits.py", "--quick")
    accuracy = float(re.search(r"jaxconv: test accuracy ([\d.]+)%", out).group(1))
    assert accuracy >= 93.0, out


def test_port_from_torch_matches():
    out = _run("examples/04_port_from_torch.py")
    diff = float(re.search(r"max \|jaxconv - torch\| = ([\d.e+-]+)", out).group(1))
    assert diff < 1e-4
    assert out.count("-> Conv2d weight") == 4


def test_check_your_conv_passes_the_peers_and_catches_a_flipped_kernel():
    out = _run("examples/07_check_your_conv.py", "--quick")
    for name in (
        "jax.lax.conv_general_dilated",
        "flax.linen.Conv",
        "equinox.nn.Conv2d",
        "jaxconv.conv2d(impl='auto')",
    ):
        assert f"{name}: OK" in out, out
    assert "a flipped kernel is caught:" in out and "minimal case: fn(input" in out


def test_custom_lowering_registers_checks_and_trains():
    out = _run("examples/08_custom_lowering.py", "--quick")
    assert "passes ('forward',)" in out
    assert "Plan(forward='fft_host', input_grad='xla', weight_grad='xla')" in out
    assert "host calls in one grouped, batched forward pass: 1" in out
    assert "worst relative error" in out and "(OK)" in out
    losses = re.findall(r"impl='(\w+)': loss ([\d.]+) -> ([\d.]+)", out)
    assert [name for name, *_ in losses] == ["fft_host", "auto"]
    assert losses[0][1:] == losses[1][1:]  # the same training, step for step
    assert float(losses[0][2]) < 0.5 * float(losses[0][1])
