"""Checkpoints are pickles: every one is loaded with weights_only=True, and one that would run code is refused."""

import pickle
import re
from pathlib import Path

import lightning as L
import pytest
import torch

from fizzlightning import GAN, FizzBuzzClassifier, Regressor
from fizzlightning.errors import CheckpointError
from fizzlightning.runs.checkpoints import AtomicCheckpointIO, check_network
from tests.helpers import FIZZBUZZ, runs, write


class OpensAFile:
    """Unpickling this calls ``open(path, "w")``: a harmless stand-in for arbitrary code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def craft(path: Path, marker: Path) -> Path:
    """A checkpoint with real weights and a payload that creates ``marker`` when unpickled."""
    torch.save({"state_dict": {"net.0.weight": torch.zeros(8, 8)}, "payload": OpensAFile(marker)}, path)
    return path


def test_the_crafted_checkpoint_does_run_code_when_loaded_unsafely(tmp_path):
    # Shows the payload works, so that the tests below would notice if it ran.
    marker = tmp_path / "ran"
    torch.load(craft(tmp_path / "evil.ckpt", marker), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("subcommand", ["fit", "test", "predict"])
def test_a_checkpoint_that_would_run_code_is_refused(cli, tmp_path, capfd, subcommand):
    config, marker = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ), tmp_path / "ran"
    craft(tmp_path / "evil.ckpt", marker)
    assert cli(subcommand, "--config", config, "--ckpt_path", "evil.ckpt") != 0
    err = capfd.readouterr().err
    assert "fizzlightning: error: Refused to load evil.ckpt: it asks to import the Python object io.open" in err
    assert "could run arbitrary code" in err and "Traceback" not in err
    assert not marker.exists()


def test_resuming_from_a_planted_last_checkpoint_is_refused(cli, tmp_path, capfd):
    config, marker = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ), tmp_path / "ran"
    assert cli("fit", "--config", config) == 0
    (run,) = runs(tmp_path, config)
    craft(run / "checkpoints" / "last.ckpt", marker)
    assert cli("fit", "--config", config, "--ckpt_path", "last") != 0
    assert "Refused to load" in capfd.readouterr().err
    assert not marker.exists()


def test_lightnings_own_load_is_weights_only_even_when_asked_otherwise(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(pickle.UnpicklingError):
        AtomicCheckpointIO().load_checkpoint(craft(tmp_path / "evil.ckpt", marker), weights_only=False)
    assert not marker.exists()


USED: list[object] = []


class RecordCheckpointIO(L.Callback):
    def on_fit_start(self, trainer, pl_module) -> None:
        USED.append(trainer.strategy.checkpoint_io)


def test_the_cli_trainer_saves_and_loads_through_atomic_checkpoint_io(cli, tmp_path):
    USED.clear()
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    assert cli("fit", "--config", config, f"--trainer.callbacks+={__name__}.RecordCheckpointIO") == 0
    assert len(USED) == 1 and isinstance(USED[0], AtomicCheckpointIO)


class SinNet(FizzBuzzClassifier):
    """A user's subclass whose own ``__init__`` does not list ``activation``."""

    def __init__(self, width: int = 8) -> None:
        super().__init__(num_digits=4, hidden=[width], activation="sin")


def test_the_activation_a_checkpoint_was_trained_with_must_be_the_configs_even_for_a_subclass():
    model = SinNet()
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    check_network(checkpoint, model, "sin.ckpt")  # the same network: accepted
    del checkpoint["hyper_parameters"]["activation"]  # written before the argument existed: relu, the default
    with pytest.raises(
        CheckpointError,
        match=r"model.init_args.activation = 'sin' changes the network or its data: sin.ckpt was trained with 'relu'",
    ):
        check_network(checkpoint, model, "sin.ckpt")
    relu = FizzBuzzClassifier(num_digits=4, hidden=[8])
    check_network(checkpoint, relu, "old.ckpt")  # and relu is what such a checkpoint loads into


def test_a_setting_that_builds_the_same_network_is_how_it_runs_not_another_network():
    trained = FizzBuzzClassifier(num_digits=4, hidden=[8], board_every_n_epochs=1)
    checkpoint = {"state_dict": trained.state_dict(), "hyper_parameters": dict(trained.hparams)}
    check_network(checkpoint, FizzBuzzClassifier(num_digits=4, hidden=[8], board_every_n_epochs=5), "a.ckpt")
    for changed, line in (
        ({"hidden": [8, 4]}, "model.init_args.hidden = [8, 4] changes "),
        ({"activation": "sin"}, "activation"),
    ):
        other = FizzBuzzClassifier(num_digits=4, **{"hidden": [8], "board_every_n_epochs": 5, **changed})
        with pytest.raises(CheckpointError, match=re.escape(line)):  # named, though the dashboard's period differs too
            check_network(checkpoint, other, "a.ckpt")


@pytest.mark.parametrize(
    "model, same, other",
    [
        (FizzBuzzClassifier, {"board_every_n_epochs": 5}, {"hidden": [8, 4]}),
        (Regressor, {"init": "normal", "loss": "mean"}, {"hidden": 7}),
        (GAN, {"lr_g": 0.5}, {"n_ideas": 3}),
    ],
)
def test_every_model_is_refused_another_network_and_nothing_else(model, same, other):
    trained = model()
    checkpoint = {"state_dict": trained.state_dict(), "hyper_parameters": {**trained.hparams, "_class_path": "x"}}
    checkpoint["hyper_parameters"]["_class_path"] = f"{model.__module__}.{model.__name__}"
    check_network(checkpoint, model(**same), "a.ckpt")  # built on the meta device: nothing allocated or drawn
    ((name, value),) = other.items()
    with pytest.raises(
        CheckpointError,
        match=re.escape(f"model.init_args.{name} = {value!r} changes the network or its data: a.ckpt was trained with"),
    ):
        check_network(checkpoint, model(**same, **other), "a.ckpt")


def test_a_scripts_checkpoint_with_other_arguments_and_other_shapes_is_refused():
    trained = FizzBuzzClassifier(num_digits=4, hidden=[8])  # a script's: its arguments recorded, no class
    checkpoint = {"state_dict": trained.state_dict(), "hyper_parameters": {"width": 8}}
    with pytest.raises(
        CheckpointError,
        match=r"model = FizzBuzzClassifier\(.*: a.ckpt was trained with a model with hyperparameters \(width=8\)",
    ):
        check_network(checkpoint, FizzBuzzClassifier(num_digits=4, hidden=[9]), "a.ckpt")
