"""The activation-function figure: the lessons' four functions, computed by torch, drawn to a PNG."""

import subprocess
import sys

import torch

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "activations.py"
sys.path.insert(0, str(SCRIPT.parent))
import activations  # noqa: E402


def test_the_curves_are_the_lessons_functions():
    x, ys = activations.curves()
    assert len(x) == 200 and x[0] == -5 and x[-1] == 5
    assert torch.equal(ys["relu"], x.clamp(min=0))
    assert torch.allclose(ys["sigmoid"], 1 / (1 + torch.exp(-x)))
    assert torch.allclose(ys["tanh"], (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)))
    assert torch.allclose(ys["softplus"], torch.log1p(torch.exp(x)))


def test_the_script_writes_a_png(tmp_path):
    figure = tmp_path / "activations.png"
    done = subprocess.run([sys.executable, str(SCRIPT), "--figure", str(figure)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure.stat().st_size > 10_000  # four drawn panels, not an empty canvas
