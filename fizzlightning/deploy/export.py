"""The files a finished run leaves for programs that know nothing of fizzlightning or Lightning.

- ``model.pt``: the plain network's ``state_dict`` (``torch.load(..., weights_only=True)``, then
  ``load_state_dict`` into ``fizzlightning.lessons.nets`` or, for FizzBuzz, the lessons' own ``torch.nn.Sequential``,
  with ``Sine`` in place of ``ReLU`` for ``activation: sin``);
- ``model.pt2``: a ``torch.export`` program, weights and graph together: ``torch.export.load(path).module()``
  is a callable network for any batch size;
- ``model.onnx`` (``fizzlightning export --format onnx``, the ``onnx`` extra): the same for ONNX Runtime.

``fizzlightning export [--config CONFIG] [--ckpt_path PATH] [--format onnx|pt2|pt]`` writes any of them for the
checkpoint the run rule picks (``layout.find_start``, as ``test`` and ``serve``), into that checkpoint's run.

Each program is checked against the checkpoint's network on the model's fixed inputs (``export_net``, a
bounded set) before it is kept, ``CHECK_BATCH`` rows at a time: each output must agree within what float32 can
promise for that network and input (``float32_bound``).
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
from fizzlightning.lessons import fizzbuzz
from fizzlightning.lessons.nets import Sine
from fizzlightning.models import GAN, FizzBuzzClassifier, TrainingModule
from fizzlightning.runs import layout
from fizzlightning.runs.checkpoints import check_config_model, load_checkpoint, rebuild_model

CHECK_BATCH = 1024  # rows per forward pass of a check: its memory does not grow with the inputs
FILES = {"pt": "model.pt", "pt2": "model.pt2", "onnx": "model.onnx"}
UNIT_ROUNDOFF = 2.0**-24  # float32's: a rounded result is within this fraction of the exact one
LIPSCHITZ_1 = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity, nn.Sequential, Sine)  # elementwise, slope at most 1
RELATIVE = 1e-6  # a network the bound does not cover: times the largest output
STILL_WORKS = {
    "onnx": "model.pt2 (torch.export) and model.pt (the state_dict) hold the same network: fizzlightning export "
    "--format pt2",
    "pt2": "model.pt (the state_dict) holds the same weights: fizzlightning export --format pt",
}

# The numbers an exported FizzBuzz program is checked on: the game, the largest numbers the bits encode, and a seeded
# sample of those between. A fixed count: the check costs the same at every num_digits.
EXPORT_LARGEST = 100
EXPORT_SAMPLE = 4096


def export_numbers(num_digits: int) -> torch.Tensor:
    """1..100, the ``EXPORT_LARGEST`` largest numbers and ``EXPORT_SAMPLE`` seeded others, sorted and distinct;
    every number the bits encode when they are fewer."""
    largest = fizzbuzz.max_number(num_digits)
    between = largest - 100 - EXPORT_LARGEST  # 101 .. largest - EXPORT_LARGEST
    if between <= EXPORT_SAMPLE:
        return torch.arange(1, largest + 1)
    generator = torch.Generator().manual_seed(0)
    # drawn with replacement: randperm(between) would be (2**num_digits,); a repeat only makes the set smaller
    sample = 101 + torch.randint(between, (EXPORT_SAMPLE,), generator=generator)
    ends = torch.cat([torch.arange(1, 101), torch.arange(largest - EXPORT_LARGEST + 1, largest + 1)])
    return torch.cat([ends, sample]).unique()  # sorted


def export_net(model: TrainingModule) -> tuple[nn.Module, torch.Tensor]:
    """The plain network a run exports and a fixed batch on which the program must give the checkpoint's outputs: the
    GAN's painter (D only served to train it), FizzBuzz's on ``export_numbers``; any other model's ``net`` on its
    ``example_input_array`` (Lightning's), else on a batch of (64, ``d_in``)."""
    hparams = model.hparams
    if isinstance(model, GAN):
        ideas = torch.randn(1000, hparams.n_ideas, generator=torch.Generator().manual_seed(0))
        return model.net["generator"], ideas
    if isinstance(model, FizzBuzzClassifier):
        # (at most 100 + EXPORT_LARGEST + EXPORT_SAMPLE, num_digits): bounded, so the check is at every size
        return model.net, fizzbuzz.binary_encode(export_numbers(hparams.num_digits), hparams.num_digits)
    if isinstance(model.example_input_array, torch.Tensor):
        return model.net, model.example_input_array
    if "d_in" not in hparams:
        raise NotImplementedError(
            f"{type(model).__name__} does not say what to export: it has no example_input_array and no d_in"
        )
    return model.net, torch.randn(64, hparams.d_in, generator=torch.Generator().manual_seed(0))


def _plain(net: nn.Module) -> nn.Module:
    return copy.deepcopy(net).cpu().eval()


def float32_bound(net: nn.Module, inputs: torch.Tensor) -> torch.Tensor | None:
    """Per output, how far float32 may put ``net(inputs)`` from its exact value, in any order of summation.

    A ``Linear`` of ``k`` inputs sums ``k + 1`` rounded products: its result is within ``gamma(k + 1) x (|W| |h| +
    |b|)`` of the exact sum of its float inputs (gamma(n) = n u / (1 - n u), Higham's bound), and the error its input
    already carries goes through ``|W|``; an elementwise activation of slope at most 1 (ReLU, sin, tanh) passes it
    on and adds one rounding of its own. For networks that are such a chain (every network of the lessons); None
    for any other, which is checked relative to its largest output instead.
    """
    leaves = [m for m in net.modules() if not list(m.children())]
    if not all(isinstance(m, (nn.Linear, *LIPSCHITZ_1)) for m in leaves) or not any(
        isinstance(m, nn.Linear) for m in leaves
    ):
        return None
    error: list[torch.Tensor] = []  # the bound on the error of the last Linear's output

    def through(module: nn.Linear, args: tuple[torch.Tensor], output: torch.Tensor) -> None:
        (h,) = args
        carried = error[-1] if error and error[-1].shape == h.shape else torch.zeros_like(h)
        if error and error[-1].shape != h.shape:
            raise _NotAChain
        k = module.in_features + 1
        gamma = k * UNIT_ROUNDOFF / (1 - k * UNIT_ROUNDOFF)
        bias = module.bias.abs() if module.bias is not None else 0.0
        weight = module.weight.abs()
        # the activation before this layer rounded once (relative u of |h|, which its slope <= 1 keeps)
        error.append((carried + UNIT_ROUNDOFF * h.abs()) @ weight.T + gamma * (h.abs() @ weight.T + bias))

    hooks = [m.register_forward_hook(through) for m in leaves if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            output = net(inputs.double())
        return error[-1] + UNIT_ROUNDOFF * output.abs() if error and error[-1].shape == output.shape else None
    except _NotAChain:
        return None
    finally:
        for hook in hooks:
            hook.remove()


class _NotAChain(Exception):
    """A Linear whose input is not the previous Linear's output through an elementwise activation."""


def _batched_difference(name: str, fmt: str, net: nn.Module, run, inputs: torch.Tensor) -> tuple[float, float]:
    """The largest difference of ``run`` (the exported program) from ``net`` over ``inputs``, ``CHECK_BATCH`` rows at
    a time, and the largest that float32 allows there; a ``RunError`` where any output differs by more than twice
    ``float32_bound`` (each of the two is within it of the exact value), saying which format still works."""
    worst, allowed, largest = 0.0, 0.0, 1.0
    bounded, exact = True, _plain(net).double()
    with torch.no_grad():
        for start in range(0, len(inputs), CHECK_BATCH):
            batch = inputs[start : start + CHECK_BATCH]
            expected, got = net(batch), run(batch)
            difference = (expected - got).abs()
            bound = float32_bound(exact, batch)
            if bound is None:
                bounded, largest = False, max(largest, float(expected.abs().max()))
                worst = max(worst, float(difference.max()))  # torch's max keeps a NaN
                continue
            tolerance = 2 * bound.float() + torch.finfo(torch.float32).tiny  # never 0: 0 / 0 is no verdict
            excess = difference / tolerance
            at = int(excess.argmax()) if bool(excess.isfinite().all()) else int((~excess.isfinite()).nonzero()[0, 0])
            if not bool(excess.flatten()[at] <= 1):
                _fail(name, fmt, float(difference.flatten()[at]), f"{float(tolerance.flatten()[at]):g}")
            worst, allowed = max(worst, float(difference.max())), max(allowed, float(tolerance.max()))
    if not bounded:
        allowed = RELATIVE * largest
        if not worst <= allowed:
            _fail(name, fmt, worst, f"{allowed:g} = {RELATIVE} x the largest output")
    return worst, allowed


def _fail(name: str, fmt: str, difference: float, bound: str) -> None:
    raise RunError(
        f"The exported {name} differs from the checkpoint's network by {difference:g} at an output where float32 "
        f"allows {bound}. It was not written; {STILL_WORKS[fmt]}."
    )


def export_state_dict(net: nn.Module, out: Path) -> None:
    data = torch_bytes({key: value.cpu() for key, value in net.state_dict().items()})
    atomic_write(out, lambda tmp: tmp.write_bytes(data))


def export_program(net: nn.Module, inputs: torch.Tensor, out: Path) -> tuple[float, float]:
    """``torch.export`` with a dynamic batch dimension, checked on ``inputs`` (batch, features)."""
    net = _plain(net)
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (inputs[:2],), dynamic_shapes=({0: batch},))
    difference = _batched_difference("program", "pt2", net, program.module(), inputs)
    buffer = io.BytesIO()  # torch.export.save wants a name ending in .pt2, or a buffer
    torch.export.save(program, buffer)
    atomic_write(out, lambda tmp: tmp.write_bytes(buffer.getvalue()))
    return difference


def export_onnx(net: nn.Module, inputs: torch.Tensor, out: Path) -> tuple[float, float]:
    """ONNX with a dynamic batch dimension, checked in ONNX Runtime on ``inputs`` before it is written.

    ONNX Runtime sums in its own order, so its outputs differ from torch's by rounding: within what float32
    allows for that network and input (``float32_bound``).
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

    difference = _batched_difference("ONNX model", "onnx", net, run, inputs)
    atomic_write(out, lambda tmp: tmp.write_bytes(model))
    return difference


def build_parser() -> OneLineParser:
    """``fizzlightning export``'s options (also its shell completion's)."""
    parser = OneLineParser(prog="fizzlightning export", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("-c", "--config", metavar="PATH", help="default: the run's own fit-config.yaml")
    parser.add_argument("--ckpt_path", metavar="PATH", help="default: the newest finished run's chosen checkpoint")
    layout.add_run_options(parser)
    parser.add_argument("--format", choices=sorted(FILES), default="onnx", help="default: onnx")
    return parser


def main(args: list[str], typed: list[str]) -> None:
    """``fizzlightning export``: every mistake is a ``ConfigError`` before anything is written."""
    parser = build_parser()
    options = parser.parse_args(args)
    typed_config = parser.parse_args(typed).config or options.config
    if options.format == "onnx":
        extras.need("export --format onnx")
    ckpt_path, model_class = layout.start_of_config("export", Path(options.config), options, typed_config)
    checkpoint = load_checkpoint(ckpt_path)
    check_config_model(checkpoint, model_class, ckpt_path, typed_config)
    model = rebuild_model(checkpoint, ckpt_path)
    checkpoint = Path(ckpt_path)
    run_dir = layout.run_of(checkpoint) or checkpoint.parent  # a loose checkpoint: its exports beside it
    out = run_dir / FILES[options.format]
    exported, inputs = export_net(model)
    if options.format == "pt":
        export_state_dict(model.net, out)
        print(f"Wrote {out} from {ckpt_path}: the state_dict of {type(model.net).__name__}")
        return
    difference, allowed = (export_program if options.format == "pt2" else export_onnx)(exported, inputs, out)
    print(
        f"Wrote {out} from {ckpt_path}; on {len(inputs)} inputs its outputs differ from it by at most {difference:g} "
        f"(float32 allows {allowed:g} there)"
    )
