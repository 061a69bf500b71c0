"""predict's CSV file, written a batch at a time; what predict prints for a long range."""

import csv

import lightning as L
import torch

from fizzlightning.callbacks import predictions
from fizzlightning.callbacks.predictions import PredictionWriter
from fizzlightning.commands.reports import report
from fizzlightning.data import FizzBuzzDataModule
from fizzlightning.data.base import EVAL_BATCH_SIZE
from fizzlightning.lessons import fizzbuzz
from fizzlightning.models.classifier import FizzBuzzClassifier
from tests.helpers import TINY_FIZZBUZZ, only_run


def play(tmp_path, last: int, num_digits: int = 14) -> tuple[PredictionWriter, FizzBuzzClassifier, object]:
    model = FizzBuzzClassifier(num_digits=num_digits, hidden=[8])
    writer = PredictionWriter(tmp_path / "predictions.csv", report(model).table)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, callbacks=[writer], enable_progress_bar=False, max_epochs=1
    )
    data = FizzBuzzDataModule(num_digits=num_digits, seed=0, predict_range=(1, last))
    returned = trainer.predict(model, datamodule=data)
    return writer, model, returned


def test_every_row_is_written_in_order_and_only_the_ends_are_kept(tmp_path):
    last = 2 * EVAL_BATCH_SIZE + 123
    writer, model, returned = play(tmp_path, last)
    assert returned is None  # Lightning kept no list of every batch's rows
    with writer.path.open() as table:
        rows = list(csv.reader(table))
    assert rows[0] == ["number", "answer"] and [int(n) for n, _ in rows[1:]] == list(range(1, last + 1))
    numbers = torch.arange(1, last + 1)
    expected = model(fizzbuzz.binary_encode(numbers, 14)).argmax(dim=1)
    assert [answer for _, answer in rows[1:]] == [
        fizzbuzz.decode(n, int(c)) for n, c in zip(numbers.tolist(), expected.tolist())
    ]
    assert writer.total == last
    kept = [row[0] for row in writer.predictions]
    assert len(kept) == predictions.KEPT_ROWS
    assert kept == list(range(1, predictions.KEPT_ROWS - predictions.LAST_ROWS + 1)) + list(
        range(last - predictions.LAST_ROWS + 1, last + 1)
    )
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.csv"]  # no spool left beside it


def test_a_short_range_is_kept_whole_and_printed_as_the_game(tmp_path):
    writer, model, _ = play(tmp_path, 31)
    assert [row[0] for row in writer.predictions] == list(range(1, 32))
    lines = report(model).predictions(writer.header, writer.predictions, writer.total).splitlines()
    assert [len(line.split()) for line in lines] == [10, 10, 10, 1]


def test_a_long_range_prints_a_summary(tmp_path):
    last = 5000
    writer, model, _ = play(tmp_path, last)
    lines = report(model).predictions(writer.header, writer.predictions, writer.total).splitlines()
    assert len(lines) == 10 + 1 + 1 + 1  # the first 100 numbers, "...", the last 10, the count
    assert lines[10] == "..."
    assert len(lines[11].split()) == 10
    assert lines[-1] == f"{last} numbers, 1..{last}: the first 100 and the last 10 shown, every one in the file"


def test_predict_prints_a_summary_of_a_long_range_and_writes_all_of_it(cli, tmp_path, capsys):
    assert cli("fit", *TINY_FIZZBUZZ) == 0
    capsys.readouterr()
    assert cli("predict", *TINY_FIZZBUZZ, "--data.init_args.predict_range", "[1, 1023]") == 0
    out = capsys.readouterr().out.strip().splitlines()
    run = only_run(tmp_path)
    assert out[-1] == f"Written to {run / 'predictions.csv'}"
    assert out[-2] == "1023 numbers, 1..1023: the first 100 and the last 10 shown, every one in the file"
    assert out[-4] == "..." and out[-3].split()[-1] in ("1023", "fizz", "buzz", "fizzbuzz")
    with (run / "predictions.csv").open() as table:
        rows = list(csv.reader(table))
    assert [int(n) for n, _ in rows[1:]] == list(range(1, 1024))
    assert out[-14].split() == [answer for _, answer in rows[1:11]]  # the first line of the game
