"""Any Lightning logger, any progress bar: files in the run directory, pictures and HPARAMS on every logger that
can take them, the summary pointing at the real place, and a missing optional package as one line."""

import csv
import importlib.util
import subprocess
import sys

import lightning as L
import pytest
import yaml

from tests.helpers import FIZZBUZZ, ROOT, fizzlightning, only_run, write

SEARCH = ROOT / "benchmarks" / "search.py"
# the tiny config, with the board drawn every epoch so that the pictures have somewhere to go
CONFIG = FIZZBUZZ.replace("board_every_n_epochs: 0", "board_every_n_epochs: 1")


def fit(cli, tmp_path, capfd, *args: str) -> tuple[str, str]:
    assert cli("fit", "--config", write(tmp_path, "fizzbuzz.yaml", CONFIG), *args) == 0
    return capfd.readouterr()


def test_csv_logger_writes_into_the_run_and_says_it_cannot_show_pictures(cli, tmp_path, capfd):
    out, err = fit(cli, tmp_path, capfd, "--trainer.logger", "CSVLogger", "--trainer.logger.save_dir", "csvlogs")
    run = only_run(tmp_path)
    assert not (tmp_path / "csvlogs").exists()  # the reproduction: nothing lands outside the run
    assert f"writes into the run directory {run}, not csvlogs" in err
    with (run / "csv" / "version_0" / "metrics.csv").open() as table:  # the first command's
        rows = list(csv.DictReader(table))
    assert [row["val/acc"] for row in rows if row.get("val/acc")] != []  # one per epoch
    settings = yaml.safe_load((run / "csv" / "version_0" / "hparams.yaml").read_text())
    assert settings["optimizer/class"] == "SGD" and settings["optimizer/lr"] == 0.1 and settings["data/num_digits"] == 8
    assert err.count("CSVLogger cannot show pictures, so it gets no board/ images.") == 1  # once per run
    assert f"Metrics as CSV: {run / 'csv' / 'version_0' / 'metrics.csv'}" in out
    assert "tensorboard" not in out and not list(run.glob("events.out.tfevents.*"))


def test_mlflow_logger_keeps_a_file_store_in_the_run_with_params_metrics_and_pictures(cli, tmp_path, capfd):
    out, _ = fit(cli, tmp_path, capfd, "--trainer.logger", "MLFlowLogger")
    run = only_run(tmp_path)
    (store,) = [p for p in (run / "mlruns").glob("*/*") if (p / "params").is_dir()]  # <experiment id>/<run id>
    assert (store / "params" / "optimizer" / "lr").read_text() == "0.1"
    assert (store / "params" / "optimizer" / "class").read_text() == "SGD"
    assert (store / "metrics" / "val" / "acc").is_file()
    boards = list((store / "artifacts" / "images").glob("board_1-100+step+*.png"))
    assert len(boards) == 2  # one per epoch, as on TensorBoard
    assert f"MLflow: mlflow ui --backend-store-uri file:{run / 'mlruns'}" in out


def test_wandb_offline_keeps_its_run_in_the_run_directory_with_config_and_pictures(tmp_path):
    write(tmp_path, "fizzbuzz.yaml", CONFIG)
    args = ["--config", "fizzbuzz.yaml", "--trainer.logger", "WandbLogger", "--trainer.logger.offline", "true"]
    out = fizzlightning(tmp_path, "fit", *args)
    run = only_run(tmp_path)
    (offline,) = (run / "wandb").glob("offline-run-*")
    assert f"W&B: wandb sync {offline}" in out
    # an offline run keeps its config in the run's protobuf records; the setting's name and value are in there
    (records,) = offline.glob("run-*.wandb")
    assert b"optimizer/lr" in records.read_bytes() and b"optimizer/class" in records.read_bytes()
    assert len(list((offline / "files" / "media" / "images" / "board").glob("1-100_*.png"))) == 2


def test_several_loggers_at_once_and_none(cli, tmp_path, capfd):
    both = ["--trainer.logger", "[TensorBoardLogger, {class_path: CSVLogger, init_args: {save_dir: .}}]"]
    out, _ = fit(cli, tmp_path, capfd, *both)
    run = only_run(tmp_path)
    assert list(run.glob("events.out.tfevents.*")) and (run / "csv" / "version_0" / "metrics.csv").is_file()
    assert "Dashboards: tensorboard --logdir" in out and "Metrics as CSV:" in out
    out, _ = fit(cli, tmp_path, capfd, "--trainer.logger", "false")
    assert "No logger: the metrics of this run were not saved (--trainer.logger false)." in out
    assert "tensorboard" not in out


BARS: list[object] = []


class RecordBar(L.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        BARS.append(trainer.progress_bar_callback)


ON = ["--trainer.enable_progress_bar", "true"]


@pytest.mark.parametrize(
    "args, expected",
    [
        (ON, ("TQDMProgressBar", 50)),  # the app's own, redrawn every 50 steps
        (
            [*ON, "--trainer.callbacks+=TQDMProgressBar", "--trainer.callbacks.refresh_rate", "7"],
            ("TQDMProgressBar", 7),
        ),
        ([*ON, "--trainer.callbacks+=RichProgressBar"], ("RichProgressBar", 100)),  # its own default rate
        (["--trainer.callbacks+=TQDMProgressBar", "--trainer.enable_progress_bar", "false"], None),  # every bar off
    ],
    ids=["default", "own TQDM", "Rich", "off"],
)
def test_a_users_progress_bar_replaces_the_apps_and_false_turns_every_bar_off(cli, tmp_path, args, expected):
    BARS.clear()
    config = write(tmp_path, "fizzbuzz.yaml", CONFIG)
    assert cli("fit", "--config", config, f"--trainer.callbacks+={__name__}.RecordBar", *args) == 0
    (bar,) = BARS
    assert (bar is None) if expected is None else (type(bar).__name__, bar.refresh_rate) == expected


MISSING = [
    (["--trainer.logger", "MLFlowLogger"], "mlflow", "MLFlowLogger needs mlflow", "fizzlightning[mlflow]"),
    (["--trainer.logger", "WandbLogger"], "wandb", "WandbLogger needs wandb", "fizzlightning[wandb]"),
    (["--trainer.callbacks+=RichProgressBar"], "rich", "RichProgressBar needs rich", "fizzlightning[rich]"),
]


@pytest.mark.parametrize("args, module, fragment, extra", MISSING, ids=[m[1] for m in MISSING])
def test_a_missing_optional_package_is_one_line_naming_the_extra(
    cli, tmp_path, capfd, monkeypatch, args, module, fragment, extra
):
    # The package is installed here (the dev extra pulls every extra in): find_spec is told it is not.
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else find_spec(name, *a))
    assert cli("fit", "--config", write(tmp_path, "fizzbuzz.yaml", CONFIG), *args) == 2
    err = capfd.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("fizzlightning: error: ") and fragment in line and f"pip install '{extra}'" in line
    assert not (tmp_path / "lightning_logs").exists()


def test_the_search_script_names_its_extra_when_optuna_is_missing(tmp_path):
    # sys.modules["optuna"] = None makes the import (and find_spec) fail as if optuna were not installed
    script = tmp_path / "no_optuna.py"
    script.write_text(
        f"import sys, runpy\nsys.modules['optuna'] = None\nrunpy.run_path({str(SEARCH)!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip() == (
        "fizzlightning: error: benchmarks/search.py needs optuna, which is not installed: "
        "pip install 'fizzlightning[search]'"
    )
