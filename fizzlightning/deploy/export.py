"""The files a finished run leaves for programs that know nothing of fizzlightning or Lightning.

- ``model.pt``: the plain network's ``state_dict`` (``torch.load(..., weights_only=True)``, then
  ``load_state_dict`` into ``fizzlightning.lessons.nets`` or, for FizzBuzz, the lessons' own ``torch.nn.Sequential``,
  with ``Sine`` in place of ``ReLU`` for ``activation: sin``);
- ``model.pt2``: a ``torch.export`` program, weights and graph together: ``torch.export.load(path).module()``
  is a callable network for any batch size;
- ``model.onnx`` (``fizzlightning export --format onnx``, the ``onnx`` extra): the same for ONNX Runtime.

``fizzlightning export [--config CONFIG] [--ckpt_path PATH] [--format onnx|pt2|pt]`` writes any of them for the
checkpoint the run rule picks (``layout.find_start``, as ``test`` and ``serve``), into that checkpoint's run.
Each is checked on the model's fixed inputs (``export_net``) before it is kept (``_batched_difference``).
"""

import argparse
import copy
import io
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fizzlightning import extras
from fizzlightning.errors import OneLineParser, RunError
from fizzlightning.files import atomic_write, torch_bytes
from fizzlightning.lessons import fizzbuzz
from fizzlightning.lessons.nets import Sine
from fizzlightning.models import GAN, FizzBuzzClassifier, TrainingModule
from fizzlightning.runs import layout
from fizzlightning.runs.checkpoints import check_config_model, check_config_network, load_checkpoint, rebuild_model

# ``commands.cli.fit_config``: the config ``fizzlightning fit ARGS`` would run, parsed by fit's own parser (the
# commands' layer hands it down: LightningCLI is theirs)
FitConfig = Callable[[str, list[str]], Any]
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


def refusal(error: Exception) -> str:
    """Why a network was not exported, in one line: the first line of what torch.export (or ``export_net``) said."""
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__


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


def float32_bound(net: nn.Module, inputs: torch.Tensor) -> torch.Tensor | None:
    """Per output, how far float32 may put ``net(inputs)`` from its exact value, in any order of summation.

    A ``Linear`` of ``k`` inputs sums ``k + 1`` rounded products: its result is within ``gamma(k + 1) x (|W| |h| +
    |b|)`` of the exact sum of its float inputs (gamma(n) = n u / (1 - n u), Higham's bound), and the error its input
    already carries goes through ``|W|``; an elementwise activation of slope at most 1 (ReLU, sin, tanh) passes it
    on and adds one rounding of its own. For networks that are such a chain (every network of the lessons); None
    for any other, which is checked relative to its largest output instead.
    """
    leaves = [m for m in net.modules() if not list(m.children())]
    linears = [m for m in leaves if isinstance(m, nn.Linear)]
    if not linears or not all(isinstance(m, (nn.Linear, *LIPSCHITZ_1)) for m in leaves):
        return None
    errors: list[torch.Tensor | None] = []  # the bound on the error of each Linear's output; None: not a chain

    def through(module: nn.Linear, args: tuple[torch.Tensor], output: torch.Tensor) -> None:
        (h,) = args
        carried = errors[-1] if errors else torch.zeros_like(h)
        if carried is None or carried.shape != h.shape:  # not the previous Linear's output through an activation
            return errors.append(None)
        k = module.in_features + 1
        gamma = k * UNIT_ROUNDOFF / (1 - k * UNIT_ROUNDOFF)
        bias = module.bias.abs() if module.bias is not None else 0.0
        # the activation before this layer rounded once (relative u of |h|, which its slope <= 1 keeps):
        # (carried + u |h|) |W|^T + gamma (|h| |W|^T + |b|), as one product (half the check's time)
        errors.append((carried + (UNIT_ROUNDOFF + gamma) * h.abs()) @ module.weight.abs().T + gamma * bias)

    hooks = [m.register_forward_hook(through) for m in linears]
    with torch.no_grad():
        output = net(inputs.double())
    for hook in hooks:
        hook.remove()
    last = errors[-1]
    return last + UNIT_ROUNDOFF * output.abs() if last is not None and last.shape == output.shape else None


def _batched_difference(name: str, fmt: str, net: nn.Module, run, inputs: torch.Tensor) -> tuple[float, float]:
    """The largest difference of ``run`` (the exported program) from ``net`` over ``inputs``, ``CHECK_BATCH`` rows at
    a time, and the largest that float32 allows there; a ``RunError`` where any output differs by more than twice
    ``float32_bound`` (each of the two is within it of the exact value), saying which format still works."""
    worst, allowed, largest = 0.0, 0.0, 1.0
    bounded, exact = True, copy.deepcopy(net).cpu().double()

    def fail(difference: float, bound: str) -> None:
        raise RunError(
            f"The exported {name} differs from the checkpoint's network by {difference:g} at an output where float32 "
            f"allows {bound}. It was not written; {STILL_WORKS[fmt]}."
        )

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
            excess = (difference / tolerance).nan_to_num(nan=float("inf"))  # a NaN fails as an infinite difference
            at = int(excess.argmax())
            if not bool(excess.flatten()[at] <= 1):
                fail(float(difference.flatten()[at]), f"{float(tolerance.flatten()[at]):g}")
            worst, allowed = max(worst, float(difference.max())), max(allowed, float(tolerance.max()))
    if not bounded:
        allowed = RELATIVE * largest
        if not worst <= allowed:
            fail(worst, f"{allowed:g} = {RELATIVE} x the largest output")
    return worst, allowed


def export_state_dict(net: nn.Module, out: Path) -> None:
    data = torch_bytes({key: value.cpu() for key, value in net.state_dict().items()})
    atomic_write(out, lambda tmp: tmp.write_bytes(data))


def export_program(net: nn.Module, inputs: torch.Tensor, out: Path, fmt: str = "pt2") -> tuple[float, float]:
    """``torch.export`` with a dynamic batch dimension, for ``fmt`` pt2 as it is, for onnx converted (the ``onnx``
    extra), checked on ``inputs`` (batch, features) before it is written: ONNX in ONNX Runtime, which sums in its
    own order, so its outputs differ from torch's by rounding, within what float32 allows (``float32_bound``)."""
    net = copy.deepcopy(net).cpu().eval()
    program = torch.export.export(net, (inputs[:2],), dynamic_shapes=({0: torch.export.Dim("batch")},))
    if fmt == "pt2":
        buffer = io.BytesIO()  # torch.export.save wants a name ending in .pt2, or a buffer
        torch.export.save(program, buffer)
        data, run, name = buffer.getvalue(), program.module(), "program"
    else:
        import onnxruntime  # the caller has checked that the onnx extra is installed

        # the exporter's deprecation notes and "torchvision is not installed" lines are not the user's business
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx = torch.onnx.export(program, dynamo=True, verbose=False)
        data, name = onnx.model_proto.SerializeToString(), "ONNX model"
        # the CPU's, as the onnx extra installs it: a GPU's provider may round otherwise (TF32)
        onnx.initialize_inference_session(
            lambda model: onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
        )

        def run(batch: torch.Tensor) -> torch.Tensor:
            return onnx(batch)[0]

    difference = _batched_difference(name, fmt, net, run, inputs)
    atomic_write(out, lambda tmp: tmp.write_bytes(data))
    return difference


class RunParser(OneLineParser):
    """A command's options, and its ``--config`` and ``--model``/``--data`` options in order
    (``layout.network_options``) as ``settings``: judged against the checkpoint as the Lightning commands judge them
    (``run_model``)."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        settings, rest = layout.network_options(list(sys.argv[1:] if args is None else args))
        options = super().parse_args(rest, namespace)
        options.settings = settings
        return options


def run_parser(command: str, description: str) -> OneLineParser:
    """The options of a command on a run's checkpoint (``export``, ``serve``): which run, as ``test`` takes it."""
    parser = RunParser(prog=f"fizzlightning {command}", description=description, allow_abbrev=False)
    parser.add_argument("-c", "--config", metavar="PATH", help="default: the run's own fit-config.yaml")
    parser.add_argument("--ckpt_path", metavar="PATH", help="default: the newest finished run's chosen checkpoint")
    layout.add_run_options(parser)
    return parser


def run_model(
    command: str, options: argparse.Namespace, typed_config: str, fit_config: FitConfig
) -> tuple[str, dict, TrainingModule]:
    """The checkpoint that the run rule picks for ``command`` (``layout.find_start``, as ``test``), checked against
    the config's model and data as ``fit_config`` (``commands.cli.fit_config``: fit's own parser) reads them: its
    path, what it holds, and its model rebuilt."""
    ckpt_path, model_class = layout.start_of_config(command, Path(options.config), options, typed_config)
    checkpoint = load_checkpoint(ckpt_path)
    check_config_model(checkpoint, model_class, ckpt_path, typed_config)
    settings = getattr(options, "settings", [])
    if not any(setting.startswith("--config=") for setting in settings):  # the run's own, under the options
        settings = [f"--config={options.config}", *settings]
    check_config_network(checkpoint, fit_config(command, settings), ckpt_path)
    return ckpt_path, checkpoint, rebuild_model(checkpoint, ckpt_path)


def build_parser() -> OneLineParser:
    """``fizzlightning export``'s options (also its shell completion's)."""
    parser = run_parser("export", __doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=sorted(FILES), default="onnx", help="default: onnx")
    return parser


def main(args: list[str], typed: list[str], fit_config: FitConfig) -> None:
    """``fizzlightning export``: every mistake is a ``ConfigError`` before anything is written."""
    parser = build_parser()
    options = parser.parse_args(args)
    if options.format == "onnx":
        extras.need("export --format onnx")
    ckpt_path, _, model = run_model("export", options, parser.parse_args(typed).config or options.config, fit_config)
    run_dir = layout.run_of(Path(ckpt_path)) or Path(ckpt_path).parent  # a loose checkpoint: its exports beside it
    out = run_dir / FILES[options.format]
    if options.format == "pt":
        export_state_dict(model.net, out)
        return print(f"Wrote {out} from {ckpt_path}: the state_dict of {type(model.net).__name__}")
    try:
        exported, inputs = export_net(model)
        difference, allowed = export_program(exported, inputs, out, options.format)
    except RunError:  # a failed check or a full disk: already one line
        raise
    except Exception as error:  # torch.export refuses some code (a branch on the input's values), or no input is known
        raise RunError(f"{out.name} was not written: {refusal(error)} (--format pt writes the state_dict)") from error
    print(
        f"Wrote {out} from {ckpt_path}; on {len(inputs)} inputs its outputs differ from it by at most {difference:g} "
        f"(float32 allows {allowed:g} there)"
    )
