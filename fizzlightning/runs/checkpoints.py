"""Checkpoints on disk: safe loading, rebuilding a model, and the checks that a checkpoint fits the command.

Every checkpoint is loaded with ``torch.load(..., weights_only=True)``, so a checkpoint cannot run code, and
written through ``files.atomic_write``, so a file is either whole or absent.
"""

import importlib
import inspect
import json
import pydoc
import re
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from torch import nn

from fizzlightning.data.base import WIDTHS
from fizzlightning.errors import CheckpointError, ConfigError
from fizzlightning.files import atomic_write, torch_bytes
from fizzlightning.models.base import INJECTED, MODELS, class_path, model_class
from fizzlightning.runs.layout import HOW_IT_SCORES

FORMAT = 2  # what fizzlightning keeps in a checkpoint beside Lightning's keys; a resume needs the same format


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint with ``weights_only=True``, turning every failure into a clear message."""
    path = Path(path)
    try:
        path.stat()
    except OSError as error:  # a name too long, a path through a file: the system's reason, in the same line
        if not isinstance(error, FileNotFoundError):
            raise CheckpointError(
                f"Checkpoint {str(path)[:80]}{'...' * (len(str(path)) > 80)} cannot be opened ({error.strerror}): "
                "--ckpt_path names a checkpoint file (.ckpt)."
            ) from None
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "is not a regular file" if path.exists() else "does not exist"
        raise CheckpointError(f"Checkpoint {path} {what}: --ckpt_path names a checkpoint file (.ckpt).")
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
            f"Cannot read {path} (--ckpt_path): it is not a PyTorch checkpoint, or it is truncated or corrupted "
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


def describe_model(class_path: str | None, hparams: dict[str, Any]) -> str:
    """``FizzBuzzClassifier(num_digits=12, hidden=[1024], ...)``: a model's class and ``__init__`` arguments."""
    args = ", ".join(f"{key}={value!r}" for key, value in hparams.items() if not key.startswith("_"))
    return f"{class_path.rsplit('.', 1)[-1]}({args})" if class_path else f"a model with hyperparameters ({args})"


def rebuild_model(checkpoint: dict[str, Any], path: str | Path) -> nn.Module:
    """The checkpoint's model, built from its class and ``__init__`` arguments, with its weights, in eval mode.

    Only fizzlightning's own models: a checkpoint does not get to name what is imported and built.
    """
    hparams = checkpoint.get("hyper_parameters") or {}
    held = hparams.get("_class_path")
    built = model_class(held)
    if built is None:
        known = ", ".join(sorted(model.__name__ for model in MODELS.values()))
        raise CheckpointError(f"{path} holds {describe_model(held, hparams)}; fizzlightning rebuilds only {known}.")
    try:
        model = built(**{k: v for k, v in hparams.items() if k[0] != "_"})
        model.load_state_dict(checkpoint["state_dict"])
    except (TypeError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[0]
        raise CheckpointError(f"Cannot rebuild {describe_model(held, hparams)} from {path}: {reason}") from None
    return model.eval()


def _default(cls: type, name: str) -> Any:
    """An ``__init__`` argument's default in the class that defines it (a subclass's own ``__init__`` may not list
    it): what a checkpoint written before the argument existed was trained with."""
    for klass in cls.__mro__:
        parameter = inspect.signature(klass.__init__).parameters.get(name)
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            return parameter.default
    return None


def check_network(
    checkpoint: dict[str, Any], model: nn.Module, path: str | Path, data: Any = None, inputs: bool = True
) -> None:
    """Refuse, in one line (``changed``), a config that builds another network than the checkpoint's, or (``inputs``:
    every command but a ``fit`` that starts a new run from it) feeds it other data.

    The checkpoint records its model's and its data's class and ``__init__`` arguments (Lightning's
    ``hyper_parameters`` and ``datamodule_hyper_parameters``); ``judge`` compares the values. A checkpoint that
    records no model (a script's, without ``save_hyperparameters``) is compared by its shapes.
    """
    held = checkpoint.get("hyper_parameters") or {}
    shapes = [{k: tuple(v.shape) for k, v in state.items()} for state in (model.state_dict(), checkpoint["state_dict"])]
    data_args = dict(getattr(data, "hparams", {})) if data is not None else {}
    judge(
        checkpoint, path, type(model), dict(model.hparams), type(data) if data is not None else None, data_args, inputs
    )
    if shapes[0] != shapes[1]:  # whatever the arguments say (a script's model may record other ones), they differ
        given = Shown(describe_model(class_path(model), dict(model.hparams)))
        was = describe_model(held.get("_class_path"), held) if held else "a model"
        raise changed("model", given, Shown(f"{was}, of parameters {list(shapes[1])[:6]}"), path)


def changed(setting: str, given: Any, was: Any, path: str | Path) -> CheckpointError:
    """The one line for a setting that changes a trained run's network or data, wherever it was set (an option, a
    ``--config``, the run's own recorded config)."""
    return CheckpointError(
        f"{setting} = {given!r} changes the network or its data: {path} was trained with {was!r}. A command on a "
        "trained run takes both from the run; how it runs is yours (--trainer.*, --data.batch_size, "
        "--data.predict_range). Drop the setting (or pass the config it was trained with), or fit a new run with it."
    )


class Shown(str):
    """A value already written as the line shows it (a model's description): ``changed`` quotes no further."""

    def __repr__(self) -> str:
        return str(self)


def _short(path: Any) -> str:
    return str(path).rsplit(".", 1)[-1]


def judge(
    checkpoint: dict[str, Any],
    path: str | Path,
    model_cls: type,
    model_args: dict[str, Any],
    data_cls: type | None,
    data_args: dict[str, Any],
    inputs: bool = True,
) -> None:
    """The run rule's one judgment, on values: the model's class and arguments and the data's (``data_args``, all
    but ``layout.HOW_IT_SCORES``; only its ``WIDTHS`` when not ``inputs``) against what the checkpoint recorded.

    A model argument changes the network when the model built with the checkpoint's value has another ``net``
    (what it prints: layers, widths, activations) or other parameter shapes: a dashboard's period is how it runs.
    Every data argument but how a command scores (``HOW_IT_SCORES``) makes the inputs: the widths, the ranges, the
    validation split. An argument the checkpoint does not record (added after it was written) was its default.
    """
    held = checkpoint.get("hyper_parameters") or {}
    held_class = held.get("_class_path")
    if held_class and model_class(held_class) is not model_cls:
        given = Shown(describe_model(f"{model_cls.__module__}.{model_cls.__qualname__}", model_args))
        raise changed("model", given, Shown(describe_model(held_class, held)), path)
    recorded = checkpoint.get("datamodule_hyper_parameters") or {}
    given_data = recorded.get("_class_path")
    if data_cls is not None and given_data and _short(given_data) != data_cls.__qualname__:
        raise changed("data", Shown(data_cls.__qualname__), Shown(_short(given_data)), path)
    settings = [
        (f"data.init_args.{k}", v, recorded[k] if k in recorded else _default(data_cls, k) if data_cls else v)
        for k, v in data_args.items()
        if recorded and k[0] != "_" and k not in HOW_IT_SCORES and (inputs or k in WIDTHS)
    ]
    args = {k: v for k, v in model_args.items() if k[0] != "_"}
    # a checkpoint naming no class is this model's when it records only this model's arguments (else a script's)
    if held_class or (held and {k for k in held if k[0] != "_"} <= set(args)):
        settings += [
            (f"model.init_args.{k}", v, held[k] if k in held else _default(model_cls, k)) for k, v in args.items()
        ]
    for setting, value, was in settings:
        if json.dumps(value, default=repr) == json.dumps(was, default=repr):
            continue
        name = setting.removeprefix("model.init_args.")
        if name in args and _same_network(model_cls, args, {**args, name: was}):
            continue  # the same network either way (a dashboard's period, a learning rate): how it runs
        raise changed(setting, value, was, path)


def check_config_network(checkpoint: dict[str, Any], config: Any, path: str | Path) -> None:
    """``judge`` for the commands that rebuild the checkpoint's model without building the config's (serve, export):
    ``config`` is what fit's own parser made of the config and the ``--model``/``--data`` options (``cli.fit_config``:
    ``class_path`` and ``init_args``, defaults filled), with the data's widths linked to the model as fit links them
    when it builds the two."""
    model_cls, data_cls = (pydoc.locate(part.class_path) if part else None for part in (config.model, config.data))
    data_args = config.data.init_args.as_dict() if data_cls else {}
    model_args = {k: v for k, v in config.model.init_args.as_dict().items() if k not in INJECTED}  # not hparams
    # The widths are the data's, linked into the model when fit builds the two (from the datamodule's attribute, which
    # a parse does not have: the curve's d_in is no argument): the data's argument where it has one, else the run's.
    held = checkpoint.get("hyper_parameters") or {}
    linked = [k for k in WIDTHS if k in model_args and (k in data_args or k in held)]
    model_args |= {k: data_args.get(k, held.get(k)) for k in linked}
    judge(checkpoint, path, model_cls, model_args, data_cls, data_args)


def _network(model: nn.Module) -> tuple[str, list[tuple[str, tuple[int, ...]]]]:
    """What makes a model's network: its ``net`` as it prints, and its parameters' names and shapes."""
    return repr(getattr(model, "net", model)), [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def _same_network(cls: type, args: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether ``cls`` built with ``args`` and with ``other`` has one network: built on the meta device, so nothing is
    allocated or drawn from the seeded random state."""
    try:
        with torch.device("meta"):
            return _network(cls(**args)) == _network(cls(**other))
    except Exception:  # a value does not build with this class: not this network
        return False


def check_config_model(checkpoint: dict[str, Any], config_class: str | None, path: str | Path, config: str) -> None:
    """For the commands that rebuild the checkpoint's model without building the config's (serve, export):
    refuse a checkpoint of another model class than the config names."""
    hparams = checkpoint.get("hyper_parameters") or {}
    held = hparams.get("_class_path")
    if config_class and "." in config_class:  # the user's own config: a model of their own joins MODELS, as in fit
        module = config_class.rsplit(".", 1)[0]
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ConfigError(f"--config {config} names {config_class}, which cannot be imported: {error}.") from None
    if config_class and config_class.rsplit(".", 1)[-1] != (held or "").rsplit(".", 1)[-1]:
        raise changed(f"--config {config}: model", Shown(config_class), Shown(describe_model(held, hparams)), path)


def run_record(trainer: L.Trainer) -> dict[str, Any]:
    """What fizzlightning adds to each checkpoint it writes (key ``fizzlightning``), for the resume checks, and when
    it was saved (``saved_at``, seconds since the epoch): the run rule's "newest ``last.ckpt``" (``layout.saved_at``),
    which a copy keeps and the file's time does not (``cp -r``)."""
    optimizers = [class_path(optimizer) for optimizer in trainer.optimizers]
    return {"format": FORMAT, "optimizers": optimizers, "saved_at": time.time()}


def epochs_done(checkpoint: dict[str, Any]) -> int:
    """Training epochs a checkpoint has finished: Lightning saves ``epoch`` as the index of the epoch it ended, or,
    for one written inside an epoch (a stop at ``max_steps``), of the epoch it is in."""
    return checkpoint["epoch"] + (not _run_state(checkpoint, "mid_epoch"))


def _run_state(checkpoint: dict[str, Any], key: str) -> bool:
    """A flag of ``RunCheckpoint``'s state in the checkpoint (none in an earlier version's: False)."""
    return any(isinstance(state, dict) and state.get(key) for state in checkpoint.get("callbacks", {}).values())


def run_over(checkpoint: dict[str, Any]) -> bool:
    """The checkpoint was written where its run stopped by its own rule (a stopping callback): a resume trains no
    more, whatever ``max_epochs`` says (``RunCheckpoint`` keeps this in its state)."""
    return _run_state(checkpoint, "run_over")


def nothing_to_train(ckpt_path: str, max_epochs: int | None, max_steps: int | None = None) -> str | None:
    """Why a resume from ``ckpt_path`` would train nothing more, and what would, or None if it would train."""
    checkpoint = load_checkpoint(ckpt_path)
    done = epochs_done(checkpoint)
    again = "to train again, run fit without --ckpt_path"
    if run_over(checkpoint):
        return f"it stopped by its own rule after {done} epochs), so --ckpt_path last changes nothing: {again}"
    steps = checkpoint["global_step"]
    if max_steps is not None and max_steps != -1 and max_steps <= steps:
        return (
            f"it has trained its {steps} steps), so --ckpt_path last changes nothing: to train it on, pass "
            f"--trainer.max_steps {steps + 1} or more; {again}"
        )
    if max_epochs is not None and max_epochs != -1 and max_epochs <= done:
        return (
            f"it has trained its {done} epochs), so --ckpt_path last changes nothing: to train it on, pass "
            f"--trainer.max_epochs {done + 1} or more; {again}"
        )
    return None


def check_resume(
    checkpoint: dict[str, Any], path: str | Path, max_epochs: int | None, optimizers: list[torch.optim.Optimizer]
) -> None:
    """Refuse a resume that could not continue the checkpoint's run, with one line saying what to change.

    ``optimizers``: what the config builds, which a resume would replace by the checkpoint's state.
    """
    record = checkpoint.get("fizzlightning")
    written = (record or {}).get("format", 1)
    if written != FORMAT:
        # no record: fizzlightning 0.1 wrote none, nor does a Trainer without RunCheckpoint (a script's)
        who = "your own Trainer or an older fizzlightning" if record is None else "an older fizzlightning"
        raise CheckpointError(
            f"{path} was written by {who if written < FORMAT else 'a newer fizzlightning'} (checkpoint format "
            f"{written}; this version resumes format {FORMAT}). test and predict can still score it with --ckpt_path; "
            "to train, start a new run: fit without --ckpt_path."
        )
    done = epochs_done(checkpoint)
    if max_epochs is not None and max_epochs != -1 and max_epochs < done:
        raise CheckpointError(
            f"{path} has already trained {done} epochs, more than --trainer.max_epochs {max_epochs}. "
            f"Pass --trainer.max_epochs {done} or more to train on, or start a new run without --ckpt_path."
        )
    held = record.get("optimizers", [])
    built = [class_path(optimizer) for optimizer in optimizers]
    if held and built and held != built:
        names = lambda paths: ", ".join(p.rsplit(".", 1)[-1] for p in paths)  # noqa: E731
        raise CheckpointError(
            f"{path} was trained with {names(held)}, but the config sets {names(built)}. Resume with the optimizer "
            "it was trained with, or start a new run: fit without --ckpt_path."
        )
    for held_state, optimizer in zip(checkpoint.get("optimizer_states", []), optimizers):
        _check_settings(held_state["param_groups"], optimizer.param_groups, path)


def check_start(
    ckpt_path: str | None, subcommand: str, model: L.LightningModule, data: Any, trainer: Any, run_dir: Path
) -> None:
    """Before anything runs: a checkpoint that does not fit the command. Its data too, but for a ``fit`` that starts
    a new run from it (``run_dir`` is not the checkpoint's run): training on other data is what that is for."""
    if ckpt_path is None:
        return
    checkpoint = load_checkpoint(ckpt_path)
    new_run = subcommand == "fit" and Path(ckpt_path).absolute().parent.parent != run_dir.absolute()
    check_network(checkpoint, model, ckpt_path, data, inputs=not new_run)
    if subcommand == "fit":  # the optimizers the model builds (its own, or the config's, which the CLI passed on)
        built = model.configure_optimizers()
        built = built.get("optimizer") if isinstance(built, dict) else built
        built = list(built[0]) if isinstance(built, tuple) else list(built) if isinstance(built, list) else [built]
        check_resume(checkpoint, ckpt_path, trainer.get("max_epochs"), built)


def _check_settings(held_groups: list[dict], groups: list[dict], path: str | Path) -> None:
    # A resume restores the checkpoint's optimizer settings: a different one in the config would be ignored.
    # A scheduler keeps the configured lr as initial_lr and moves lr, on either side: from its construction on.
    for held, group in zip(held_groups, groups):
        for key, value in group.items():
            if key in ("params", "initial_lr"):
                continue
            was = held.get("initial_lr", held.get(key)) if key == "lr" else held.get(key)
            value = group.get("initial_lr", value) if key == "lr" else value
            if key in held and was != value and not (isinstance(value, tuple) and list(value) == was):
                raise CheckpointError(
                    f"{path} was trained with optimizer {key} = {was!r}, but the config sets {value!r}: a resume "
                    "continues the checkpoint's settings. Resume with the settings it was trained with, or start a "
                    "new run: fit without --ckpt_path."
                )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O with all-or-nothing writes and ``weights_only=True`` loads.

    Lightning's own save writes the file in the system's temporary directory and moves it into place: across disks
    a copy into the old file, which a full disk leaves broken (``tests/commands/test_full_disk.py``)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any = None) -> None:
        data = torch_bytes(checkpoint)
        atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)
