"""Where runs live on disk, and loading their checkpoints safely.

Layout: ``lightning_logs/<config name>/<run>/`` holds one run's TensorBoard events, ``checkpoints/best.ckpt``,
``checkpoints/last.ckpt``, the exported ``model.pt`` and, once ``fit`` has finished, ``fit.json``.
Each run gets its own directory, so two runs of one config started at once never share files.
"""

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.fabric.plugins import TorchCheckpointIO
from torch import nn

from fizzlightning.checks import ConfigError

LOG_ROOT = Path("lightning_logs")
FINISHED = "fit.json"
FIT_CONFIG = "fit-config.yaml"


class CheckpointError(ConfigError):
    """A checkpoint that is missing, unreadable, unsafe or made for another network."""


@dataclass(frozen=True)
class Start:
    """Where a command starts: the checkpoint it loads, the existing run it writes into, that run's seed."""

    ckpt_path: str | None = None
    run_name: str | None = None  # None: a new run directory
    seed: int | None = None  # the seed the checkpoint's run was fit with, when known


def experiment_dir(root: Path, config_files: list[str], model_class_path: str) -> Path:
    """``root/lightning_logs/<name>``: the last ``--config`` file's name, else the model's class name."""
    name = Path(config_files[-1]).stem if config_files else model_class_path.rsplit(".", 1)[-1].lower()
    return root / LOG_ROOT / name


def new_run_name(experiment: Path) -> str:
    """A sortable name no run of this experiment has yet: start time and process id.

    The process id keeps commands started at once apart; the counter keeps apart commands that one
    process (a notebook, a test) runs within the same second.
    """
    base = name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    count = 0
    while (experiment / name).exists():
        count += 1
        name = f"{base}-{count}"
    return name


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def _runs(experiment: Path) -> list[Path]:
    return [p for p in experiment.iterdir() if p.is_dir()] if experiment.is_dir() else []


def newest_finished_run(experiment: Path) -> Path | None:
    """The run whose ``fit`` finished last, or None."""
    finished = [run for run in _runs(experiment) if (run / FINISHED).is_file()]
    return max(finished, key=lambda run: ((run / FINISHED).stat().st_mtime, run.name), default=None)


def newest_last_checkpoint(experiment: Path) -> Path | None:
    """The most recently written ``last.ckpt`` of any run of this config, finished or interrupted."""
    lasts = [checkpoint_dir(run) / "last.ckpt" for run in _runs(experiment)]
    return max((p for p in lasts if p.is_file()), key=lambda p: p.stat().st_mtime, default=None)


def finished_checkpoint(run_dir: Path) -> Path:
    """The checkpoint ``fit`` chose by validation in a finished run."""
    return Path(json.loads((run_dir / FINISHED).read_text())["best_checkpoint"])


def run_seed(checkpoint: Path) -> int | None:
    """The seed of the run a checkpoint belongs to (``<run>/checkpoints/x.ckpt``), from its saved fit config."""
    config = checkpoint.parent.parent / FIT_CONFIG
    if checkpoint.parent.name != "checkpoints" or not config.is_file():
        return None
    seed = yaml.safe_load(config.read_text()).get("seed_everything")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def find_start(subcommand: str, experiment: Path, ckpt_path: str | None, fit_command: str) -> Start:
    """Resolve ``--ckpt_path`` (or its absence) for ``subcommand`` into the checkpoint and run to use.

    - ``fit``: a new run; ``--ckpt_path last`` resumes the newest ``last.ckpt`` inside its own run.
    - ``test``/``validate``/``predict``: the newest finished run's chosen checkpoint, scored inside that run.
    - an explicit path: that checkpoint, in a new run.
    Every checkpoint that belongs to a run keeps that run's seed, so the validation split and the
    shuffle order are the ones it was trained with.
    """
    if subcommand == "fit" and ckpt_path == "last":
        last = newest_last_checkpoint(experiment)
        if last is None:
            raise CheckpointError(
                f"--ckpt_path last: no last.ckpt under {experiment}/*/checkpoints/ to resume from. "
                "Run fit without --ckpt_path to start a new run."
            )
        return Start(str(last), last.parent.parent.name, run_seed(last))
    if subcommand != "fit" and ckpt_path is None:
        run = newest_finished_run(experiment)
        if run is None:
            raise CheckpointError(
                f"No trained checkpoint to {subcommand}: found no finished run under {experiment}/ "
                f"(looked for */{FINISHED}). Train one first with `{fit_command}`, or pass --ckpt_path PATH."
            )
        best = finished_checkpoint(run)
        return Start(str(best), run.name, run_seed(best))
    if ckpt_path is None:
        return Start()
    return Start(ckpt_path, None, run_seed(Path(ckpt_path)))


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete the temporary files of writes that a killed process never finished (see ``atomic_write``)."""
    for tmp in run_dir.rglob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


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
