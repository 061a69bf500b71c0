"""The x**2 curve: the picture callback, and curve.yaml fitting the noiseless curve through the real CLI."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fizzlightning.callbacks.dashboards import CurvePlot
from fizzlightning.data import CurveDataModule, FizzBuzzDataModule
from fizzlightning.errors import ConfigError
from fizzlightning.lessons.nets import TwoLayerNet
from fizzlightning.lessons.pictures import DATA, FIT, render_curve
from tests.helpers import CONFIGS

# Measured at the 100 points: RMSE 0.037, 0.027, 0.038 for seed_everything 0, 1, 2; a constant fit is ~0.3 off.
RMSE_BOUND = 0.05


def pixels_of(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """(row, column) of every pixel of ``colour`` in a (3, height, width) image."""
    return np.argwhere(np.all(np.isclose(image.transpose(1, 2, 0), colour), axis=-1))


def test_render_curve_draws_the_dots_and_the_line_where_they_are():
    x = np.array([-1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 1.0])
    x_fit = np.linspace(-1, 1, 50)
    image = render_curve(x, y, x_fit, np.full(50, 0.5), y_range=(0.0, 1.0), size=(101, 200))
    assert image.shape == (3, 101, 200) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() <= 1
    dots = pixels_of(image, DATA)
    # the middle point (0, 0) sits on the bottom row; the outer two on the top row, at the left and right
    assert {(100, 99), (100, 100)} & {tuple(p) for p in dots}
    assert dots[:, 0].min() == 0 and dots[:, 1].min() < 10 and dots[:, 1].max() > 190
    line = pixels_of(image, FIT)
    assert set(np.unique(line[:, 0])) == {49, 50, 51}  # y = 0.5, three pixels thick
    assert line[:, 1].min() < 10 and line[:, 1].max() > 190  # across the whole width


def test_render_curve_leaves_out_dots_beyond_the_y_range():
    x = np.array([-1.0, 1.0])
    image = render_curve(x, np.array([1.2, -0.2]), x, np.array([0.5, 0.5]), y_range=(0.0, 1.0), size=(50, 50))
    assert len(pixels_of(image, DATA)) == 0


def test_render_curve_keeps_a_steep_line_connected():
    x_fit = np.array([-1.0, 1.0])
    image = render_curve(x_fit, x_fit, x_fit, np.array([0.0, 1.0]), y_range=(0.0, 1.0), size=(50, 50))
    assert set(np.unique(pixels_of(image, FIT)[:, 0])) == set(range(50))


def test_curve_plot_refuses_data_that_is_not_a_curve():
    trainer = SimpleNamespace(datamodule=FizzBuzzDataModule(seed=0))
    with pytest.raises(ConfigError, match="CurveDataModule"):
        CurvePlot().setup(trainer, None, "fit")


@pytest.mark.slow
def test_curve_config_fits_x_squared_and_logs_the_picture(cli, tmp_path):
    assert cli("fit", "--config", str(CONFIGS / "curve.yaml")) == 0
    (run,) = (tmp_path / "lightning_logs" / "curve").iterdir()
    net = TwoLayerNet(1, 10, 1)
    net.load_state_dict(torch.load(run / "model.pt", weights_only=True))
    data = CurveDataModule(num_points=100, noise="uniform", noise_scale=0.2, seed=0)
    with torch.no_grad():
        error = net(data.x) - (data.x.pow(2) + data.noise_mean)
    assert error.pow(2).mean().sqrt() < RMSE_BOUND
    events = EventAccumulator(str(run), size_guidance={"images": 0})
    events.Reload()
    steps = [image.step for image in events.Images("curve/fit")]
    assert len(steps) >= 10 and steps == sorted(steps)  # a picture every 5 epochs, as the fit goes on
