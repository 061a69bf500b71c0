"""A trained run that a program can call without fizzlightning: model.pt2 for any torch, model.onnx for ONNX Runtime.

Each export is checked against the checkpoint's network on the model's fixed batch (for FizzBuzz, every number
its bits encode), in a fresh interpreter where importing fizzlightning or Lightning fails.
"""

import ast
import importlib.util
import json
import re
import subprocess
import sys

import pytest
import torch

from fizzlightning.commands.main import main
from fizzlightning.deploy.export import export_net
from fizzlightning.models import Regressor
from fizzlightning.models.classifier import FizzBuzzClassifier
from fizzlightning.runs.checkpoints import load_checkpoint, rebuild_model
from tests.helpers import CONFIGS, FIZZBUZZ, REGRESSOR, fit_in, runs, write

MODELS = {"fizzbuzz": FIZZBUZZ, "regressor": REGRESSOR}

# A fresh interpreter that cannot import fizzlightning or Lightning: torch.export.load alone must do.
PLAIN = """
import sys, json, torch
for name in ("fizzlightning", "lightning", "pytorch_lightning"):
    sys.modules[name] = None
program = torch.export.load(sys.argv[1]).module()
inputs = torch.load(sys.argv[2], weights_only=True)
outputs = {str(n): program(inputs[:n]).tolist() for n in (1, 7, len(inputs))}  # any batch size
print(json.dumps(outputs))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A finished tiny run of each model: name -> run directory."""
    directory = tmp_path_factory.mktemp("exported")
    done = {}
    for name, text in MODELS.items():
        fit_in(directory, f"{name}.yaml", text)
        done[name] = runs(directory, f"{name}.yaml")[-1]
    gan = ["fit", "--config", str(CONFIGS / "gan.yaml"), "--trainer.max_epochs", "1"]
    gan += ["--data.init_args.steps_per_epoch", "5", "--data.init_args.eval_paintings", "20"]
    gan += ["--trainer.default_root_dir", str(directory)]
    main(gan)
    done["gan"] = runs(directory, "gan.yaml")[-1]
    return done


def checkpoint_outputs(run) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed batch of the model, and what the checkpoint's network answers on it."""
    best = run / "checkpoints" / "best.ckpt"
    model = rebuild_model(load_checkpoint(best), best)
    net, inputs = export_net(model)
    with torch.no_grad():
        return inputs, net(inputs)


@pytest.mark.parametrize("name", ["fizzbuzz", "regressor", "gan"])
def test_model_pt2_loads_without_fizzlightning_takes_any_batch_and_equals_the_checkpoint(tmp_path, trained, name):
    run = trained[name]
    inputs, expected = checkpoint_outputs(run)
    torch.save(inputs, tmp_path / "inputs.pt")
    done = subprocess.run(
        [sys.executable, "-c", PLAIN, str(run / "model.pt2"), str(tmp_path / "inputs.pt")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outputs = json.loads(done.stdout)
    net, _ = export_net(rebuild_model(load_checkpoint(run / "checkpoints" / "best.ckpt"), run))
    for n, values in outputs.items():  # batch by batch: a batch of 1 takes other kernels, and so may the threads
        with torch.no_grad():
            assert float((torch.tensor(values) - net(inputs[: int(n)])).abs().max()) <= 1e-6
    assert float((torch.tensor(outputs[str(len(inputs))]) - expected).abs().max()) <= 1e-6
    if name == "fizzbuzz":
        assert len(inputs) == 255  # every number 8 bits encode, 1..2**8 - 1


def test_the_readme_lines_play_the_game_from_model_pt2(trained):
    run = trained["fizzbuzz"]
    lines = f"""
import sys
sys.modules["fizzlightning"] = sys.modules["lightning"] = sys.modules["pytorch_lightning"] = None
import torch
play = torch.export.load("{run / "model.pt2"}").module()
n = torch.arange(1, 101)
bits = ((n[:, None] >> torch.arange(8)) & 1).float()
print([[str(int(i)), "fizz", "buzz", "fizzbuzz"][int(c)] for i, c in zip(n, play(bits).argmax(1))])
"""
    done = subprocess.run([sys.executable, "-c", lines], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    _, expected = checkpoint_outputs(run)
    words = ast.literal_eval(done.stdout)  # the printed list
    labels = expected[:100].argmax(1).tolist()  # the fixed batch starts at 1
    assert words == [[str(i), "fizz", "buzz", "fizzbuzz"][c] for i, c in zip(range(1, 101), labels)]


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="the onnx extra is not installed")
@pytest.mark.parametrize("name", ["fizzbuzz", "regressor", "gan"])
def test_export_onnx_is_checked_in_onnx_runtime(cli, trained, capsys, name):
    import onnxruntime

    run = trained[name]
    assert cli("export", "--config", str(run / "fit-config.yaml"), "--format", "onnx") == 0
    assert f"Wrote {run / 'model.onnx'} from {run / 'checkpoints' / 'best.ckpt'}" in capsys.readouterr().out
    inputs, expected = checkpoint_outputs(run)
    session = onnxruntime.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})
    got = torch.from_numpy(got)
    assert float((got - expected).abs().max()) <= 1e-6 * max(1.0, float(expected.abs().max()))
    if name == "fizzbuzz":
        assert torch.equal(got.argmax(1), expected.argmax(1))  # the same game


def test_export_without_the_onnx_extra_is_one_line(cli, trained, capfd, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "onnxruntime" else find_spec(n, *a))
    assert cli("export", "--config", str(trained["fizzbuzz"] / "fit-config.yaml")) == 2
    assert capfd.readouterr().err.strip() == (
        "fizzlightning: error: export --format onnx needs onnxruntime, which is not installed: "
        "pip install 'fizzlightning[onnx]'"
    )


class Branching(torch.nn.Module):
    """A network whose path depends on its input's values: torch.export cannot trace it into one graph."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) if x.sum() > 0 else -self.net(x)


class NoExport(FizzBuzzClassifier):
    """A model torch.export cannot take: its network branches on its input's values."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.net = Branching(self.net)


def test_a_network_that_cannot_be_exported_costs_the_program_not_the_run(cli, tmp_path, capfd):
    config = write(
        tmp_path,
        "fizzbuzz.yaml",
        FIZZBUZZ.replace("fizzlightning.models.classifier.FizzBuzzClassifier", f"{__name__}.NoExport"),
    )
    assert cli("fit", "--config", config) == 0
    (run,) = runs(tmp_path, config)
    assert (run / "fit.json").is_file() and (run / "model.pt").is_file() and not (run / "model.pt2").exists()
    net = NoExport(num_digits=8, hidden=[4]).net
    with pytest.raises(Exception) as refused:  # what torch.export says of that network, whatever its version
        torch.export.export(net, (torch.ones(2, 8),))
    reason = str(refused.value).strip().splitlines()[0]
    assert f"fizzlightning: model.pt2 was not written: {reason}" in capfd.readouterr().err.splitlines()
    # export, asked for the program again, says the same in one line (exit 1), and the run keeps what it had
    best = str(run / "checkpoints" / "best.ckpt")
    for fmt in ("pt2", "onnx"):
        assert cli("export", "--ckpt_path", best, "--format", fmt) == 1
        err = capfd.readouterr().err.strip().splitlines()
        assert err[-1].startswith(f"fizzlightning: error: model.{fmt} was not written: {reason[:60]}"), err[-1]
        assert "Traceback" not in "\n".join(err) and not (run / f"model.{fmt}").exists()
    assert (run / "fit.json").is_file() and (run / "model.pt").is_file()


class Unsaid(Regressor):
    """A model of the user's own that names no input width: no ``d_in`` among its arguments."""

    def __init__(self, width: int = 3) -> None:
        super().__init__(d_in=width, hidden=4, d_out=1)
        self.hparams.pop("d_in")


def test_a_model_that_names_no_input_does_not_say_what_to_export():
    with pytest.raises(NotImplementedError, match="Unsaid does not say what to export"):
        export_net(Unsaid())


def test_lightnings_example_input_array_is_what_the_program_is_checked_on():
    model = Unsaid()
    model.example_input_array = torch.ones(5, 3)
    net, inputs = export_net(model)
    assert net is model.net and inputs is model.example_input_array


def _shipped_regressor_configs() -> list[str]:
    """The shipped configs of the lessons' regressor (1000 inputs summed): where ONNX Runtime's order of summation
    shows, and where a tolerance relative to the largest output refused a right export."""
    shipped = sorted(CONFIGS.glob("*.yaml"))
    return [p.stem for p in shipped if "RegressionDataModule" in p.read_text()]


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="the onnx extra is not installed")
@pytest.mark.parametrize("config", _shipped_regressor_configs())
def test_a_shipped_regressor_exports_to_onnx_within_what_float32_allows(cli, tmp_path, capsys, config):
    short = ["--trainer.max_epochs", "1", "--data.init_args.steps_per_epoch", "100"]
    assert cli("fit", "--config", config, *short) == 0
    capsys.readouterr()
    assert cli("export", "--config", config, "--format", "onnx") == 0
    found = re.search(
        r"differ from it by at most ([\d.e+-]+) \(float32 allows ([\d.e+-]+) there\)", capsys.readouterr().out
    )
    assert found and 0 < float(found[1]) <= float(found[2])  # sums in another order: a difference, within the bound
