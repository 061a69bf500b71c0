"""The FizzBuzz classifier: a thin LightningModule around ``FizzBuzzMLP``."""

import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from torchmetrics.classification import MulticlassAccuracy

from fizzlightning import fizzbuzz
from fizzlightning.base import TrainingModule
from fizzlightning.board import render_board
from fizzlightning.checks import require
from fizzlightning.nets import FizzBuzzMLP


def _accuracy() -> MulticlassAccuracy:
    # micro: the plain fraction of numbers played right, which is what "accuracy on 1..100" means
    return MulticlassAccuracy(num_classes=len(fizzbuzz.CLASSES), average="micro")


class FizzBuzzClassifier(TrainingModule):
    """Plays FizzBuzz from the binary encoding of a number; trained with cross-entropy.

    Args:
        num_digits: Input width in bits; linked to ``data.num_digits`` by the CLI, so they always agree.
        hidden: Widths of the hidden ReLU layers, e.g. ``[100]`` (lessons 001-003) or ``[100, 60]`` (lesson 000).
        board_every_n_epochs: Log the 1..100 board image to TensorBoard every this many epochs (0: never).
    """

    monitor = "val/acc"
    mode = "max"
    hp_metrics = {"hp/val_acc": "val/acc", "hp/test_acc": "test/acc"}

    def __init__(self, num_digits: int = 10, hidden: list[int] = [100], board_every_n_epochs: int = 1) -> None:
        super().__init__()
        # LightningCLI builds the model before the datamodule, whose own check is the full one
        require(num_digits > 0, "data.num_digits", num_digits, "a positive integer")
        require(len(hidden) > 0 and all(w > 0 for w in hidden), "model.hidden", hidden, "a list of positive widths")
        require(board_every_n_epochs >= 0, "model.board_every_n_epochs", board_every_n_epochs, "an integer >= 0")
        self.save_hyperparameters()
        self.net = FizzBuzzMLP(num_digits, hidden)
        self.val_acc = _accuracy()
        self.test_acc = _accuracy()
        board = torch.arange(1, 101)
        self.register_buffer("board_x", fizzbuzz.binary_encode(board, num_digits), persistent=False)
        self.register_buffer("board_y", fizzbuzz.fizzbuzz_labels(board), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (batch, 4) logits

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)  # the net directly: one module call less per step
        self.record_loss(loss, batch_idx)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.val_acc(logits, y)
        self.log("val/loss", F.cross_entropy(logits, y), sync_dist=True)
        self.log("val/acc", self.val_acc, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        every = self.hparams.board_every_n_epochs
        if self.trainer.sanity_checking or not every or self.current_epoch % every:
            return
        self._log_board("board/1-100")

    def _log_board(self, tag: str) -> None:
        if isinstance(self.logger, TensorBoardLogger) and self.trainer.is_global_zero:
            predicted = self(self.board_x).argmax(dim=1)
            self.logger.experiment.add_image(tag, render_board(predicted, self.board_y), self.global_step)

    def test_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, y, numbers = batch
        predicted = self(x).argmax(dim=1)
        self.test_acc(predicted, y)
        self.log("test/acc", self.test_acc)
        wrong = predicted != y
        self.test_mistakes.extend(zip(numbers[wrong].tolist(), predicted[wrong].tolist(), y[wrong].tolist()))
        self.test_total += len(y)

    def on_test_epoch_start(self) -> None:
        self.test_mistakes: list[tuple[int, int, int]] = []  # (number, predicted, truth)
        self.test_total = 0

    def on_test_end(self) -> None:
        super().on_test_end()
        self._log_board("board/1-100 test")

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> list[str]:
        x, numbers = batch
        predicted = self(x).argmax(dim=1)
        return [fizzbuzz.decode(n, p) for n, p in zip(numbers.tolist(), predicted.tolist())]
