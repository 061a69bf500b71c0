"""Bad input: one paragraph naming the setting, its value and what is allowed; no traceback; nothing left behind."""

import os
import re
import subprocess
from pathlib import Path

import pytest
import torch

from tests.helpers import CONFIGS, FIZZBUZZ, REGRESSOR, assert_kept, digests, fit_in, runs, state_dict, write

MALFORMED = FIZZBUZZ.replace("hidden: [8]", "hidden: [8")
UNKNOWN_KEY = FIZZBUZZ.replace("max_epochs:", "max_epoch:")
WRONG_TYPE = FIZZBUZZ.replace("batch_size: 32", "batch_size: sixteen")
NAN_LR = FIZZBUZZ.replace("lr: 0.1", "lr: .nan")


def error_line(capfd) -> str:
    """The one line of the error; fails on a traceback or on anything else that looks like an error."""
    err = capfd.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("fizzlightning: error: ")]
    assert len(lines) == 1, err
    return lines[0]


BAD_SETTINGS = [
    # (config text or None for no file, arguments, fragments the message must hold)
    (FIZZBUZZ, ["fit", "--data.num_digits", "4"], ["data.num_digits = 4", "at least 8"]),
    (FIZZBUZZ, ["fit", "--data.num_digits", "40"], ["data.num_digits = 40", "at most 24", "180224.0 GiB"]),
    (FIZZBUZZ, ["fit", "--data.num_digits", "0"], ["data.num_digits = 0", "an integer of at least 8"]),
    (FIZZBUZZ, ["fit", "--data.num_digits", "-3"], ["data.num_digits = -3", "an integer of at least 8"]),
    (FIZZBUZZ, ["fit", "--data.num_digits", "8.5"], ["data.num_digits", "8.5", "expected int"]),
    (FIZZBUZZ, ["fit", "--model.hidden", "[0]"], ["model.hidden = [0]", "positive widths"]),
    (FIZZBUZZ, ["fit", "--model.hidden", "[8, -2]"], ["model.hidden = [8, -2]", "positive widths"]),
    (FIZZBUZZ, ["fit", "--data.batch_size", "0"], ["data.batch_size = 0", "positive integer"]),
    (FIZZBUZZ, ["fit", "--data.batch_size", "-5"], ["data.batch_size = -5", "positive integer"]),
    (FIZZBUZZ, ["fit", "--optimizer.lr", "0"], ["optimizer.init_args.lr = 0.0", "finite learning rate > 0"]),
    (FIZZBUZZ, ["fit", "--optimizer.lr", "-1"], ["optimizer.init_args.lr = -1.0", "finite learning rate > 0"]),
    (FIZZBUZZ, ["fit", "--optimizer.lr", "nan"], ["optimizer.lr", "nan", "finite number"]),
    (FIZZBUZZ, ["fit", "--optimizer.lr", "inf"], ["optimizer.lr", "inf", "finite number"]),
    (NAN_LR, ["fit"], ["optimizer.init_args.lr = nan", "finite learning rate > 0"]),
    # Lightning's docs put an injected optimizer under the model; here the top level sets it, and would win silently
    (FIZZBUZZ, ["fit", "--model.init_args.optimizer", "Adam"], ["model.init_args.optimizer is not", "top level"]),
    (FIZZBUZZ.replace("board_every_n_epochs: 0", "lr_scheduler: StepLR"), ["fit"], ["model.init_args.lr_scheduler is"]),
    (FIZZBUZZ, ["fit", "--data.val_fraction", "0"], ["data.val_fraction = 0.0", "strictly between 0 and 1"]),
    (FIZZBUZZ, ["fit", "--data.val_fraction", "1"], ["data.val_fraction = 1.0", "strictly between 0 and 1"]),
    (FIZZBUZZ, ["fit", "--data.val_fraction", "1.5"], ["data.val_fraction = 1.5", "strictly between 0 and 1"]),
    (FIZZBUZZ, ["fit", "--data.val_fraction", "0.999"], ["data.val_fraction = 0.999", "155 training numbers"]),
    (REGRESSOR, ["fit", "--model.hidden", "0"], ["model.hidden = 0", "positive integer"]),
    (REGRESSOR, ["fit", "--data.n", "0"], ["data.n = 0", "positive integer"]),
    (REGRESSOR, ["fit", "--data.d_in", "-1"], ["data.d_in = -1", "positive integer"]),
    (REGRESSOR, ["fit", "--data.d_out", "0"], ["data.d_out = 0", "positive integer"]),
    (REGRESSOR, ["fit", "--data.steps_per_epoch", "0"], ["data.steps_per_epoch = 0", "positive integer"]),
    (FIZZBUZZ, ["predict", "--data.predict_range", "[50, 10]"], ["data.predict_range = [50, 10]", "first <= last"]),
    (FIZZBUZZ, ["predict", "--data.predict_range", "[-5, 10]"], ["data.predict_range = [-5, 10]", "1 <= first"]),
    (FIZZBUZZ, ["predict", "--data.predict_range", "[1, 300]"], ["data.predict_range = [1, 300]", "<= 255"]),
    (None, ["fit"], ["--config", "config.yaml", "no such file"]),
    (MALFORMED, ["fit"], ["--config config.yaml is not valid YAML", "line 10"]),
    (UNKNOWN_KEY, ["fit"], ["trainer.max_epoch"]),
    (FIZZBUZZ, ["fit", "--model.hiden", "[8]"], ["model", "'hiden' is not accepted", "--model.help"]),
    (WRONG_TYPE, ["fit"], ["data.batch_size", "sixteen", "expected int"]),
    (FIZZBUZZ, ["fit", "--trainer.max_epochs", "many"], ["trainer.max_epochs", "many", "expected int"]),
    # Lightning's own checks of the Trainer's values: the setting is named, whatever the value
    *[
        (FIZZBUZZ, ["fit", "--trainer.max_epochs", v], [f"trainer.max_epochs = {v}", "non-negative"])
        for v in ("-5", "-2")
    ],
    *[(FIZZBUZZ, ["fit", "--trainer.devices", v], [f"trainer.devices = '{v}' is not allowed"]) for v in ("0", "-2")],
    *[
        (
            FIZZBUZZ,
            ["fit", "--trainer.accelerator", name],
            [f"trainer.accelerator = '{name}'", "--trainer.accelerator cpu"],
        )
        for name in ("gpu", "cuda")
        if not torch.cuda.is_available()
    ],
    # seed_everything is declared with the range numpy's seed takes: both sides of it, and a far one
    *[
        (FIZZBUZZ, ["fit", "--seed_everything", str(seed)], ["seed_everything", "from 0 to 4294967295", str(seed)])
        for seed in (-1, 2**32, 10**20)
    ],
    (FIZZBUZZ, ["fit", "--seed_everything", "x"], ["seed_everything", "expected int (or true/false)"]),
    # an experiment is one folder under lightning_logs, for every command that finds runs by it
    *[
        (FIZZBUZZ, [command, "--experiment", name], ["experiment = ", "a folder name under lightning_logs/"])
        for name in ("../x", "a/b", "/tmp/x", ".", "..", "a" * 256, "\u00e9" * 128)
        for command in ("fit", "test")
    ],
]


@pytest.mark.parametrize("text, args, fragments", BAD_SETTINGS, ids=[" ".join(a) for _, a, _ in BAD_SETTINGS])
def test_bad_setting_is_one_clear_paragraph(cli, tmp_path, capfd, text, args, fragments):
    if text is not None:
        write(tmp_path, "config.yaml", text)
    code = cli(args[0], "--config", "config.yaml", *args[1:])
    message = error_line(capfd)
    assert code == 2  # the README's promise for every config mistake
    for fragment in fragments:
        assert fragment in message
    assert not (tmp_path / "lightning_logs").exists()  # rejected before anything was written


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny FizzBuzz run and a finished tiny regressor run: their best checkpoints."""
    directory = tmp_path_factory.mktemp("trained")
    for name, text in (("fizzbuzz.yaml", FIZZBUZZ), ("regressor.yaml", REGRESSOR)):
        fit_in(directory, name, text)
    return {name: runs(directory, f"{name}.yaml")[-1] for name in ("fizzbuzz", "regressor")}


def test_bad_checkpoints_say_what_the_file_holds(cli, tmp_path, capfd, trained):
    fizzbuzz_ckpt = trained["fizzbuzz"] / "checkpoints" / "best.ckpt"
    regressor_ckpt = trained["regressor"] / "checkpoints" / "best.ckpt"
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    (tmp_path / "truncated.ckpt").write_bytes(fizzbuzz_ckpt.read_bytes()[:2000])
    fizzbuzz, regressor = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ), write(tmp_path, "regressor.yaml", REGRESSOR)
    cases = [
        (["test", "--config", fizzbuzz, "--ckpt_path", "missing.ckpt"], ["missing.ckpt does not exist"]),
        (["test", "--config", fizzbuzz, "--ckpt_path", "notes.txt"], ["Cannot read notes.txt", "not a PyTorch"]),
        (["test", "--config", fizzbuzz, "--ckpt_path", "truncated.ckpt"], ["Cannot read truncated.ckpt", "truncated"]),
        (
            ["predict", "--config", fizzbuzz, "--ckpt_path", str(trained["fizzbuzz"] / "model.pt")],
            ["model.pt is not a Lightning checkpoint", "'0.weight'"],
        ),
        (
            ["test", "--config", fizzbuzz, "--ckpt_path", str(regressor_ckpt)],
            ["model = FizzBuzzClassifier(num_digits=8", "was trained with Regressor(d_in=20, hidden=8, d_out=3"],
        ),
        (
            ["fit", "--config", fizzbuzz, "--ckpt_path", str(regressor_ckpt)],
            ["model = FizzBuzzClassifier(", "was trained with Regressor("],
        ),
        (
            ["test", "--config", regressor, "--ckpt_path", str(fizzbuzz_ckpt)],
            ["model = Regressor(d_in=20", "was trained with FizzBuzzClassifier(num_digits=8, hidden=[8]"],
        ),
        (
            ["test", "--config", fizzbuzz, "--ckpt_path", str(fizzbuzz_ckpt), "--data.num_digits", "9"],
            [
                "data.init_args.num_digits = 9 changes the network or its data: ",
                "best.ckpt was trained with 8. A command",
            ],
        ),
        (
            ["predict", "--config", fizzbuzz, "--ckpt_path", str(fizzbuzz_ckpt), "--model.hidden", "[8, 4]"],
            ["model.init_args.hidden = [8, 4] changes the network", "best.ckpt was trained with [8]."],
        ),
        (  # the same shapes, another network: the weights would load and play wrong
            ["test", "--config", fizzbuzz, "--ckpt_path", str(fizzbuzz_ckpt), "--model.activation", "sin"],
            ["model.init_args.activation = 'sin' changes the", "best.ckpt was trained with 'relu'."],
        ),
    ]
    for args, fragments in cases:
        code = cli(*args)
        message = error_line(capfd)
        assert code == 2, args
        for fragment in fragments:
            assert fragment in message, (args, message)
    assert not (tmp_path / "lightning_logs").exists()


def test_no_trained_run_says_where_it_looked_and_what_to_run(cli, tmp_path, capfd):
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    for subcommand in ("test", "predict"):
        assert cli(subcommand, "--config", config) != 0
        message = error_line(capfd)
        assert f"No trained checkpoint to {subcommand}" in message
        assert str(tmp_path / "lightning_logs" / "fizzbuzz") in message
        assert "fizzlightning fit --config fizzbuzz.yaml" in message


def test_divergence_names_step_and_rate_and_keeps_no_diverged_checkpoint(cli, tmp_path, capfd):
    # Epoch 0 trains at lr 0.1; the scheduler then multiplies it by 1e30, and epoch 1 diverges.
    exploding = FIZZBUZZ.replace("max_epochs: 2", "max_epochs: 4") + (
        "lr_scheduler:\n  class_path: torch.optim.lr_scheduler.ExponentialLR\n  init_args:\n    gamma: 1.0e+30\n"
    )
    config = write(tmp_path, "exploding.yaml", exploding)
    assert cli("fit", "--config", config) == 1
    message = error_line(capfd)
    found = re.search(r"loss became (nan|inf|-inf) at step (\d+) \(epoch 1\) with learning rate 1e\+29", message)
    assert found, message
    assert 5 <= int(found[2]) < 10  # epoch 1's steps: 5 per epoch
    (run,) = runs(tmp_path, config)
    checkpoints = sorted((run / "checkpoints").glob("*.ckpt"))
    assert [p.name for p in checkpoints] == ["best.ckpt", "last.ckpt"]  # from epoch 0
    for checkpoint in checkpoints:
        assert all(torch.isfinite(t).all() for t in state_dict(checkpoint).values())
    assert not (run / "fit.json").exists()
    # nothing a later command trips over: test does not pick the diverged run
    assert cli("test", "--config", config) != 0
    assert "No trained checkpoint to test" in error_line(capfd)


def test_unwritable_log_dir_is_reported_before_training(cli, tmp_path, capfd):
    # A path below a regular file cannot be created, even by root (for whom chmod does not stop writes).
    (tmp_path / "a_file").write_text("")
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    assert cli("fit", "--config", config, "--trainer.default_root_dir", str(tmp_path / "a_file" / "logs")) != 0
    message = error_line(capfd)
    assert f"Cannot write logs and checkpoints to {tmp_path / 'a_file' / 'logs'}" in message
    assert "--trainer.default_root_dir" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "fizzbuzz.yaml"]


# The three mistakes the README's "Mistakes in a config" shows, as it shows them, on the shipped default config.
README_EXAMPLES = [
    (["fit", "--data.init_args.num_digits", "40"], "data.num_digits = 40 is not allowed: expected at most 24"),
    (["fit", "--model.init_args.hiden", "3"], "model: Option 'hiden' is not accepted"),
    (["test", "--ckpt_path", "{regressor_ckpt}"], "was trained with Regressor(d_in=20"),
]


@pytest.mark.parametrize("args, fragment", README_EXAMPLES, ids=[" ".join(a) for a, _ in README_EXAMPLES])
def test_each_readme_example_exits_2_with_one_line(cli, capfd, trained, args, fragment):
    regressor_ckpt = str(trained["regressor"] / "checkpoints" / "best.ckpt")
    rest = [arg.format(regressor_ckpt=regressor_ckpt) for arg in args[1:]]
    assert cli(args[0], "--config", str(CONFIGS / "fizzbuzz.yaml"), *rest) == 2
    assert fragment in error_line(capfd)


@pytest.fixture
def resumable(tmp_path) -> tuple[str, Path]:
    """A finished 2-epoch run of the tiny config in ``tmp_path``: the config's name and the run's last.ckpt."""
    fit_in(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    (run,) = runs(tmp_path, "fizzbuzz.yaml")
    return "fizzbuzz.yaml", run / "checkpoints" / "last.ckpt"


RESUME_MISTAKES = [
    (["--trainer.max_epochs", "1"], None, ["has already trained 2 epochs, more than --trainer.max_epochs 1"]),
    (["--optimizer", "Adam", "--optimizer.lr", "0.1"], None, ["was trained with SGD, but the config sets Adam"]),
    (["--optimizer.lr", "0.5"], None, ["was trained with optimizer lr = 0.1, but the config sets 0.5"]),
    ([], "older", ["your own Trainer or an older fizzlightning (checkpoint format 1; this version resumes format 2)"]),
    ([], "newer", ["was written by a newer fizzlightning (checkpoint format 9"]),
]


@pytest.mark.parametrize(
    "args, rewrite, fragments", RESUME_MISTAKES, ids=["max_epochs", "optimizer", "lr", "older", "newer"]
)
def test_each_resume_mistake_is_one_line_and_exit_2(cli, tmp_path, capfd, resumable, args, rewrite, fragments):
    config, last = resumable
    if rewrite is not None:  # a last.ckpt from another version of the app
        checkpoint = torch.load(last, weights_only=True)
        if rewrite == "older":
            del checkpoint["fizzlightning"]  # what fizzlightning 0.1 wrote: no record of its own
        else:
            checkpoint["fizzlightning"]["format"] = 9
        torch.save(checkpoint, last)
    before = last.read_bytes()
    assert cli("fit", "--config", config, "--ckpt_path", "last", "--trainer.max_epochs", "4", *args) == 2
    message = error_line(capfd)
    for fragment in [str(last), *fragments]:
        assert fragment in message
    assert last.read_bytes() == before  # nothing trained, nothing overwritten
    assert len(runs(tmp_path, config)) == 1


LATIN_1 = (FIZZBUZZ + "# un café\n").encode("latin-1")  # a config saved by an editor in Latin-1


@pytest.mark.parametrize("command", ["fit", "validate", "test", "predict", "export", "serve"])
def test_a_config_that_is_not_utf8_is_one_line(cli, tmp_path, capfd, command):
    (tmp_path / "latin.yaml").write_bytes(LATIN_1)
    assert cli(command, "--config", "latin.yaml") == 2
    assert "--config latin.yaml is not UTF-8 text: byte 0xe9 at line 20" in error_line(capfd)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin.yaml"]


@pytest.mark.parametrize("target", ["/dev/null/x", "a_file/x", "a_file/x/y"])
def test_configs_copy_to_a_place_that_cannot_hold_a_directory_is_one_line(cli, tmp_path, capfd, target):
    (tmp_path / "a_file").write_text("")  # a path below a regular file cannot be created, even by root
    assert cli("configs", "--copy", target) == 2
    assert f"configs --copy {target}: cannot create it (Not a directory)" in error_line(capfd)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


@pytest.mark.parametrize("callback", ["EarlyStopping", "ModelCheckpoint"])
def test_a_callback_monitoring_a_metric_nobody_logs_is_one_line(cli, tmp_path, capfd, callback):
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    args = [f"--trainer.callbacks+={callback}", "--trainer.callbacks.monitor", "nosuch/metric"]
    assert cli("fit", "--config", config, *args) == 2
    message = error_line(capfd)
    assert "nosuch/metric" in message and "val/loss" in message  # what it asked for, and what there is


@pytest.fixture
def read_only_run(tmp_path):
    """A finished run whose lightning_logs is then bind-mounted read-only onto itself (root only, as in CI)."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root (CI runs as root)")
    fit_in(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    logs = tmp_path / "lightning_logs"
    for options in (["--bind", str(logs)], ["-o", "remount,ro,bind"]):
        done = subprocess.run(["mount", *options, str(logs)], capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(logs)], capture_output=True)
            pytest.skip(f"cannot bind-mount here: {done.stderr.decode().strip()}")
    yield logs
    subprocess.run(["umount", "-l", str(logs)], check=True)


READ_ONLY = [
    # every command that writes into the run it uses: refused before anything is built (exit 2) ...
    *[([command], 2, "Cannot write into the run") for command in ("test", "validate", "predict")],
    (["fit", "--ckpt_path", "last", "--trainer.max_epochs", "3"], 2, "Cannot write into the run"),
    (["fit"], 2, "Cannot write logs and checkpoints to"),
    # ... or, for export, its failed write is the one line (not the cleanup of its temporary file)
    *[
        (["export", "--format", f], 1, "Read-only file system. The run's earlier files are intact")
        for f in ("pt", "pt2")
    ],
]


@pytest.mark.parametrize("args, code, fragment", READ_ONLY, ids=[" ".join(a) for a, _, _ in READ_ONLY])
def test_a_run_on_a_read_only_disk_is_one_line(cli, capfd, read_only_run, args, code, fragment):
    before = digests(read_only_run)
    capfd.readouterr()
    assert cli(args[0], "--config", "fizzbuzz.yaml", *args[1:]) == code
    assert fragment in error_line(capfd)
    assert_kept(before, read_only_run)


@pytest.mark.parametrize(
    "args",
    [
        ["--trainer.max_epoch\udce9=3"],  # the bytes in an option's name, its value after "="
        ["--trainer.max_epoch\udce9", "3"],
        ["--model.init_args.loss", "caf\udce9"],  # in a value, named by its option
        ["--config", "a" * 300],  # a name the system cannot look up
    ],
    ids=["name=value", "name value", "value", "long config name"],
)
def test_arguments_the_system_cannot_take_are_one_line(tmp_path, args):
    # os.fsencode turns the surrogate back into the byte 0xe9 that a Latin-1 terminal sends
    argv = ["fizzlightning", "fit", "--config", "fizzbuzz", *args]
    done = subprocess.run([os.fsencode(a) for a in argv], cwd=tmp_path, capture_output=True, timeout=120)
    err = done.stderr.decode(errors="replace").strip()
    assert done.returncode == 2, err
    (line,) = err.splitlines()
    assert line.startswith("fizzlightning: error: ") and "Traceback" not in err
    assert not (tmp_path / "lightning_logs").exists()
