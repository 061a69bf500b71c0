"""The 1..100 board as a picture on TensorBoard: a 10x10 grid coloured by predicted class, wrong cells crossed out."""

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from fizzlightning import fizzbuzz

# number, fizz, buzz, fizzbuzz: light grey, green, blue, orange (RGB, 0..1)
COLOURS = np.array([[0.85, 0.85, 0.85], [0.30, 0.70, 0.35], [0.25, 0.45, 0.85], [0.95, 0.60, 0.15]])
WRONG = np.array([0.85, 0.10, 0.10])
CELL = 24  # pixels per cell edge


def render_board(predicted: torch.Tensor, truth: torch.Tensor) -> np.ndarray:
    """RGB image (3, 10 * CELL, 10 * CELL) of 1..100 in reading order: 1..10 on the top row.

    Each cell is filled with the colour of the predicted class; a cell the net got wrong gets a red
    border and a red diagonal, so mistakes stand out on TensorBoard's image slider.
    """
    predicted, truth = predicted.cpu().numpy(), truth.cpu().numpy()
    cells = COLOURS[predicted].reshape(10, 10, 3)
    image = np.repeat(np.repeat(cells, CELL, axis=0), CELL, axis=1)  # (10*CELL, 10*CELL, 3)
    image[::CELL, :] = image[:, ::CELL] = 1.0  # white grid lines
    for index in np.flatnonzero(predicted != truth):
        top, left = (index // 10) * CELL, (index % 10) * CELL
        cell = image[top : top + CELL, left : left + CELL]
        cell[:2, :] = cell[-2:, :] = cell[:, :2] = cell[:, -2:] = WRONG
        cell[np.arange(CELL), np.arange(CELL)] = WRONG
    return image.transpose(2, 0, 1).astype(np.float32)


class BoardImage(L.Callback):
    """Logs ``board/1-100`` after every ``every_n_epochs``-th validation, and ``board/1-100 test`` after a test.

    The board is monitoring only: the checkpoint is chosen on validation, never on 1..100.

    Args:
        every_n_epochs: Draw the board every this many epochs (0: only for ``test``).
    """

    def __init__(self, every_n_epochs: int = 1) -> None:
        self.every_n_epochs = every_n_epochs
        numbers = torch.arange(1, 101)
        self.truth = fizzbuzz.fizzbuzz_labels(numbers)

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule, tag: str) -> None:
        if not isinstance(trainer.logger, TensorBoardLogger) or not trainer.is_global_zero:
            return
        x = fizzbuzz.binary_encode(torch.arange(1, 101, device=pl_module.device), pl_module.hparams.num_digits)
        with torch.no_grad():
            predicted = pl_module(x).argmax(dim=1)
        trainer.logger.experiment.add_image(tag, render_board(predicted, self.truth), trainer.global_step)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        every = self.every_n_epochs
        if trainer.sanity_checking or trainer.state.fn != "fit" or not every or trainer.current_epoch % every:
            return
        self._log(trainer, pl_module, "board/1-100")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, pl_module, "board/1-100 test")
