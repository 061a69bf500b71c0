"""What the tests share: the shipped configs, tiny configs, run lookup, a real subprocess, exact comparison."""

import signal
import subprocess
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from fizzlightning import launch
from fizzlightning.app import main

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "lightning_configs"
DDP_CPU = ["--trainer.strategy", "ddp", "--trainer.accelerator", "cpu"]
FEW_STEPS = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3"]
TINY_FIZZBUZZ = [
    "--config", str(CONFIGS / "fizzbuzz.yaml"),
    "--data.init_args.num_digits", "10",
    "--model.init_args.hidden", "[32]",
    "--trainer.max_epochs", "3",
]  # fmt: skip

# 8 bits: 155 numbers to train on, 5 steps of 32 per epoch; a run takes a second.
FIZZBUZZ = """\
seed_everything: 0
trainer:
  max_epochs: 2
  accelerator: cpu
  devices: 1
model:
  class_path: fizzlightning.classifier.FizzBuzzClassifier
  init_args:
    hidden: [8]
    board_every_n_epochs: 0
data:
  class_path: fizzlightning.data.FizzBuzzDataModule
  init_args:
    num_digits: 8
    batch_size: 32
optimizer:
  class_path: torch.optim.SGD
  init_args:
    lr: 0.1
"""

REGRESSOR = """\
seed_everything: 0
trainer:
  max_epochs: 2
  accelerator: cpu
  devices: 1
model:
  class_path: fizzlightning.regressor.Regressor
  init_args:
    hidden: 8
data:
  class_path: fizzlightning.data.RegressionDataModule
  init_args:
    n: 16
    d_in: 20
    d_out: 3
    steps_per_epoch: 5
optimizer:
  class_path: torch.optim.SGD
  init_args:
    lr: 1.0e-3
"""

# Long enough to interrupt (10 bits, 55 steps per epoch, ~0.1 s an epoch), with momentum and a
# scheduler so that a resume must restore optimizer and scheduler state to match to the bit.
INTERRUPTIBLE = """\
seed_everything: 3
trainer:
  max_epochs: 25
  accelerator: cpu
  devices: 1
model:
  class_path: fizzlightning.classifier.FizzBuzzClassifier
  init_args:
    hidden: [16]
    board_every_n_epochs: 0
data:
  class_path: fizzlightning.data.FizzBuzzDataModule
  init_args:
    num_digits: 10
    batch_size: 16
optimizer:
  class_path: torch.optim.SGD
  init_args:
    lr: 0.05
    momentum: 0.9
lr_scheduler:
  class_path: torch.optim.lr_scheduler.StepLR
  init_args:
    step_size: 5
    gamma: 0.5
"""


def write(directory: Path, name: str, text: str) -> str:
    """Write a config into ``directory``; return its file name (the tests run with ``directory`` as cwd)."""
    (directory / name).write_text(text)
    return name


def runs(directory: Path, config: str) -> list[Path]:
    """The run directories of ``config`` under ``directory``, oldest first."""
    experiment = directory / "lightning_logs" / Path(config).stem
    return sorted(p for p in experiment.iterdir() if p.is_dir()) if experiment.is_dir() else []


def fit_in(directory: Path, name: str, text: str) -> None:
    """``fizzlightning fit`` of the config ``text``, saved as ``directory/name``, run in ``directory``:
    the finished run that a module's tests share."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        main(["fit", "--config", write(directory, name, text)])


def only_run(root: Path) -> Path:
    """The one run directory under ``root/lightning_logs``."""
    (run,) = [p for p in (root / "lightning_logs").glob("*/*") if p.is_dir()]
    return run


def assert_bit_identical(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_bit_identical(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_bit_identical(x, y)
    else:
        assert a == b


def state_dict(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]


def clean_env() -> dict[str, str]:
    """A new command's environment, in which ``tests.*`` callbacks import (``--trainer.callbacks+=tests....``)."""
    return launch.environment([ROOT])


def fizzlightning(cwd: Path, *args: str) -> str:
    """``fizzlightning ARGS`` in a subprocess (DDP's launcher restarts the command); returns its stdout."""
    return launch.run(list(args), cwd, clean_env(), timeout=300).stdout


def start(cwd: Path, *args: str) -> subprocess.Popen:
    """``python -m fizzlightning ARGS`` in ``cwd``, as a user would start it, with its output captured."""
    return launch.start(list(args), cwd, clean_env())


def wait_for_first_checkpoint(process: subprocess.Popen, directory: Path, timeout: float = 180.0) -> Path:
    """Poll until the subprocess's run has written its first ``last.ckpt``: training is under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(directory.glob("lightning_logs/*/*/checkpoints/last.ckpt"))
        if found:
            return found[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"no checkpoint after {timeout} s: {process.communicate()}")


def final_state(checkpoint: Path) -> dict:
    """What must match to the bit after a resume: weights, optimizer state, scheduler state, position."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return {
        "weights": saved["state_dict"],
        "optimizer": saved["optimizer_states"][0]["state"],
        "scheduler": saved["lr_schedulers"],
        "position": (saved["epoch"], saved["global_step"]),
    }


class SignalAtEpoch(L.Callback):
    """Sends this process SIGTERM during training epoch ``epoch``: a signal at a chosen point of a run."""

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch
        self.sent = False

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        if trainer.current_epoch == self.epoch and not self.sent:
            self.sent = True
            signal.raise_signal(signal.SIGTERM)
