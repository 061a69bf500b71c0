"""The lessons' regression data: random tensors (the two-layer net) and the 1-D x**2 curve."""

import math
from typing import Literal

import torch

from fizzlightning.data.base import InMemoryDataModule, check_data_fits
from fizzlightning.data.batches import TensorBatches
from fizzlightning.errors import require


class _PointsDataModule(InMemoryDataModule):
    """Inputs ``x`` and targets ``y`` held as tensors. The lessons hold no data out: validation and test
    report the loss on every point, and predict runs the net on every input, each in one batch."""

    x: torch.Tensor  # (num_points, num_inputs)
    y: torch.Tensor  # (num_points, num_outputs)

    def _all(self, cache_key: str, tensors: tuple[torch.Tensor, ...]) -> TensorBatches:
        return self.batches(cache_key, tensors, shuffle=False, batch_size=len(self.x), even=False)

    def val_dataloader(self) -> TensorBatches:
        return self._all("points", (self.x, self.y))

    test_dataloader = val_dataloader

    def predict_dataloader(self) -> TensorBatches:
        return self._all("inputs", (self.x,))


class RegressionDataModule(_PointsDataModule):
    """The lessons' random regression problem: x ~ N(0, 1) of shape (n, d_in), y ~ N(0, 1) of shape (n, d_out).

    The lessons take one full-batch gradient step per iteration; ``steps_per_epoch`` of them make an epoch,
    so the loop's per-epoch work (validation, checkpointing) is not paid at every step.

    Args:
        n: Number of samples (the lessons' N).
        d_in: Input width (the lessons' D_in); also the regressor's.
        d_out: Output width (the lessons' D_out); also the regressor's.
        steps_per_epoch: Full-batch steps per epoch.
        seed: Seed of the random tensors; defaults to ``seed_everything``.
    """

    def __init__(
        self, n: int = 64, d_in: int = 1000, d_out: int = 10, steps_per_epoch: int = 100, seed: int | None = None
    ) -> None:
        for key, value in (("data.n", n), ("data.d_in", d_in), ("data.d_out", d_out)):
            require(value > 0, key, value, "a positive integer")
        super().__init__(n, seed)  # after the check of n: as the batch size its message would name the wrong key
        require(steps_per_epoch > 0, "data.steps_per_epoch", steps_per_epoch, "a positive integer")
        self.n, self.d_in, self.d_out, self.steps_per_epoch = n, d_in, d_out, steps_per_epoch
        self.save_hyperparameters()
        check_data_fits({"data.n": n, "data.d_in": d_in, "data.d_out": d_out}, n * (d_in + d_out))
        generator = torch.Generator().manual_seed(self.seed)
        self.x = torch.randn(n, d_in, generator=generator)
        self.y = torch.randn(n, d_out, generator=generator)

    def train_dataloader(self) -> TensorBatches:
        # The same full batch ``steps_per_epoch`` times, as in the lessons' loop.
        return self.batches("points", (self.x, self.y), shuffle=False, passes=self.steps_per_epoch)


class CurveDataModule(_PointsDataModule):
    """The lessons' 1-D curve: ``num_points`` x evenly spaced on [-1, 1], y = x**2 + noise.

    Args:
        num_points: Points on [-1, 1] (lesson 004: 100, lesson 003: 1000).
        noise: ``uniform`` adds ``noise_scale * U(0, 1)`` (lesson 004), ``normal`` adds ``noise_scale * N(0, 1)`` (003).
        noise_scale: Scale of the noise.
        batch_size: Training batch size; batches are shuffled every epoch.
        seed: Seed of the noise and the shuffle order; defaults to ``seed_everything``.
    """

    def __init__(
        self,
        num_points: int = 100,
        noise: Literal["uniform", "normal"] = "uniform",
        noise_scale: float = 0.2,
        batch_size: int = 32,
        seed: int | None = None,
    ) -> None:
        super().__init__(batch_size, seed)
        require(num_points >= 2, "data.num_points", num_points, "an integer of at least 2")
        require(
            math.isfinite(noise_scale) and noise_scale >= 0, "data.noise_scale", noise_scale, "a finite number >= 0"
        )
        self.save_hyperparameters()
        check_data_fits({"data.num_points": num_points}, 2 * num_points)
        self.d_in = self.d_out = 1  # the network's widths, linked by the CLI
        generator = torch.Generator().manual_seed(self.seed)
        self.x = torch.linspace(-1, 1, num_points).unsqueeze(1)  # (num_points, 1)
        draw = torch.rand if noise == "uniform" else torch.randn
        self.y = self.x.pow(2) + noise_scale * draw(self.x.shape, generator=generator)
        self.noise_mean = noise_scale / 2 if noise == "uniform" else 0.0

    def train_dataloader(self) -> TensorBatches:
        return self.batches("points", (self.x, self.y), shuffle=True)
