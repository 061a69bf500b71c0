"""Where runs live on disk, and loading their checkpoints safely.

Layout: ``lightning_logs/<config name>/<run>/`` holds one run's TensorBoard events, ``checkpoints/best.ckpt``,
``checkpoints/last.ckpt``, the exported ``model.pt`` and, once ``fit`` has finished, ``fit.json``.
Each run gets its own directory, so two runs of one config started at once never share files.
"""

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from torch import nn

from fizzlightning.checks import ConfigError

LOG_ROOT = Path("lightning_logs")
FINISHED = "fit.json"
RUN_ENV = "FIZZLIGHTNING_RUN"  # DDP's worker processes re-run the command: they must pick the same run name


class CheckpointError(ConfigError):
    """A checkpoint that is missing, unreadable, unsafe or made for another network."""


def new_run_name(experiment_dir: Path) -> str:
    """A sortable name no other run of this config has (and shared with its DDP workers through the environment).

    The process id keeps commands started at once apart; the counter keeps apart commands that one
    process (a notebook, a test) runs within the same second.
    """
    if RUN_ENV not in os.environ:
        base = name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        count = 0
        while (experiment_dir / name).exists():
            count += 1
            name = f"{base}-{count}"
        os.environ[RUN_ENV] = name
    return os.environ[RUN_ENV]


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def _runs(experiment_dir: Path) -> list[Path]:
    return [p for p in experiment_dir.iterdir() if p.is_dir()] if experiment_dir.is_dir() else []


def newest_finished_run(experiment_dir: Path) -> Path | None:
    """The run whose ``fit`` finished last, or None."""
    finished = [run for run in _runs(experiment_dir) if (run / FINISHED).is_file()]
    return max(finished, key=lambda run: ((run / FINISHED).stat().st_mtime, run.name), default=None)


def newest_last_checkpoint(experiment_dir: Path) -> Path | None:
    """The most recently written ``last.ckpt`` of any run of this config, finished or interrupted."""
    lasts = [checkpoint_dir(run) / "last.ckpt" for run in _runs(experiment_dir)]
    return max((p for p in lasts if p.is_file()), key=lambda p: p.stat().st_mtime, default=None)


def finished_checkpoint(run_dir: Path) -> Path:
    """The checkpoint ``fit`` chose by validation in a finished run."""
    return Path(json.loads((run_dir / FINISHED).read_text())["best_checkpoint"])


def mark_finished(run_dir: Path, summary: dict[str, Any]) -> None:
    atomic_write(run_dir / FINISHED, lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    A rename within a directory is atomic, so a crash at any moment leaves ``path`` either as it
    was or complete, never half-written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint with ``weights_only=True``, turning every failure into a clear message."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist{' (it is a directory)' if path.is_dir() else ''}.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file fails anywhere in the unpickler: KeyError, RuntimeError, ...
        unsafe = re.search(r"GLOBAL ([\w.]+)", str(error))
        if unsafe:
            raise CheckpointError(
                f"Refused to load {path}: it asks to import the Python object {unsafe[1]}, and unpickling it could "
                "run arbitrary code. fizzlightning loads checkpoints with weights_only=True, which allows only "
                "tensors and plain values; a checkpoint written by fizzlightning holds nothing else."
            ) from None
        reason = re.split(r"(?<=\.)\s", str(error).strip())[0]  # torch's first sentence; the rest is advice
        raise CheckpointError(
            f"Cannot read {path}: it is not a PyTorch checkpoint, or it is truncated or corrupted "
            f"({type(error).__name__}: {reason})."
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        held = (
            f"a dict with keys {sorted(checkpoint)[:8]}" if isinstance(checkpoint, dict) else type(checkpoint).__name__
        )
        raise CheckpointError(
            f"{path} is not a Lightning checkpoint: it holds {held}, expected a dict with a 'state_dict' "
            "(an exported model.pt is for plain torch, not for --ckpt_path)."
        )
    return checkpoint


def describe(class_path: str | None, hparams: dict[str, Any]) -> str:
    """``FizzBuzzClassifier(num_digits=12, hidden=[1024], ...)``: a model's class and ``__init__`` arguments."""
    args = ", ".join(f"{key}={value!r}" for key, value in hparams.items() if not key.startswith("_"))
    return f"{class_path.rsplit('.', 1)[-1]}({args})" if class_path else f"a model with hyperparameters ({args})"


def _class_path(model: nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def check_checkpoint_fits(checkpoint: dict[str, Any], model: L.LightningModule, path: str | Path) -> None:
    """Refuse a checkpoint of another model than the config builds, saying what each one is.

    Each side is described from what Lightning saves: the class path and ``__init__`` arguments
    (``hyper_parameters``); the parameter shapes decide when the class is the same.
    """
    held_params = checkpoint.get("hyper_parameters") or {}
    held_class = held_params.get("_class_path")
    wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    held = {k: tuple(v.shape) for k, v in checkpoint["state_dict"].items()}
    if held_class in (None, _class_path(model)) and wanted == held:
        return
    if held_class is None and not held_params:
        what = f"a model with parameters {list(held)[:6]}"
    else:
        what = describe(held_class, held_params)
    raise CheckpointError(
        f"{path} holds {what}, but the config builds {describe(_class_path(model), dict(model.hparams))}. "
        "Pass the config it was trained with, or run fit with this one."
    )


def export_network(checkpoint_path: Path, out: Path) -> None:
    """Write the plain ``torch.nn`` network's ``state_dict`` from a checkpoint to ``out``.

    It loads with ``torch.load(out, weights_only=True)`` into ``fizzlightning.nets`` (or the lessons' own
    ``torch.nn.Sequential`` for FizzBuzz) without Lightning.
    """
    state = load_checkpoint(checkpoint_path)["state_dict"]
    net_state = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}
    atomic_write(out, lambda tmp: torch.save(net_state, tmp))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O with all-or-nothing writes and ``weights_only=True`` loads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any = None) -> None:
        atomic_write(Path(path), lambda tmp: torch.save(checkpoint, tmp))

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)
