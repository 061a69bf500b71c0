"""Lesson 004's GAN: a thin LightningModule around ``Generator`` and ``Discriminator``, its metrics and picture.

The artist and the judge are ``lessons/artist.py``, the data ``data.ArtistDataModule``, the picture
``PaintingsImage``; ``lightning_configs/gan.yaml`` puts them together.
"""

from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torch.func import functional_call
from torchmetrics import CatMetric, MeanMetric

from fizzlightning.callbacks.dashboards import log_image, loggers
from fizzlightning.errors import require
from fizzlightning.lessons.artist import judge, ks_to_uniform
from fizzlightning.lessons.nets import Discriminator, Generator
from fizzlightning.lessons.pictures import render_paintings
from fizzlightning.models.base import INJECTED, TrainingModule, built


class GAN(TrainingModule):
    """The lesson's generator and discriminator, both moved at every step by one backward pass.

    Each step computes both losses from one forward pass, as the lesson does: D's loss moves D with G's
    paintings held fixed, G's loss moves G with D's weights held fixed. The lesson backpropagates G's loss
    after D's optimizer step, which current PyTorch refuses (D's weights changed in place); here both
    gradients come from the networks before either moved, which is what the lesson's graph held.

    Validation and test generate paintings from fixed ideas and judge them: the share within the bounds,
    the artist's ``a`` fitted to each (its distance to U(1, 2) by Kolmogorov-Smirnov, ``val/ks``, on which
    the best checkpoint is chosen), and the lesson's two convergence signs: D's accuracy on real paintings
    (mean D(real), 0.5 when D can no longer tell) and D's score (-D_loss, 2 log 0.5 = -1.38 when G paints
    like the artist).

    Args:
        art_components: Points per painting; linked to ``data.art_components`` by the CLI.
        n_ideas: The generator's random inputs; linked to ``data.n_ideas`` by the CLI.
        hidden: Hidden width of both networks (the lesson's 128).
        lr_g: Adam learning rate of the generator (the lesson's LR_G).
        lr_d: Adam learning rate of the discriminator (the lesson's LR_D).
        optimizer: Builds the one optimizer of both networks from their two parameter groups, whose learning
            rates are ``lr_d`` and ``lr_g`` (the optimizer's own ``lr`` is not used); the lesson's Adam by default.
        lr_scheduler: Builds a learning-rate scheduler from the optimizer (``--lr_scheduler``); none by default.
    """

    monitor = "val/ks"
    mode = "min"

    def __init__(
        self,
        art_components: int = 15,
        n_ideas: int = 5,
        hidden: int = 128,
        lr_g: float = 1e-4,
        lr_d: float = 1e-4,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__(optimizer, lr_scheduler)
        require(hidden > 0, "model.hidden", hidden, "a positive integer")
        for key, value in (("model.lr_g", lr_g), ("model.lr_d", lr_d)):
            require(0 < value < float("inf"), key, value, "a finite learning rate > 0")
        self.save_hyperparameters(ignore=INJECTED)
        self.automatic_optimization = False
        self.net = built(
            "model.hidden",
            hidden,
            lambda: nn.ModuleDict(
                {
                    "generator": Generator(n_ideas, hidden, art_components),
                    "discriminator": Discriminator(art_components, hidden),
                }
            ),
        )
        self.register_buffer("points", torch.linspace(-1, 1, art_components), persistent=False)
        self.judges = nn.ModuleDict({"val": _judges(), "test": _judges()})

    def parameter_groups(self) -> list[dict[str, Any]]:
        # One Adam with a parameter group per network is two Adams to the bit (Adam's state is per parameter),
        # and Lightning counts one optimizer step per batch instead of two.
        return [
            {"params": self.net["discriminator"].parameters(), "lr": self.hparams.lr_d},
            {"params": self.net["generator"].parameters(), "lr": self.hparams.lr_g},
        ]

    def configure_callbacks(self) -> list[L.Callback]:
        # Pictures are callbacks, never module hooks: they only read the model, so a config can add more.
        return self.new_callbacks(PaintingsImage())

    def forward(self, ideas: torch.Tensor) -> torch.Tensor:
        return self.net["generator"](ideas)  # (batch, art_components)

    def _d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per pair of paintings: D(real), and log D(real) + log(1 - D(fake)), whose mean is minus D's loss."""
        prob_real = self.net["discriminator"](real)[:, 0]  # (batch,)
        prob_fake = self.net["discriminator"](fake)[:, 0]
        return prob_real, torch.log(prob_real) + torch.log(1 - prob_fake)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        real, ideas = batch
        fake = self(ideas)  # (batch, art_components)
        d_loss = -self._d_terms(real, fake.detach())[1].mean()  # D's loss moves D only
        frozen_d = {name: p.detach() for name, p in self.net["discriminator"].named_parameters()}
        g_loss = torch.mean(torch.log(1 - functional_call(self.net["discriminator"], frozen_d, (fake,))))  # G only
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(d_loss + g_loss)  # one backward: DDP reduces every gradient once
        optimizer.step()
        return d_loss  # train/loss is D's loss, the lesson's printout

    def _judge(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
        """Judges the batch's paintings into the stage's metrics, which reduce over every rank's paintings (the KS
        distance needs all of them); the paintings and their fitted ``a`` are the step's outputs."""
        ideas, real = batch
        fake = self(ideas)
        prob_real, d_score = self._d_terms(real, fake)
        verdict = judge(fake, self.points)
        values = dict(in_bounds=verdict.inside, ks=verdict.a, rms=verdict.rms, d_accuracy=prob_real, d_score=d_score)
        for name, metric in self.judges[stage].items():
            metric.update(values[name])
            self.log(f"{stage}/{name}", metric)
        return {"painting": fake, "a": verdict.a}

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return self._judge(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return self._judge(batch, "test")

    def predict_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> torch.Tensor:
        (ideas,) = batch
        paintings = self(ideas)
        verdict = judge(paintings, self.points)
        return torch.cat([paintings, torch.stack(verdict, dim=1)], dim=1)  # (batch, art_components + 3)


class KSToUniform(CatMetric):
    """The Kolmogorov-Smirnov distance of every rank's fitted ``a`` to the artist's U(1, 2)."""

    def compute(self) -> torch.Tensor:
        return torch.tensor(ks_to_uniform(super().compute()))


def _judges() -> nn.ModuleDict:
    """A stage's judgement of paintings: the share within the bounds, the KS distance of the fitted ``a``, the RMS
    distance to the fitted parabola, D's accuracy on real paintings and D's score, over every rank's paintings."""
    names = ("in_bounds", "ks", "rms", "d_accuracy", "d_score")
    return nn.ModuleDict({n: (KSToUniform if n == "ks" else MeanMetric)(nan_strategy="disable") for n in names})


class PaintingsImage(L.Callback):
    """``gan/paintings`` after every validation: a few generated paintings between the artist's bounds.

    Args:
        paintings: How many of the validation paintings to draw.
    """

    def __init__(self, paintings: int = 3) -> None:
        self.paintings = paintings

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._kept: list[torch.Tensor] = []

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, *args: Any) -> None:
        if loggers(trainer) and sum(len(kept) for kept in self._kept) < self.paintings:
            self._kept.append(outputs["painting"][: self.paintings].detach().cpu())

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not loggers(trainer):
            return
        paintings = torch.cat(self._kept)[: self.paintings].numpy()
        image = render_paintings(pl_module.points.cpu().numpy(), paintings)
        log_image(trainer, "gan/paintings", image, trainer.global_step)
