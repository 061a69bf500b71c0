"""The two-layer ReLU regressor: a thin LightningModule around ``TwoLayerNet``."""

import math
from collections.abc import Iterable
from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torchmetrics import MeanMetric, SumMetric

from fizzlightning.callbacks.dashboards import log_step_scalars
from fizzlightning.errors import require
from fizzlightning.lessons.nets import Init, TwoLayerNet
from fizzlightning.models.base import INJECTED, TrainingModule, built


def lessons_sgd(params: Iterable) -> torch.optim.SGD:
    """lightning_configs/regressor.yaml's optimizer: the lessons' SGD, lr 1e-6 for their N(0, 1) weights."""
    return torch.optim.SGD(params, lr=1e-6)


class Regressor(TrainingModule):
    """Fits y from x with Linear -> ReLU -> Linear and a squared-error loss.

    Args:
        d_in: Input width; linked to ``data.d_in`` by the CLI.
        hidden: Hidden width (the lessons' H).
        d_out: Output width; linked to ``data.d_out`` by the CLI.
        bias: Whether the two layers have a bias (the lessons' custom module has none).
        init: ``default`` keeps PyTorch's initialisation, ``normal`` draws the weights from N(0, 1).
        loss: ``sum`` of squared errors as in the lessons' two-layer net, or their ``mean`` for the curve fit.
        grad: ``autograd``, or ``manual``: the lessons' hand-written backprop under Lightning's manual
            optimisation (needs ``bias: false`` and ``loss: sum``, the net the formulas are for).
        optimizer: Builds the optimizer from the parameters: the lessons' SGD (``lessons_sgd``), or the config's
            ``optimizer`` (``--optimizer``), or a script's ``functools.partial(torch.optim.Adam, lr=0.01)``.
        lr_scheduler: Builds a learning-rate scheduler from the optimizer (``--lr_scheduler``); none by default.
    """

    def __init__(
        self,
        d_in: int = 1000,
        hidden: int = 100,
        d_out: int = 10,
        bias: bool = True,
        init: Init = "default",
        loss: Literal["sum", "mean"] = "sum",
        grad: Literal["autograd", "manual"] = "autograd",
        optimizer: OptimizerCallable = lessons_sgd,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__(optimizer, lr_scheduler)
        require(hidden > 0, "model.hidden", hidden, "a positive integer")
        require(
            grad == "autograd" or (not bias and loss == "sum"),
            "model.grad",
            grad,
            "'autograd', or 'manual' together with bias: false and loss: sum (the lessons' hand-written backprop)",
        )
        self.save_hyperparameters(ignore=INJECTED)
        self.net = built("model.hidden", hidden, lambda: TwoLayerNet(d_in, hidden, d_out, bias=bias, init=init))
        # Evaluation losses over every point, however DDP splits them: a per-rank mean of sums would be wrong.
        metric = SumMetric if loss == "sum" else MeanMetric
        self.val_loss, self.test_loss = metric(), metric()
        self.automatic_optimization = grad == "autograd"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (batch, d_out)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.automatic_optimization:
            return F.mse_loss(
                self.net(x), y, reduction=self.hparams.loss
            )  # the net directly: one module call less per step
        return self._manual_step(x, y)

    @torch.no_grad()
    def _manual_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One step of the lessons' numpy network: forward, hand-written backward, optimizer update."""
        w1, w2 = self.net.linear1.weight.T, self.net.linear2.weight.T  # (d_in, H), (H, d_out)
        h = x @ w1  # (N, H)
        h_relu = h.clamp(min=0)
        y_pred = h_relu @ w2  # (N, d_out)
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T @ grad_y_pred
        grad_h = grad_y_pred @ w2.T
        grad_h[h < 0] = 0
        grad_w1 = x.T @ grad_h
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.net.linear1.weight.grad = grad_w1.T.contiguous()  # nn.Linear stores weights as (out, in)
        self.net.linear2.weight.grad = grad_w2.T.contiguous()
        optimizer.step()
        return (y_pred - y).pow(2).sum()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.val_loss((self(x) - y).pow(2))
        self.log("val/loss", self.val_loss, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.test_loss((self(x) - y).pow(2))
        self.log("test/loss", self.test_loss)

    def predict_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> torch.Tensor:
        (x,) = batch
        return self(x)  # (batch, d_out)

    def log_step_losses(self, losses: torch.Tensor) -> None:
        # Every step's loss, and its log10: the lessons' loss falls over ten orders of magnitude.
        values = losses.tolist()
        log10 = [math.log10(max(value, 1e-30)) for value in values]
        log_step_scalars(
            self.trainer, self.global_step - len(values), {"train/loss_step": values, "train/log10_loss_step": log10}
        )
