"""The regressor against the seeds' numpy two-layer net with hand-written backprop, the oracle."""

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fizzlightning.data import RegressionDataModule
from fizzlightning.models.regressor import Regressor

STEPS = 20
LR = 1e-6


def numpy_seed_loop(x, y, w1, w2, steps: int, lr: float) -> np.ndarray:
    """Seed 000's "numpy" cell, in float64: the loss printed at each iteration, before its update."""
    w1, w2 = w1.copy(), w2.copy()
    losses = []
    for _ in range(steps):
        h = x.dot(w1)
        h_relu = np.maximum(h, 0)
        y_pred = h_relu.dot(w2)
        losses.append(np.square(y_pred - y).sum())
        grad_w1, grad_w2 = numpy_seed_gradients(x, y, w1, w2)
        w1 -= lr * grad_w1
        w2 -= lr * grad_w2
    return np.array(losses)


def numpy_seed_gradients(x, y, w1, w2) -> tuple[np.ndarray, np.ndarray]:
    """The seed's backward pass: gradients of the summed squared error with respect to w1 and w2."""
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    grad_y_pred = 2.0 * (h_relu.dot(w2) - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return grad_w1, grad_w2


class RecordingRegressor(Regressor):
    """The seeds' SGD, and every step's loss kept, which the regressor hands to ``log_step_losses`` each epoch."""

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=LR)

    def log_step_losses(self, losses: torch.Tensor) -> None:
        self.recorded = losses.double().cpu().numpy()


def seed_weights(model: Regressor) -> tuple[np.ndarray, np.ndarray]:
    # nn.Linear stores (out, in); the seeds' w1 is (D_in, H) and w2 is (H, D_out)
    return (
        model.net.linear1.weight.detach().T.double().numpy(),
        model.net.linear2.weight.detach().T.double().numpy(),
    )


@pytest.fixture(scope="module")
def data() -> RegressionDataModule:
    return RegressionDataModule(steps_per_epoch=STEPS, seed=0)


def bare_trainer(max_epochs: int) -> L.Trainer:
    return L.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )


def train_20_steps(data: RegressionDataModule, grad: str) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Fit the seeds' net for 20 full-batch SGD steps from N(0, 1) weights drawn with seed 0."""
    torch.manual_seed(0)
    model = RecordingRegressor(bias=False, init="normal", grad=grad)
    start = seed_weights(model)
    trainer = bare_trainer(max_epochs=1)
    trainer.fit(model, datamodule=data)
    assert trainer.global_step == STEPS
    return model.recorded, start


@pytest.fixture(scope="module")
def trajectories(data) -> dict[str, tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]]:
    return {grad: train_20_steps(data, grad) for grad in ("autograd", "manual")}


def test_manual_and_autograd_give_the_same_loss_trajectory(trajectories):
    (autograd, start_a), (manual, start_m) = trajectories["autograd"], trajectories["manual"]
    np.testing.assert_array_equal(start_a[0], start_m[0])
    assert autograd[0] > 1e6  # the seeds' ~3e7 start: N(0, 1) weights on 1000 inputs
    assert autograd[-1] < autograd[0] / 10  # and it moves: 20 equal flat lines would pass the next check
    np.testing.assert_allclose(manual, autograd, rtol=1e-5)


@pytest.mark.parametrize("grad", ["autograd", "manual"])
def test_lightning_loop_matches_the_numpy_seed_loop(data, trajectories, grad):
    losses, (w1, w2) = trajectories[grad]
    oracle = numpy_seed_loop(data.x.double().numpy(), data.y.double().numpy(), w1, w2, STEPS, LR)
    # float32 against float64: the matmuls agree to ~1e-7 relative, and 20 steps do not amplify it past 1e-5
    np.testing.assert_allclose(losses, oracle, rtol=1e-5)


@pytest.mark.parametrize("bias", [False, True])
def test_autograd_gradients_equal_the_hand_written_ones(data, bias):
    torch.manual_seed(1)
    model = Regressor(bias=bias, init="normal")
    if bias:  # the seeds' formulas are for the net without biases; zero biases make it that net
        torch.nn.init.zeros_(model.net.linear1.bias)
        torch.nn.init.zeros_(model.net.linear2.bias)
    F.mse_loss(model(data.x), data.y, reduction="sum").backward()
    w1, w2 = seed_weights(model)
    grad_w1, grad_w2 = numpy_seed_gradients(data.x.double().numpy(), data.y.double().numpy(), w1, w2)
    for autograd, oracle in ((model.net.linear1.weight.grad.T, grad_w1), (model.net.linear2.weight.grad.T, grad_w2)):
        autograd = autograd.double().numpy()
        # relative to the gradient's size: single entries near zero carry float32 rounding of the large ones
        assert np.abs(autograd - oracle).max() <= 1e-5 * np.abs(oracle).max()
        assert np.abs(oracle).max() > 1.0  # a vanishing gradient would make the comparison empty


def test_manual_mode_steps_the_lr_scheduler(data):
    # Lightning leaves the scheduler to the module under manual optimisation; a forgotten step() keeps lr fixed.
    class Scheduled(RecordingRegressor):
        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.parameters(), lr=LR)
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]

    trainer = bare_trainer(max_epochs=3)
    trainer.fit(Scheduled(bias=False, init="normal", grad="manual"), datamodule=data)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(LR / 8)
