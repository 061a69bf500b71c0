"""A smoke test keeps nothing: every command LightningCLI offers, run with ``--trainer.fast_dev_run`` as a user types
it after a real fit, leaves every file under ``lightning_logs`` as it was, makes no directory, and ``fizzlightning
runs`` says what it said before; it still says that it ran."""

import json
import os
from pathlib import Path

import pytest
import torch
from lightning.pytorch.cli import LightningCLI

from fizzlightning.commands.main import main
from tests.helpers import FIZZBUZZ, digests, fizzlightning, start, write

CONFIG = "fizzbuzz.yaml"
# every form of a smoke test Lightning takes: true, or a number of batches
SMOKE = ["true", "1", "3"]
# every subcommand, as it picks its run (the newest finished one) and with --ckpt_path last (fit: a resume)
COMMANDS = [[name, *last] for name in LightningCLI.subcommands() for last in ([], ["--ckpt_path", "last"])]


def in_process(directory: Path, *args: str) -> int:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        try:
            main(list(args))
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else 1
    return 0


@pytest.fixture(scope="module", params=["finished", "interrupted"])
def logs(request, tmp_path_factory) -> Path:
    """A directory with one run of the tiny config that ``fit --ckpt_path last`` would train on: a finished run of 1
    of its 2 epochs, or a run stopped by SIGTERM in its first epoch (a real signal, in a real process)."""
    directory = tmp_path_factory.mktemp(request.param)
    write(directory, CONFIG, FIZZBUZZ)
    if request.param == "finished":
        assert in_process(directory, "fit", "--config", CONFIG, "--trainer.max_epochs", "1") == 0
    else:
        signalled = ["--trainer.callbacks+=tests.helpers.SignalAtEpoch", "--trainer.callbacks.epoch=0"]
        process = start(directory, "fit", "--config", CONFIG, *signalled)
        assert process.wait(timeout=300) == 143, process.communicate()
    # the commands after fit pick a finished run: the interrupted one gets one from another experiment
    assert in_process(directory, "fit", "--config", CONFIG, "--experiment", "other") == 0
    return directory


def state(directory: Path) -> tuple[dict, list[str], list[dict]]:
    """Every file's bytes, every directory, and what ``fizzlightning runs`` says, as the user reads it."""
    folders = sorted(str(Path(folder).relative_to(directory)) for folder, _, _ in os.walk(directory))
    return digests(directory), folders, json.loads(fizzlightning(directory, "runs", "--json"))


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_smoke_test_keeps_nothing(logs, command, capfd):
    smoke = SMOKE[COMMANDS.index(command) % len(SMOKE)]
    picks_finished = command[0] != "fit" and len(command) == 1  # the interrupted run is no finished one
    experiment = ["--experiment", "other"] if picks_finished and not logs.name.startswith("finished") else []
    before = state(logs)
    assert before[2] and all(run["state"] in ("finished", "interrupted") for run in before[2])
    capfd.readouterr()
    assert in_process(logs, *command, "--config", CONFIG, *experiment, "--trainer.fast_dev_run", smoke) == 0
    out, err = capfd.readouterr()
    assert "Traceback" not in err
    said = f"--trainer.fast_dev_run: a smoke test of {command[0]} "
    if command == ["fit", "--ckpt_path", "last"]:  # Lightning's max_steps: none once the checkpoint is past them
        (last,) = logs.glob("lightning_logs/fizzbuzz/*/checkpoints/last.ckpt")
        past = torch.load(last, weights_only=True)["global_step"] >= (1 if smoke == "true" else int(smoke))
        said += "loaded a checkpoint already past the" if past else "ran"
        assert ("trained nothing" in out) == past
    else:
        said += "ran"
    assert said in out and "kept nothing" in out
    assert state(logs) == before
