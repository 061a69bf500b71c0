"""The files a finished run leaves for programs that know nothing of fizzlightning or Lightning.

- ``model.pt``: the plain network's ``state_dict`` (``torch.load(..., weights_only=True)``, then
  ``load_state_dict`` into ``fizzlightning.nets`` or, for FizzBuzz, the lessons' own ``torch.nn.Sequential``);
- ``model.pt2``: a ``torch.export`` program, weights and graph together: ``torch.export.load(path).module()``
  is a callable network for any batch size;
- ``model.onnx`` (``fizzlightning export --format onnx``, the ``onnx`` extra): the same for ONNX Runtime.

Each program is checked against the checkpoint's network on the model's fixed batch (``export_net``) before
it is kept: the outputs must agree to ``TOLERANCE``.
"""

import copy
import io
from pathlib import Path

import torch
from torch import nn

from fizzlightning.checkpoints import atomic_write
from fizzlightning.checks import RunError

TOLERANCE = 1e-6
FILES = {"pt": "model.pt", "pt2": "model.pt2", "onnx": "model.onnx"}


def _plain(net: nn.Module) -> nn.Module:
    return copy.deepcopy(net).cpu().eval()


def _check(name: str, expected: torch.Tensor, got: torch.Tensor) -> None:
    difference = float((expected - got).abs().max())
    if not difference <= TOLERANCE:
        raise RunError(f"The exported {name} differs from the checkpoint's network by {difference:g} (> {TOLERANCE}).")


def export_state_dict(net: nn.Module, out: Path) -> None:
    state = {key: value.cpu() for key, value in net.state_dict().items()}
    atomic_write(out, lambda tmp: torch.save(state, tmp))


def export_program(net: nn.Module, inputs: torch.Tensor, out: Path) -> None:
    """``torch.export`` with a dynamic batch dimension, checked on ``inputs`` (batch, features)."""
    net = _plain(net)
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (inputs[:2],), dynamic_shapes=({0: batch},))
    with torch.no_grad():
        _check("program", net(inputs), program.module()(inputs))
    buffer = io.BytesIO()  # torch.export.save wants a name ending in .pt2, or a buffer
    torch.export.save(program, buffer)
    atomic_write(out, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def export_onnx(net: nn.Module, inputs: torch.Tensor, out: Path) -> None:
    """ONNX with a dynamic batch dimension, checked in ONNX Runtime on ``inputs``."""
    import onnxruntime  # the onnx extra; the caller has checked that it is installed

    net = _plain(net)
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(net, (inputs[:2],), dynamic_shapes=({0: batch},), dynamo=True, verbose=False)
    atomic_write(out, lambda tmp: program.save(str(tmp)))
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})
    with torch.no_grad():
        _check("ONNX model", net(inputs), torch.from_numpy(got))
