"""The run is the unit: after ``fit``, the commands need no config, a checkpoint's path alone is enough from any
directory, and a command scores a checkpoint in its own run, with the network its run recorded.

Each command runs in its own process as typed; the refusals, which end before anything is built, run in-process.
"""

import re
import shutil
import subprocess

import pytest
import torch
import yaml

from benchmarks import launch
from fizzlightning.runs import layout
from tests.helpers import FIZZBUZZ, clean_env, fizzlightning, only_run, write

SCORE = re.compile(r"Score on 1\.\.100: .*")


def typed(cwd, *args: str) -> tuple[int, str, str]:
    """``fizzlightning ARGS`` in ``cwd`` as a user types it: exit status, stdout, stderr."""
    process = launch.start(list(args), cwd, clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A directory where ``fit --config fizzbuzz.yaml`` finished one run."""
    home = tmp_path_factory.mktemp("home")
    write(home, "fizzbuzz.yaml", FIZZBUZZ)
    out = fizzlightning(home, "fit", "--config", "fizzbuzz.yaml")
    assert "Next: fizzlightning test\n" in out, out
    return home


def test_after_fit_test_and_predict_work_bare_on_its_run(home):
    run = only_run(home)
    bare, configured = fizzlightning(home, "test"), fizzlightning(home, "test", "--config", "fizzbuzz.yaml")
    assert SCORE.search(bare)[0] == SCORE.search(configured)[0]
    out = fizzlightning(home, "predict", "--data.predict_range", "[1, 15]")  # how it runs: the user's to choose
    assert f"Written to {run / 'predictions.csv'}" in out
    assert len((run / "predictions.csv").read_text().splitlines()) == 1 + 15
    assert only_run(home) == run  # every command wrote into the run fit made


def test_a_checkpoint_path_alone_works_from_another_directory_and_writes_into_its_run(home, tmp_path):
    run = only_run(home)
    best = str(run / "checkpoints" / "best.ckpt")
    elsewhere = fizzlightning(tmp_path, "test", "--ckpt_path", best)
    assert SCORE.search(elsewhere)[0] == SCORE.search(fizzlightning(home, "test", "--config", "fizzbuzz.yaml"))[0]
    assert list(tmp_path.iterdir()) == []  # nothing written where the command ran
    tests = sorted(run.glob("test-config*.yaml"))
    assert yaml.safe_load(tests[-1].read_text())["ckpt_path"] == best  # the checkpoint's run holds its record
    fizzlightning(tmp_path, "export", "--ckpt_path", best, "--format", "pt")
    alone = torch.load(run / "model.pt", weights_only=True)
    fizzlightning(home, "export", "--config", "fizzbuzz.yaml", "--ckpt_path", best, "--format", "pt")
    assert all(torch.equal(alone[key], value) for key, value in torch.load(run / "model.pt").items())
    assert list(tmp_path.iterdir()) == []


def recorded_network(run) -> list[str]:
    """Every setting of the run's model and data in its recorded config, but how a command scores it."""
    config = yaml.safe_load((run / layout.FIT_CONFIG).read_text())
    return [
        f"--{part}.init_args.{key}"
        for part in ("model", "data")
        for key in config[part]["init_args"]
        if key not in layout.HOW_IT_SCORES
    ]


def test_a_change_to_the_network_is_refused_in_one_line(home, tmp_path, cli, capfd):
    run = only_run(home)
    shutil.copytree(home / "lightning_logs", tmp_path / "lightning_logs")
    before = sorted(tmp_path.rglob("*"))
    settings, copied = recorded_network(run), tmp_path / "lightning_logs" / run.parent.name / run.name
    assert "--data.init_args.num_digits" in settings and "--model.init_args.hidden" in settings
    for setting in settings:
        for command in ("test", "validate", "predict", "export", "serve"):
            assert cli(command, setting, "1") == 2, (command, setting)
            err = capfd.readouterr().err
            assert err.count("\n") == 1 and f"error: {setting}: the model and data of {copied} are " in err, err
    assert sorted(tmp_path.rglob("*")) == before


def test_without_a_run_or_its_config_each_command_says_what_to_pass(home, tmp_path, cli, capfd):
    fixture = layout.Path(__file__).parent.parent / "fixtures" / "fizzbuzz-0.2.0-last.ckpt"
    cases = [
        (["test"], "No trained run to test: found none under"),
        (["export", "--ckpt_path", "last"], "(looked for */*/checkpoints/last.ckpt)"),
        (["test", "--ckpt_path", "missing.ckpt"], "Checkpoint missing.ckpt does not exist"),
        (["predict", "--ckpt_path", str(fixture)], f"the loose checkpoint {fixture} has no recorded"),
        (["fit"], "fizzlightning fit needs a config: --config lightning_configs/fizzbuzz.yaml"),
    ]
    for args, fragment in cases:
        assert cli(*args) == 2, args
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and fragment in err, (args, err)
    run = tmp_path / "lightning_logs" / "fizzbuzz" / only_run(home).name
    shutil.copytree(only_run(home), run)
    (run / layout.FIT_CONFIG).unlink()  # a run copied without its config
    for args in (["test"], ["export", "--ckpt_path", str(run / "checkpoints" / "best.ckpt")]):
        assert cli(*args) == 2, args
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and f"the run {run} has no recorded fit-config.yaml: pass the config" in err, err
