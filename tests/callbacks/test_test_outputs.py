"""What ``test_step`` returns, gathered for the report: only the names the model's report reads, whatever else a
model of the user's own returns (Lightning lets ``test_step`` return a loss tensor or ``{"loss": loss}``)."""

import os
import signal
import subprocess
import sys

import lightning as L
import pytest
import torch

from fizzlightning.callbacks import predictions
from fizzlightning.commands.reports import report
from fizzlightning.data import FizzBuzzDataModule, RegressionDataModule
from fizzlightning.models import FizzBuzzClassifier, Regressor
from tests.helpers import ROOT, clean_env

RETURNS = {
    "a scalar loss": lambda loss: loss.mean(),
    "a loss per sample": lambda loss: loss.mean(dim=1),
    "a dict of a scalar loss": lambda loss: {"loss": loss.mean()},
}


class Returning(Regressor):
    """A user's regressor whose ``test_step`` returns what ``returns`` makes of the batch's squared errors."""

    returns = staticmethod(RETURNS["a scalar loss"])

    def test_step(self, batch, batch_idx):
        super().test_step(batch, batch_idx)
        x, y = batch
        return self.returns((self(x) - y).pow(2))


def run_test(model: Regressor, outputs: predictions.TestOutputs, **trainer) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, callbacks=[outputs], enable_progress_bar=False, **trainer
    )
    trainer.test(model, datamodule=RegressionDataModule(n=8, d_in=2, d_out=1, seed=0), verbose=False)
    return trainer


@pytest.mark.parametrize("returns", list(RETURNS))
def test_a_models_own_test_step_return_is_left_alone(returns):
    model = Returning(d_in=2, hidden=4, d_out=1)
    model.returns = RETURNS[returns]
    outputs = predictions.TestOutputs(report(model).results)
    trainer = run_test(model, outputs)
    assert outputs.results == {}
    assert report(model).test(trainer.callback_metrics, outputs.results).startswith("test/loss = ")


def test_a_scalar_result_the_report_asks_for_is_one_row_per_batch():
    model = Returning(d_in=2, hidden=4, d_out=1)
    model.returns = RETURNS["a dict of a scalar loss"]
    outputs = predictions.TestOutputs(("loss",))
    trainer = run_test(model, outputs)
    (batches,) = trainer.num_test_batches
    assert outputs.results["loss"].shape == (batches,)


def test_a_skipped_test_loop_leaves_no_results():
    outputs = predictions.TestOutputs(("loss",))
    run_test(Returning(d_in=2, hidden=4, d_out=1), outputs, limit_test_batches=0)
    assert outputs.results == {}


class Silent(FizzBuzzClassifier):
    """A user's classifier whose ``test_step`` logs the accuracy and returns nothing."""

    def test_step(self, batch, batch_idx):
        super().test_step(batch, batch_idx)


def test_a_subclass_that_returns_nothing_gets_the_default_printout():
    model = Silent(num_digits=8, hidden=[4])
    outputs = predictions.TestOutputs(report(model).results)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, callbacks=[outputs], enable_progress_bar=False, max_epochs=1
    )
    trainer.test(model, datamodule=FizzBuzzDataModule(num_digits=8, seed=0), verbose=False)
    assert outputs.results == {}
    assert report(model).test(trainer.callback_metrics, outputs.results).startswith("test/acc = ")


@pytest.mark.parametrize("model", ["the classifier", "a model that returns nothing without samples"])
def test_a_rank_without_test_samples_takes_part_in_the_gather(tmp_path, model):
    # 2 CPU processes (gloo) test one number: rank 1 gets its one empty batch, and gathers nothing, not forever
    command = [sys.executable, "-m", "tests.callbacks.ddp_one_number", str(tmp_path)]
    command += ["skip"] if model.startswith("a model") else []
    process = subprocess.Popen(command, cwd=ROOT, env=clean_env(), stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher's rank 1 too
        process.communicate()
        raise AssertionError("the 2-process test hung") from None
    assert process.returncode == 0, stderr.decode()[-3000:]
    for rank in (0, 1):
        results = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert results.keys() == {"number", "predicted", "truth"}
        assert results["number"].tolist() == [1] and results["truth"].tolist() == [0]
        assert results["predicted"].shape == (1,) and results["predicted"].dtype == torch.int64
