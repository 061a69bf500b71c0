"""The installed app: --version at once, the shipped configs, the wheel, shell completion, saved configs coming home,
and a checkpoint without its config."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .helpers import CONFIGS, FIZZBUZZ, only_run, write

ROOT = CONFIGS.parent


def one_error_line(capfd) -> str:
    err = capfd.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("fizzlightning: error: ")
    return line


def test_version_answers_without_importing_torch_or_lightning():
    script = "import sys; from fizzlightning.app import main; main(sys.argv[1:]); print(sorted({'torch', 'lightning'}"
    script += " & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script, "--version", "--verbose"], capture_output=True, text=True)
    lines = done.stdout.splitlines()
    assert lines[0] == "fizzlightning 0.2.0"
    assert [line.split()[0] for line in lines[1:5]] == ["torch", "lightning", "torchmetrics", "jsonargparse"]
    assert lines[-1] == "[]"  # neither was imported


def test_configs_lists_the_shipped_ones_and_copies_them_out(cli, tmp_path, capsys):
    assert cli("configs") == 0
    listed = capsys.readouterr().out
    for name in ("fizzbuzz", "fizzbuzz_seed10", "regressor", "gan", "optimizers/curve_adam"):
        assert f"\n  {name} " in listed
    assert cli("configs", "--copy", "mine") == 0
    copied = sorted(p.relative_to(tmp_path / "mine") for p in (tmp_path / "mine").rglob("*.yaml"))
    assert copied == sorted(p.relative_to(CONFIGS) for p in CONFIGS.rglob("*.yaml"))
    capsys.readouterr()
    assert cli("configs", "--copy", "mine") == 2  # never over a user's edits
    assert capsys.readouterr().err.strip() == (
        "fizzlightning: error: mine already exists: copy the configs into a new directory, never over edits."
    )


def test_a_bare_config_name_is_the_shipped_config(cli, tmp_path, capsys):
    args = ["--config", "fizzbuzz", "--trainer.max_epochs", "1"]
    assert cli("fit", *args) == 0
    out = capsys.readouterr().out
    run = only_run(tmp_path)
    assert run.parent.name == "fizzbuzz"
    assert "Next: fizzlightning test --config fizzbuzz --trainer.max_epochs 1" in out  # as typed, not the package path
    write(tmp_path, "fizzbuzz", "not: a config")  # a file of that name wins over the shipped config
    assert cli("fit", "--config", "fizzbuzz") == 2


def test_the_wheel_ships_every_config(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("fizzlightning-*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("fizzlightning/configs/")}
    assert shipped == {f"fizzlightning/configs/{p.relative_to(CONFIGS)}" for p in CONFIGS.rglob("*.yaml")}


@pytest.mark.slow
def test_shell_completion_script_knows_the_subcommands_and_options():
    done = subprocess.run(
        [sys.executable, "-m", "fizzlightning", "--print_completion", "shtab-bash"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "-F _shtab_fizzlightning fizzlightning" in done.stdout.splitlines()[-1]
    assert "--trainer.max_epochs" in done.stdout and "predict" in done.stdout
    source = ["bash", "-c", "source /dev/stdin && complete -p fizzlightning"]
    sourced = subprocess.run(source, input=done.stdout, capture_output=True, text=True)
    assert "_shtab_fizzlightning" in sourced.stdout  # bash took it: fizzlightning now completes


def test_a_runs_saved_config_works_on_its_own_experiment(cli, tmp_path, capsys):
    config = write(tmp_path, "tiny.yaml", FIZZBUZZ)
    assert cli("fit", "--config", config) == 0
    run = only_run(tmp_path)
    saved = str(run / "fit-config.yaml")
    capsys.readouterr()
    for command in ("test", "validate", "predict"):
        assert cli(command, "--config", saved) == 0, command
    assert f"Checkpoint: {run / 'checkpoints' / 'best.ckpt'}" in capsys.readouterr().out
    assert cli("fit", "--config", saved) == 0  # a new run of the same experiment, not one named "fit-config"
    assert sorted(p.name for p in (tmp_path / "lightning_logs").iterdir()) == ["tiny"]
    assert len([p for p in (tmp_path / "lightning_logs" / "tiny").iterdir()]) == 2


def test_a_checkpoint_without_its_config_names_the_config_to_pass(cli, tmp_path, capfd):
    assert cli("fit", "--config", write(tmp_path, "tiny.yaml", FIZZBUZZ)) == 0
    run = only_run(tmp_path)
    capfd.readouterr()
    assert cli("fit", "--ckpt_path", "last") == 2
    assert f"Its run's config is {run / 'fit-config.yaml'}: --config {run / 'fit-config.yaml'}" in one_error_line(capfd)
    best = run / "checkpoints" / "best.ckpt"
    assert cli("test", "--ckpt_path", str(best)) == 2
    assert f"--config {run / 'fit-config.yaml'}" in one_error_line(capfd)
    assert cli("fit") == 2
    assert "fizzlightning fit needs a config: --config lightning_configs/fizzbuzz.yaml" in one_error_line(capfd)
    assert cli("test", "--ckpt_path", str(tmp_path / "elsewhere.ckpt")) == 2
    assert "needs the config the run was trained with (--config). Pass the config you ran fit with." in one_error_line(
        capfd
    )
    assert Path(best).is_file()
