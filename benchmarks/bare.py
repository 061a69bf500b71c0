"""The floor Lightning itself sets: the benchmark's networks in a Trainer with nothing but the loss."""

import lightning as L
import torch
import torch.nn.functional as F

from fizzlightning.lessons.nets import FizzBuzzMLP, TwoLayerNet


class BareFizzBuzz(L.LightningModule):
    """A FizzBuzz recipe's network, its optimizer (SGD, or AdamW with a weight decay), the loss and nothing else."""

    def __init__(
        self, num_digits: int, hidden: list[int], lr: float, weight_decay: float | None = None, activation: str = "relu"
    ) -> None:
        super().__init__()
        self.net, self.lr, self.weight_decay = FizzBuzzMLP(num_digits, hidden, activation=activation), lr, weight_decay

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        F.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.weight_decay is not None:
            return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class BareRegressor(L.LightningModule):
    """The regressor of ``regressor_nn_bias.yaml`` with nothing but the loss, for Lightning's floor on tiny steps."""

    def __init__(self) -> None:
        super().__init__()
        self.net = TwoLayerNet(1000, 100, 10, bias=True, init="normal")

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.net(x), y, reduction="sum")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=1e-6)


def bare_trainer(epochs: int, callbacks: list[L.Callback]) -> L.Trainer:
    """A Trainer with no logger, progress bar or checkpoints."""
    return L.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
