"""The installed app: --version and --help at once, the shipped configs, the wheel, shell completion, output into a
closed pipe, saved configs coming home, and a checkpoint without its config."""

import os
import shlex
import subprocess
import sys
import zipfile

import pytest
import yaml

from benchmarks import launch
from tests.helpers import CONFIGS, FIZZBUZZ, clean_env, fizzlightning, only_run, start, write

ROOT = CONFIGS.parent


def one_error_line(capfd) -> str:
    err = capfd.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("fizzlightning: error: ")
    return line


def test_version_answers_without_importing_torch_or_lightning():
    script = "import sys; from fizzlightning.commands.main import main; main(sys.argv[1:]); "
    script += "print(sorted({'torch', 'lightning'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script, "--version", "--verbose"], capture_output=True, text=True)
    lines = done.stdout.splitlines()
    assert lines[0] == "fizzlightning 0.2.0"
    assert [line.split()[0] for line in lines[1:5]] == ["torch", "lightning", "torchmetrics", "jsonargparse"]
    assert lines[-1] == "[]"  # neither was imported


def test_the_process_own_command_skips_the_last_garbage_collections_a_callers_does_not():
    # main() of the console script (no args) freezes what the command made, so that the interpreter's exit does not
    # walk it (about 1 s after a fit); main(args) called by another program leaves its collector alone
    script = "import gc, sys; from fizzlightning.commands.main import main; main({}); print(gc.get_freeze_count())"
    for args, frozen in (("", True), ("sys.argv[1:]", False)):
        done = subprocess.run([sys.executable, "-c", script.format(args), "--version"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        version, count = done.stdout.splitlines()
        assert version == "fizzlightning 0.2.0"
        assert (int(count) > 0) == frozen


def test_what_fit_imports_before_training_leaves_out_the_export_serving_and_search_machinery():
    # fit's modules (the command, the CLI, the models, data and callbacks its configs name) import none of what only
    # the end of a fit (torch.export's tracer: 0.3 s), serve, export --format onnx or the recipe search needs
    later = ["torch.export._trace", "onnx", "onnxruntime", "litserve", "fastapi", "uvicorn", "optuna"]
    script = "import sys, fizzlightning.commands.main, fizzlightning.commands.cli, fizzlightning.callbacks.stopping; "
    script += f"import fizzlightning.models, fizzlightning.data; print(sorted(set({later!r}) & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("columns", [60, 100])
def test_configs_prints_each_description_whole_and_how_to_use_a_layer(cli, tmp_path, capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert cli("configs") == 0
    header, *blocks = capsys.readouterr().out.strip().split("\n\n")
    assert header.startswith("Shipped configs")
    shipped = {p.relative_to(CONFIGS).with_suffix("").as_posix(): p for p in CONFIGS.rglob("*.yaml")}
    printed = {block.splitlines()[0].strip(): block.splitlines()[1:] for block in blocks}
    assert sorted(printed) == sorted(shipped)
    layers = []
    for name, lines in printed.items():
        assert all(len(line) <= columns for line in lines if "fizzlightning fit" not in line)
        text = yaml.safe_load(shipped[name].read_text())
        comments = [line.lstrip("# ") for line in shipped[name].read_text().splitlines() if line.startswith("#")]
        words = " ".join(line.strip() for line in lines).split()
        assert words[: len(" ".join(comments).split())] == " ".join(comments).split()  # whole, in order
        if "model" not in text:  # a layer: it builds no model alone, and says what to put it on
            (command,) = [line.strip() for line in lines if line.strip().startswith("fizzlightning fit")]
            layers.append(command)
    assert layers  # the optimizers/curve_* layers
    for command in layers if columns == 60 else []:  # each printed command trains, as typed (one epoch)
        assert cli(*shlex.split(command)[1:], "--trainer.max_epochs", "1") == 0


def test_configs_copies_them_out(cli, tmp_path, capsys):
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
    assert "Next: fizzlightning test\n" in out  # the run it finished: its config is recorded there
    write(tmp_path, "fizzbuzz", "not: a config")  # a file of that name wins over the shipped config
    assert cli("fit", "--config", "fizzbuzz") == 2


def test_the_wheel_ships_every_config_its_type_marker_and_license(tmp_path):
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
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {name for name in names if name.startswith("fizzlightning/configs/")}
    assert shipped == {f"fizzlightning/configs/{p.relative_to(CONFIGS)}" for p in CONFIGS.rglob("*.yaml")}
    assert "fizzlightning/py.typed" in names  # PEP 561: type checkers read the library's annotations
    info = next(name for name in names if name.endswith(".dist-info/METADATA"))
    metadata = zipfile.ZipFile(wheel).read(info).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Programming Language :: Python :: 3.11" in metadata  # the version the tests ran on
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)


COMMANDS = ("fit", "validate", "test", "predict", "serve", "export", "configs", "runs")
MAX_COMPLETION_BYTES = 64_000  # 13.4 KB with Lightning 2.6's Trainer; LightningCLI's own script was 1.2 MB


def test_help_lists_every_command_a_line_each(tmp_path):
    for flag in ("--help", "-h"):
        out = fizzlightning(tmp_path, flag)  # exit 0, or it raises
        listed = [line for line in out.splitlines() if line[:2] == "  " and line[2:3].isalpha()]
        assert [line.split()[0] for line in listed] == list(COMMANDS), out
        assert all(len(line) <= 80 and len(line.split()) > 4 for line in listed), out  # one line says what it does
        assert "`fizzlightning COMMAND --help` lists the options of each command." in out
    script = "import sys; from fizzlightning.commands.main import main; main(['--help']); "
    script += "print(sorted({'torch', 'lightning'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "[]"  # the help answers at once: neither was imported


def test_no_command_is_one_error_line_naming_every_command(tmp_path):
    for args, start_ in (([], "expected a command: "), (["fitt"], "'fitt' is not a command: ")):
        process = start(tmp_path, *args)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 2
        (line,) = err.splitlines()
        assert line.startswith(f"fizzlightning: error: {start_}{', '.join(COMMANDS)}. "), line
        assert "`fizzlightning --help`" in line and "`fizzlightning COMMAND --help`" in line
        assert out == ""


def test_configs_help_is_its_usage_and_its_mistakes_one_line(cli, capfd):
    assert cli("configs", "--help") == 0
    out = capfd.readouterr().out
    assert out.startswith("usage: fizzlightning configs [-h] [--copy DIR]") and "--copy DIR" in out
    assert cli("configs", "--copy") == 2
    assert "fizzlightning configs: argument --copy: expected one argument" in one_error_line(capfd)
    assert cli("configs", "extra") == 2
    assert "unrecognized arguments: extra (fizzlightning configs --help lists the options)." in one_error_line(capfd)


def test_shell_completion_covers_every_command_and_is_small(tmp_path):
    script = fizzlightning(tmp_path, "--print_completion", "shtab-bash")
    assert len(script.encode()) < MAX_COMPLETION_BYTES
    assert "-F _shtab_fizzlightning fizzlightning" in script.splitlines()[-1]
    for option in ("--trainer.max_epochs", "--ckpt_path", "--lr_scheduler", "--max-batch-size", "--format", "--copy"):
        assert option in script
    for option in ("--experiment", "--root", "--json"):  # runs
        assert option in script
    (tmp_path / "run.yaml").touch()
    # bash takes the script, and completes as a user's TAB would: COMP_WORDS is the line typed so far
    complete = "source /dev/stdin && for line in '' s 'fit --trainer.max_e' 'fit --config ru' 'export --format '; do "
    complete += "COMP_WORDS=(fizzlightning $line); [[ $line == *' ' || -z $line ]] && COMP_WORDS+=(''); "
    complete += 'COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _shtab_fizzlightning; echo "${COMPREPLY[*]}"; done'
    done = subprocess.run(["bash", "-c", complete], input=script, capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.splitlines() == [" ".join(COMMANDS), "serve", "--trainer.max_epochs", "run.yaml", "onnx pt pt2"]


def test_output_into_head_ends_quietly(tmp_path):
    writer = start(tmp_path, "--print_completion", "shtab-bash")  # the pipe holds 64 KB: LightningCLI's was 1.2 MB
    head = subprocess.Popen(["head", "-1"], stdin=writer.stdout, stdout=subprocess.PIPE, text=True)
    writer.stdout.close()  # head holds the pipe's read end alone: when it exits, the pipe is closed
    first, _ = head.communicate(timeout=120)
    err = writer.stderr.read()
    assert head.returncode == 0 and first.count("\n") == 1
    assert writer.wait(timeout=120) in (0, 1) and "Traceback" not in err, err


@pytest.mark.parametrize(
    "args",
    [
        ["--version", "--verbose"],
        ["--help"],
        ["configs"],
        ["configs", "--help"],
        ["runs", "--help"],
        ["--print_completion", "shtab-bash"],
        ["fit", "--config", str(CONFIGS / "fizzbuzz.yaml"), "--print_config"],  # LightningCLI's printing
    ],
)
def test_output_into_a_closed_pipe_ends_quietly(tmp_path, args):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write: every command's printing meets a closed pipe
    process = launch.start(args, tmp_path, clean_env(), stdout=write)
    os.close(write)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (0, 1), err  # 1: what the Python docs' note on SIGPIPE does
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipeError" not in err, err


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
