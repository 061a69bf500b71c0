"""Commands in a row lose nothing: what one wrote, the next keeps, for every logger.

The user's sequence, each command in its own process as typed: ``fit``, the ``Next:`` line it printed, ``validate``,
``predict``, a resume with more epochs, ``test`` again. After each, every file the earlier ones wrote still holds
what it held (logs may grow); only a resume moves the run's checkpoints, exports, ``fit.json`` and its settings on.
"""

import csv
import shlex

import pytest

from tests.helpers import FIZZBUZZ, assert_kept, digests, fizzlightning, only_run, write

LOGGERS = {
    "TensorBoard": [],  # the default
    "CSV": ["--trainer.logger", "CSVLogger"],
    "MLflow": ["--trainer.logger", "MLFlowLogger"],
    "W&B offline": ["--trainer.logger", "WandbLogger", "--trainer.logger.offline", "true"],
}
# what a resume is for: its checkpoints and exports, fit.json, and the settings it changed (here max_epochs)
MOVED_ON = ("checkpoints", "fit.json", "model.pt", "model.pt2", "hparams.yaml")


@pytest.mark.parametrize("logger", LOGGERS)
def test_each_command_keeps_what_the_earlier_ones_wrote(tmp_path, logger):
    write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    args = ["--config", "fizzbuzz.yaml", *LOGGERS[logger]]
    out = fizzlightning(tmp_path, "fit", *args)
    (next_line,) = [line.removeprefix("Next: ") for line in out.splitlines() if line.startswith("Next: ")]
    assert next_line == "fizzlightning test"  # the run it just finished, from its own recorded config
    steps = [
        (shlex.split(next_line)[1:], ()),
        (["validate", *args], ()),
        (["predict", *args], ()),
        (["fit", *args, "--trainer.max_epochs", "4", "--ckpt_path", "last"], MOVED_ON),
        (["test", *args], ()),
    ]
    for step, moved_on in steps:
        before = digests(tmp_path)
        fizzlightning(tmp_path, *step)
        assert_kept(before, tmp_path, but=moved_on)  # names the file that lost something

    run = only_run(tmp_path)
    assert sorted(p.name for p in run.glob("*-config*.yaml")) == [
        "fit-config-2.yaml", "fit-config.yaml", "predict-config.yaml",
        "test-config-2.yaml", "test-config.yaml", "validate-config.yaml",
    ]  # fmt: skip
    if logger == "CSV":  # a file per command: fit, test, validate, predict, the resume, test
        tables = [run / "csv" / f"version_{n}" / "metrics.csv" for n in range(6)]
        rows = [row for table in tables if table.is_file() for row in csv.DictReader(table.read_text().splitlines())]
        assert sorted({row["epoch"] for row in rows if row.get("train/loss")}) == ["0", "1", "2", "3"]
        assert len([row for row in rows if row.get("test/acc")]) == 2
