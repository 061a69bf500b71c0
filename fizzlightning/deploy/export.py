"""The files a finished run leaves for programs that know nothing of fizzlightning or Lightning.

- ``model.pt``: the plain network's ``state_dict`` (``torch.load(..., weights_only=True)``, then
  ``load_state_dict`` into ``fizzlightning.lessons.nets`` or, for FizzBuzz, the lessons' own ``torch.nn.Sequential``,
  with ``Sine`` in place of ``ReLU`` for ``activation: sin``);
- ``model.pt2``: a ``torch.export`` program, weights and graph together: ``torch.export.load(path).module()``
  is a callable network for any batch size;
- ``model.onnx`` (``fizzlightning export --format onnx``, the ``onnx`` extra): the same for ONNX Runtime.

``fizzlightning export --config CONFIG [--ckpt_path PATH] [--format onnx|pt2|pt]`` writes any of them for the
checkpoint the run rule picks (``layout.find_start``, as ``test`` and ``serve``), into that checkpoint's run.

Each program is checked against the checkpoint's network on the model's fixed inputs (``export_net``, a
bounded set) before it is kept, ``CHECK_BATCH`` rows at a time: the outputs must agree to ``TOLERANCE``.
"""

import copy
import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from fizzlightning import extras
from fizzlightning.errors import OneLineParser, RunError
from fizzlightning.files import atomic_write, torch_bytes
from fizzlightning.runs import layout
from fizzlightning.runs.checkpoints import check_config_model, load_checkpoint, rebuild_model

TOLERANCE = 1e-6
CHECK_BATCH = 1024  # rows per forward pass of a check: its memory does not grow with the inputs
FILES = {"pt": "model.pt", "pt2": "model.pt2", "onnx": "model.onnx"}


def _plain(net: nn.Module) -> nn.Module:
    return copy.deepcopy(net).cpu().eval()


def _batched_difference(name: str, net: nn.Module, run, inputs: torch.Tensor, relative: bool = False) -> float:
    """The largest difference of ``run`` (the exported program) from ``net`` over ``inputs``, ``CHECK_BATCH`` rows at
    a time; a ``RunError`` if it is over ``TOLERANCE`` (``relative``: times the largest output, see ``export_onnx``).
    """
    differences, scale = [], 1.0
    with torch.no_grad():
        for start in range(0, len(inputs), CHECK_BATCH):
            batch = inputs[start : start + CHECK_BATCH]
            expected, got = net(batch), run(batch)
            differences.append((expected - got).abs().max())  # a scalar per batch; torch's max keeps a NaN
            if relative:
                scale = max(scale, float(expected.abs().max()))
    return _check_difference(name, float(torch.stack(differences).max()), scale)


def _check_difference(name: str, difference: float, scale: float) -> float:
    if not difference <= TOLERANCE * scale:
        bound = f"{TOLERANCE * scale:g}" + (f" = {TOLERANCE} x the largest output" if scale != 1.0 else "")
        raise RunError(f"The exported {name} differs from the checkpoint's network by {difference:g} (> {bound}).")
    return difference


def export_state_dict(net: nn.Module, out: Path) -> None:
    data = torch_bytes({key: value.cpu() for key, value in net.state_dict().items()})
    atomic_write(out, lambda tmp: tmp.write_bytes(data))


def export_program(net: nn.Module, inputs: torch.Tensor, out: Path) -> float:
    """``torch.export`` with a dynamic batch dimension, checked on ``inputs`` (batch, features)."""
    net = _plain(net)
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (inputs[:2],), dynamic_shapes=({0: batch},))
    difference = _batched_difference("program", net, program.module(), inputs)
    buffer = io.BytesIO()  # torch.export.save wants a name ending in .pt2, or a buffer
    torch.export.save(program, buffer)
    atomic_write(out, lambda tmp: tmp.write_bytes(buffer.getvalue()))
    return difference


def export_onnx(net: nn.Module, inputs: torch.Tensor, out: Path) -> float:
    """ONNX with a dynamic batch dimension, checked in ONNX Runtime on ``inputs`` before it is written.

    ONNX Runtime sums in its own order, so its outputs are checked to ``TOLERANCE`` relative to the largest
    output (the rounding of a float32 sum grows with its terms), where the ``torch.export`` program is exact.
    """
    import onnxruntime  # the onnx extra; the caller has checked that it is installed

    net = _plain(net)
    batch = torch.export.Dim("batch")
    # the exporter's deprecation notes and "torchvision is not installed" lines are not the user's business
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(net, (inputs[:2],), dynamic_shapes=({0: batch},), dynamo=True, verbose=False)
    model = program.model_proto.SerializeToString()
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {name: batch.numpy()})[0])

    difference = _batched_difference("ONNX model", net, run, inputs, relative=True)
    atomic_write(out, lambda tmp: tmp.write_bytes(model))
    return difference


def build_parser() -> OneLineParser:
    """``fizzlightning export``'s options (also its shell completion's)."""
    parser = OneLineParser(prog="fizzlightning export", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("-c", "--config", required=True, metavar="PATH", help="the config the run was fit with")
    parser.add_argument("--ckpt_path", metavar="PATH", help="default: the newest finished run's chosen checkpoint")
    parser.add_argument("--format", choices=sorted(FILES), default="onnx", help="default: onnx")
    return parser


def main(args: list[str], typed: list[str]) -> None:
    """``fizzlightning export``: every mistake is a ``ConfigError`` before anything is written."""
    parser = build_parser()
    options, typed_config = parser.parse_args(args), parser.parse_args(typed).config
    if options.format == "onnx":
        extras.need("export --format onnx")
    ckpt_path, model_class = layout.start_of_config("export", Path(options.config), options.ckpt_path, typed_config)
    checkpoint = load_checkpoint(ckpt_path)
    check_config_model(checkpoint, model_class, ckpt_path, typed_config)
    model = rebuild_model(checkpoint, ckpt_path)
    checkpoint = Path(ckpt_path)
    run_dir = layout.run_of(checkpoint) or checkpoint.parent  # a loose checkpoint: its exports beside it
    out = run_dir / FILES[options.format]
    exported, inputs = model.export_net()
    if options.format == "pt":
        export_state_dict(model.net, out)
        print(f"Wrote {out} from {ckpt_path}: the state_dict of {type(model.net).__name__}")
        return
    difference = (export_program if options.format == "pt2" else export_onnx)(exported, inputs, out)
    print(f"Wrote {out} from {ckpt_path}; on {len(inputs)} inputs its outputs differ from it by at most {difference:g}")
