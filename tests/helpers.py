"""What the tests share: the shipped configs, tiny configs, run lookup, a real subprocess, exact comparison."""

import csv
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from benchmarks import launch
from fizzlightning.commands.main import main

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
  class_path: fizzlightning.models.classifier.FizzBuzzClassifier
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
  class_path: fizzlightning.models.regressor.Regressor
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
  class_path: fizzlightning.models.classifier.FizzBuzzClassifier
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


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a launcher's ``MASTER_PORT``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_together(cwd: Path, commands: list[tuple[list[str], dict[str, str]]], timeout: float = 300) -> list[str]:
    """Start every ``(command, extra environment)`` at once in ``cwd``, as a launcher starts the processes of one
    run, and wait for all of them; their stdouts. The first that fails stops the others, which would otherwise wait
    for it in the process group until its timeout."""
    launches = [
        subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for command, env in ((command, {**clean_env(), **extra}) for command, extra in commands)
    ]
    deadline = time.monotonic() + timeout
    while any(launch.poll() is None for launch in launches):
        failed = [launch for launch in launches if launch.poll() not in (None, 0)]
        if failed or time.monotonic() > deadline:
            for launch in launches:
                launch.kill()
            errors = [launch.communicate()[1][-3000:] for launch in launches]
            raise AssertionError(f"a process failed or hung: {errors}")
        time.sleep(0.2)
    outputs = []
    for launch in launches:
        out, err = launch.communicate()
        assert launch.returncode == 0, err[-3000:]
        outputs.append(out)
    return outputs


def start(cwd: Path, *args: str) -> subprocess.Popen:
    """``python -m fizzlightning ARGS`` in ``cwd``, as a user would start it, with its output captured."""
    return launch.start(list(args), cwd, clean_env())


def first_checkpoints(directory: Path) -> list[Path]:
    """The ``last.ckpt`` files of the runs under ``directory`` now, while a ``fit`` may be starting there: its check
    that the run's directory is writable makes and removes that directory's parents, which a glob can list and then
    find gone."""
    try:
        return list(directory.glob("lightning_logs/*/*/checkpoints/last.ckpt"))
    except FileNotFoundError:
        return []


def wait_for_first_checkpoint(process: subprocess.Popen, directory: Path, timeout: float = 180.0) -> Path:
    """Poll until the subprocess's run has written its first ``last.ckpt``: training is under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = first_checkpoints(directory)
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


def digests(root: Path) -> dict[str, list]:
    """Every file under ``root`` but the filler and symbolic links: its size, the SHA-256 of its bytes and, for a
    CSV file, its rows, by path."""
    found = {}
    for folder, _, names in os.walk(root):  # not into linked directories (W&B's latest-run)
        for path in (Path(folder) / name for name in names if name != "filler"):
            if not path.is_symlink():
                data = path.read_bytes()
                rows = list(csv.DictReader(io.StringIO(data.decode()))) if path.suffix == ".csv" else None
                found[str(path.relative_to(root))] = [len(data), hashlib.sha256(data).hexdigest(), rows]
    return found


def assert_kept(before: dict[str, list], root: Path, but: tuple[str, ...] = ()) -> None:
    """Every file of ``before`` (``digests``) still holds what it held: the same bytes; for append-only logs
    (TensorBoard events, MLflow's metric files) those bytes followed by more; for a CSV file its rows, then more
    (a new column widens the earlier rows with empty cells). ``but``: names a later command may rewrite."""
    for name, (size, digest, rows) in before.items():
        if any(part in but for part in Path(name).parts):
            continue
        data = (root / name).read_bytes()
        if rows is not None:
            now = list(csv.DictReader(io.StringIO(data.decode())))
            kept = [{key: row[key] for key in rows[0]} for row in now[: len(rows)]] if rows else []
            widened = all(not v for row in now[: len(rows)] for k, v in row.items() if k not in rows[0])
            assert kept == rows and widened, f"{name} lost or changed rows"
            continue
        assert hashlib.sha256(data[:size]).hexdigest() == digest, f"{name} changed"
        assert len(data) == size or "events" in name or "/metrics/" in name, f"{name} grew"
    assert not list(root.rglob(".*.tmp")), "a temporary file was left behind"


def fill(directory: Path) -> Path:
    """Fill the filesystem that holds ``directory`` to the last byte, with ``directory/filler``: a real full disk.

    First records ``digests(directory)`` in ``directory/../filled.json`` (outside a mounted ``directory``): what
    was written before the disk filled. Then bigger writes, then smaller ones down to a byte, until the kernel
    answers ENOSPC to every size.
    """
    (directory.parent / "filled.json").write_text(json.dumps(digests(directory)))
    filler = directory / "filler"
    with open(filler, "ab", buffering=0) as out:
        size = 1 << 20
        while size:
            try:
                out.write(b"\0" * size)
            except OSError:
                size //= 2
    return filler


class FillDisk(L.Callback):
    """Fills the disk of the run at one point of a command: the next file the run writes meets a real ENOSPC.

    Args:
        hook: The Trainer hook to fill the disk at, e.g. ``on_validation_end`` (before that epoch's checkpoints);
            ``init`` fills it when the callback is built, before the command has written anything.
        epoch: The epoch in which to fill it, for the hooks of training.
        directory: The directory whose disk to fill (default: the trainer's ``default_root_dir``).
        event: Then log TensorBoard events, waiting for its writer thread: TensorBoard writes asynchronously,
            so without this a checkpoint may meet the full disk first.
    """

    def __init__(
        self, hook: str = "on_validation_end", epoch: int = 0, directory: str | None = None, event: bool = False
    ) -> None:
        self.hook, self.epoch, self.directory, self.event, self.done = hook, epoch, directory, event, False
        if hook == "init":
            self.done = True
            fill(Path(directory or "."))
        else:
            setattr(self, hook, self._fill)

    def _fill(self, trainer: L.Trainer, *args) -> None:
        if not self.done and not trainer.sanity_checking and trainer.current_epoch >= self.epoch:
            self.done = True
            fill(Path(self.directory or trainer.default_root_dir))
            for logger in trainer.loggers if self.event else []:
                for step in range(100_000):  # past the file's last allocated page, which still takes a few
                    logger.experiment.add_scalar("filled", 1.0, step)
                    if step % 100 == 0:
                        logger.experiment.flush()
