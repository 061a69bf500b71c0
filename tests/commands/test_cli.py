"""The commands a user runs, through the real entry point: fit, test, predict, export."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fizzlightning.lessons import fizzbuzz
from fizzlightning.models.classifier import FizzBuzzClassifier
from tests.helpers import CONFIGS, FEW_STEPS, TINY_FIZZBUZZ, only_run


def test_lightnings_best_and_last_name_the_runs_checkpoints(cli, tmp_path, capsys):
    assert cli("fit", *TINY_FIZZBUZZ) == 0
    checkpoints = only_run(tmp_path) / "checkpoints"
    for command, name in [("test", "best"), ("test", "last"), ("validate", "last"), ("predict", "best")]:
        capsys.readouterr()
        assert cli(command, *TINY_FIZZBUZZ, "--ckpt_path", name) == 0
        if command != "validate":  # validate prints Lightning's table, without the checkpoint
            assert f"Checkpoint: {checkpoints / f'{name}.ckpt'}" in capsys.readouterr().out
    assert only_run(tmp_path) == checkpoints.parent  # every command worked in the run


def test_test_scores_the_checkpoint_fit_chose_and_lists_every_mistake(cli, tmp_path, capsys):
    assert cli("fit", *TINY_FIZZBUZZ) == 0
    capsys.readouterr()
    assert cli("test", *TINY_FIZZBUZZ) == 0
    out = capsys.readouterr().out
    run = only_run(tmp_path)
    assert f"Checkpoint: {run / 'checkpoints' / 'best.ckpt'}" in out
    assert (run / "test-config.yaml").is_file() and (run / "fit-config.yaml").is_file()
    score_line = next(line for line in out.splitlines() if line.startswith("Score on 1..100:"))
    correct = int(score_line.split(":")[1].split("/")[0])
    mistakes = [line for line in out.splitlines() if line.startswith("  ") and ":" in line]
    assert correct + len(mistakes) == 100
    assert f"torchmetrics accuracy {correct / 100:.4f}" in score_line
    for line in mistakes:  # "   35: 35        buzz" -> the truth is the game's answer for that number
        number, said = line.split(":")
        truth = said.split()[-1]
        assert truth == fizzbuzz.decode(int(number), int(fizzbuzz.fizzbuzz_labels(torch.tensor(int(number)))))


def test_test_with_no_test_batch_says_nothing_was_scored(cli, tmp_path, capsys):
    assert cli("fit", *TINY_FIZZBUZZ) == 0
    capsys.readouterr()
    assert cli("test", *TINY_FIZZBUZZ, "--trainer.limit_test_batches", "0") == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "No test/ metrics were logged: no test batch ran."


def test_predict_plays_the_game_and_writes_it_to_a_csv_file_in_the_run(cli, tmp_path, capsys):
    assert cli("fit", *TINY_FIZZBUZZ) == 0
    capsys.readouterr()
    assert cli("predict", *TINY_FIZZBUZZ, "--data.init_args.predict_range", "[1, 20]") == 0
    *game, written = capsys.readouterr().out.strip().splitlines()[-3:]
    words = " ".join(game).split()
    assert len(words) == 20
    for number, word in enumerate(words, start=1):
        assert word == str(number) or word in fizzbuzz.CLASSES[1:]
    run = only_run(tmp_path)
    assert written == f"Written to {run / 'predictions.csv'}"
    with (run / "predictions.csv").open() as table:
        rows = list(csv.reader(table))
    assert rows == [["number", "answer"], *([str(n), word] for n, word in enumerate(words, start=1))]
    assert not list(run.glob("events.out.tfevents.*.1"))  # predict adds no logs to the run


@pytest.mark.parametrize("command", ["test", "predict", "validate"])
def test_scoring_without_a_trained_run_fails_with_what_to_run(cli, tmp_path, capsys, command):
    assert cli(command, *TINY_FIZZBUZZ) != 0
    err = capsys.readouterr().err
    assert str(tmp_path / "lightning_logs" / "fizzbuzz") in err
    assert "fizzlightning fit --config" in err
    assert "Traceback" not in err


def test_exported_state_dict_loads_into_plain_torch_without_lightning(cli, tmp_path):
    assert cli("fit", *TINY_FIZZBUZZ) == 0
    run = only_run(tmp_path)
    # A fresh interpreter where importing Lightning fails: the export must need torch alone.
    script = f"""
import sys, json, torch
sys.modules["lightning"] = sys.modules["pytorch_lightning"] = None
class Sine(torch.nn.Module):  # the default config's activation, where the seeds have ReLU
    def forward(self, x):
        return torch.sin(x)
net = torch.nn.Sequential(torch.nn.Linear(10, 32), Sine(), torch.nn.Linear(32, 4))  # the seeds' form
net.load_state_dict(torch.load({str(run / "model.pt")!r}, weights_only=True))
x = torch.tensor([[n >> d & 1 for d in range(10)] for n in range(1, 101)], dtype=torch.float32)
print(json.dumps(net(x).argmax(1).tolist()))
"""
    plain = json.loads(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    )
    checkpoint = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    model = FizzBuzzClassifier(num_digits=10, hidden=[32], activation="sin")
    model.load_state_dict(checkpoint["state_dict"])
    with torch.no_grad():
        expected = model(fizzbuzz.binary_encode(torch.arange(1, 101), 10)).argmax(1).tolist()
    assert plain == expected


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "fizzlightning", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "fit" in result.stdout and "predict" in result.stdout


def test_repeated_runs_of_one_config_get_their_own_directories(cli, tmp_path):
    assert cli("fit", *TINY_FIZZBUZZ) == 0
    assert cli("fit", *TINY_FIZZBUZZ) == 0
    runs = [p for p in (tmp_path / "lightning_logs" / "fizzbuzz").iterdir() if (p / "fit.json").is_file()]
    assert len(runs) == 2


@pytest.mark.parametrize("config", ["regressor.yaml", "curve.yaml"])
def test_regression_configs_test_and_predict_after_fit(cli, tmp_path, capsys, config):
    args = ["--config", str(CONFIGS / config), *FEW_STEPS]
    assert cli("fit", *args) == 0
    assert cli("test", *args) == 0
    out = capsys.readouterr().out
    assert re.search(r"^test/loss = [0-9.e+-]+$", out, re.MULTILINE), out[-500:]
    assert cli("predict", *args) == 0
    out = capsys.readouterr().out
    assert "tensor(" not in out  # no tensor reprs: a count, the columns, a few rows, the file
    header = {"regressor.yaml": "64 predictions: sample, output_0,", "curve.yaml": "100 predictions: x, y"}[config]
    assert header in out
    with (only_run(tmp_path) / "predictions.csv").open() as table:
        rows = list(csv.reader(table))
    assert len(rows) == 1 + int(header.split()[0])
    assert len(rows[1]) == {"regressor.yaml": 11, "curve.yaml": 2}[config]


def test_trainer_flags_and_command_options_are_honoured_not_ignored(cli, capfd, caplog):
    # The application's own defaults (no model summary, no Lightning test table) give way to the user's choice.
    def printed() -> str:
        out, err = capfd.readouterr()
        logged = caplog.text  # Lightning logs the model summary
        caplog.clear()
        return out + err + logged

    assert cli("fit", *TINY_FIZZBUZZ) == 0
    assert "Total params" not in printed()
    assert cli("fit", *TINY_FIZZBUZZ, "--trainer.enable_model_summary", "true") == 0
    assert "Total params" in printed()
    assert cli("test", *TINY_FIZZBUZZ) == 0
    assert "Test metric" not in printed()
    assert cli("test", *TINY_FIZZBUZZ, "--verbose", "true") == 0
    assert "Test metric" in printed()
    # fizzlightning always loads checkpoints with weights_only=True: the option is not offered at all
    assert cli("test", *TINY_FIZZBUZZ, "--weights_only", "false") == 2
    assert "weights_only" in printed()


def test_without_validation_the_last_epoch_is_the_runs_checkpoint_and_every_printed_path_exists(cli, capsys):
    args = ["--config", str(CONFIGS / "regressor.yaml"), *FEW_STEPS, "--trainer.limit_val_batches", "0"]
    assert cli("fit", *args) == 0
    out = capsys.readouterr().out
    printed = re.findall(r"(/\S+\.(?:ckpt|pt))", out)
    assert printed and all(Path(path).is_file() for path in printed), out
    assert "No validation ran, so the last epoch is the run's checkpoint" in out
    assert cli("test", *args) == 0
    assert "last.ckpt" in capsys.readouterr().out
