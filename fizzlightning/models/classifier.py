"""The FizzBuzz classifier: a thin LightningModule around ``FizzBuzzMLP``, its board picture."""

from collections.abc import Iterable

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from fizzlightning.callbacks.dashboards import last_epoch, log_image, loggers
from fizzlightning.errors import require
from fizzlightning.lessons import fizzbuzz
from fizzlightning.lessons.nets import ACTIVATIONS, Activation, FizzBuzzMLP
from fizzlightning.lessons.pictures import render_board
from fizzlightning.models.base import INJECTED, TrainingModule, built


def recipe_adamw(params: Iterable) -> torch.optim.AdamW:
    """lightning_configs/fizzbuzz_relu.yaml's optimizer: AdamW with the recipe search's lr (unrounded) and weight
    decay. (The default fizzbuzz.yaml sets its own: lr 0.0352.)"""
    return torch.optim.AdamW(params, lr=0.004148012235518274, weight_decay=0.1)


def _accuracy() -> MulticlassAccuracy:
    # micro: the plain fraction of numbers played right, which is what "accuracy on 1..100" means
    return MulticlassAccuracy(num_classes=len(fizzbuzz.CLASSES), average="micro")


class FizzBuzzClassifier(TrainingModule):
    """Plays FizzBuzz from the binary encoding of a number; trained with cross-entropy.

    Args:
        num_digits: Input width in bits; linked to ``data.num_digits`` by the CLI, so they always agree.
        hidden: Widths of the hidden layers, e.g. ``[100]`` (lessons 001-003) or ``[100, 60]`` (lesson 000).
        board_every_n_epochs: Draw the 1..100 board on the dashboards every this many epochs, and after the last
            (0: only for ``test``).
        optimizer: Builds the optimizer from the parameters: the ReLU recipe's AdamW (``recipe_adamw``), or the
            config's ``optimizer`` (``--optimizer``), or a script's ``functools.partial(torch.optim.SGD, lr=0.05)``.
        lr_scheduler: Builds a learning-rate scheduler from the optimizer (``--lr_scheduler``); none by default.
        activation: After each hidden layer: ``relu`` (the lessons') or ``sin`` (``lessons.nets.Sine``: the 10-bit
            recipe's, which plays numbers it never saw from about 900 training numbers).
    """

    monitor = "val/acc"
    mode = "max"

    def __init__(
        self,
        num_digits: int = 10,
        hidden: list[int] = [100],
        board_every_n_epochs: int = 1,
        optimizer: OptimizerCallable = recipe_adamw,
        lr_scheduler: LRSchedulerCallable | None = None,
        activation: Activation = "relu",
    ) -> None:
        super().__init__(optimizer, lr_scheduler)
        require(len(hidden) > 0 and all(w > 0 for w in hidden), "model.hidden", hidden, "a list of positive widths")
        require(board_every_n_epochs >= 0, "model.board_every_n_epochs", board_every_n_epochs, "an integer >= 0")
        require(activation in ACTIVATIONS, "model.activation", activation, " or ".join(ACTIVATIONS))
        self.save_hyperparameters(ignore=INJECTED)
        self.net = built("model.hidden", hidden, lambda: FizzBuzzMLP(num_digits, hidden, activation=activation))
        self.val_acc = _accuracy()
        self.val_loss = MeanMetric()  # over every held-out number, however DDP splits them
        self.test_acc = _accuracy()

    def configure_callbacks(self) -> list[L.Callback]:
        # Pictures are callbacks, never module hooks: they only read the model, so a config can add more
        # (``trainer.callbacks``) and the module keeps to training and scoring.
        return self.new_callbacks(BoardImage(self.hparams.board_every_n_epochs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (batch, 4) logits

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)  # the net directly: one module call less per step

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.val_acc(logits, y)
        self.val_loss(F.cross_entropy(logits, y, reduction="none"))
        self.log("val/loss", self.val_loss)
        self.log("val/acc", self.val_acc, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> dict[str, torch.Tensor]:
        x, y, numbers = batch
        predicted = self(x).argmax(dim=1)
        if len(y):  # a DDP rank left without samples gets one empty batch, which the accuracy cannot take
            self.test_acc(predicted, y)
        self.log("test/acc", self.test_acc)
        return {"number": numbers, "predicted": predicted, "truth": y}  # each number's answer, for the report

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, numbers = batch
        return torch.stack([numbers, self(x).argmax(dim=1)], dim=1)  # (batch, 2): number, predicted class


class BoardImage(L.Callback):
    """``board/1-100`` after every ``every_n_epochs``-th validation, and ``board/1-100 test`` after a test.

    The board is monitoring only: the checkpoint is chosen on validation, never on 1..100.

    Args:
        every_n_epochs: Draw the board every this many epochs, and after the last (0: only for ``test``).
    """

    def __init__(self, every_n_epochs: int = 1) -> None:
        self.every_n_epochs = every_n_epochs
        self.truth = fizzbuzz.fizzbuzz_labels(torch.arange(1, 101)).numpy()

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule, tag: str) -> None:
        if not loggers(trainer):
            return
        x = fizzbuzz.binary_encode(torch.arange(1, 101, device=pl_module.device), pl_module.hparams.num_digits)
        with torch.no_grad():
            predicted = pl_module(x).argmax(dim=1).cpu().numpy()
        log_image(trainer, tag, render_board(predicted, self.truth), trainer.global_step)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        every = self.every_n_epochs
        if trainer.sanity_checking or trainer.state.fn != "fit" or not every:
            return
        if trainer.current_epoch % every == 0 or last_epoch(trainer):
            self._log(trainer, pl_module, "board/1-100")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, pl_module, "board/1-100 test")
