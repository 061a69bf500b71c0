"""The lessons' curve-fit picture on TensorBoard: the data as a scatter, the net's fitted curve as a red line."""

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from fizzlightning.checks import require

BACKGROUND = np.array([1.0, 1.0, 1.0])
AXES = np.array([0.80, 0.80, 0.80])
DATA = np.array([0.25, 0.45, 0.85])  # blue dots, as matplotlib's scatter
FIT = np.array([0.90, 0.10, 0.10])  # the lessons' 'r-'
DOT = 1  # a data point is a (2 * DOT + 1)-pixel square
LINE = 1  # the fitted curve is (2 * LINE + 1) pixels thick


class Canvas:
    """An RGB picture (3, height, width) in [0, 1] with data coordinates: dots, lines and the zero axes.

    ``y_range`` is fixed by the caller: a fixed range keeps the frames of TensorBoard's image slider
    comparable while the curves move.
    """

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], size=(240, 320)) -> None:
        self.height, self.width = size
        self.x_range, self.y_range = x_range, y_range
        self.image = np.broadcast_to(BACKGROUND, (self.height, self.width, 3)).copy()
        (x_low, x_high), (y_low, y_high) = x_range, y_range
        if y_low < 0 < y_high:
            self.image[self.rows(np.zeros(1))[0], :] = AXES
        if x_low < 0 < x_high:
            self.image[:, self.columns(np.zeros(1))[0]] = AXES

    def columns(self, values: np.ndarray) -> np.ndarray:
        x_low, x_high = self.x_range
        return np.rint((values - x_low) / (x_high - x_low) * (self.width - 1)).astype(int)

    def rows(self, values: np.ndarray) -> np.ndarray:  # row 0 is the top: high y
        y_low, y_high = self.y_range
        return np.rint((y_high - values) / (y_high - y_low) * (self.height - 1)).astype(int)

    def dots(self, x: np.ndarray, y: np.ndarray, colour: np.ndarray) -> None:
        for row, column in zip(self.rows(y), self.columns(x)):
            if 0 <= row < self.height:  # a dot outside y_range is not drawn
                top, left = max(row - DOT, 0), max(column - DOT, 0)
                self.image[top : row + DOT + 1, left : column + DOT + 1] = colour

    def line(self, x: np.ndarray, y: np.ndarray, colour: np.ndarray) -> None:
        """Each step of the line fills the rows between its end points, so steep parts stay connected;
        a curve beyond y_range runs along the edge of the picture."""
        rows, columns = np.clip(self.rows(y), 0, self.height - 1), self.columns(x)
        for previous, row, column in zip(np.r_[rows[:1], rows[:-1]], rows, columns):
            top, bottom = min(previous, row), max(previous, row)
            self.image[max(top - LINE, 0) : bottom + LINE + 1, max(column - LINE, 0) : column + LINE + 1] = colour

    def chw(self) -> np.ndarray:
        return self.image.transpose(2, 0, 1).astype(np.float32)


def render_curve(
    x: np.ndarray,
    y: np.ndarray,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    y_range: tuple[float, float],
    size: tuple[int, int] = (240, 320),
) -> np.ndarray:
    """RGB image (3, height, width) in [0, 1]: points (x, y) as dots and (x_fit, y_fit) as a line drawn over them."""
    pad = 0.03 * float(x.max() - x.min())  # the end points' dots stay whole
    canvas = Canvas((float(x.min()) - pad, float(x.max()) + pad), y_range, size)
    canvas.dots(x, y, DATA)
    canvas.line(x_fit, y_fit, FIT)
    return canvas.chw()


class CurvePlot(L.Callback):
    """Logs the image ``curve/fit`` to TensorBoard after validation: the data and the net's current curve.

    For datamodules with one input and one output feature held as tensors ``x`` and ``y`` of shape (n, 1),
    such as ``CurveDataModule``; the slider under the image steps through the fit as training goes on.

    Args:
        every_n_epochs: Draw the picture every this many epochs.
        points: Inputs the fitted curve is evaluated at, evenly spaced over the data's x range.
    """

    def __init__(self, every_n_epochs: int = 5, points: int = 200) -> None:
        require(every_n_epochs > 0, "CurvePlot.every_n_epochs", every_n_epochs, "a positive integer")
        require(points >= 2, "CurvePlot.points", points, "an integer of at least 2")
        self.every_n_epochs = every_n_epochs
        self.points = points

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        data = trainer.datamodule
        x, y = getattr(data, "x", None), getattr(data, "y", None)
        require(
            isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.shape[1:] == y.shape[1:] == (1,),
            "trainer.callbacks: CurvePlot",
            type(data).__name__,
            "a datamodule with one input and one output feature, such as fizzlightning.data.CurveDataModule",
        )
        self.x, self.y = x.cpu().numpy()[:, 0], y.cpu().numpy()[:, 0]
        margin = 0.1 * (self.y.max() - self.y.min())
        self.y_range = (float(self.y.min() - margin), float(self.y.max() + margin))
        self.x_fit = torch.linspace(float(x.min()), float(x.max()), self.points).unsqueeze(1)  # (points, 1)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        last_epoch = trainer.current_epoch + 1 == trainer.max_epochs
        if trainer.sanity_checking or (trainer.current_epoch % self.every_n_epochs and not last_epoch):
            return
        if not isinstance(trainer.logger, TensorBoardLogger) or not trainer.is_global_zero:
            return
        with torch.no_grad():
            y_fit = pl_module(self.x_fit.to(pl_module.device)).cpu().numpy()[:, 0]
        image = render_curve(self.x, self.y, self.x_fit.numpy()[:, 0], y_fit, self.y_range)
        trainer.logger.experiment.add_image("curve/fit", image, trainer.global_step)
