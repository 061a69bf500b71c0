"""Lesson 004's GAN: a thin LightningModule around ``Generator`` and ``Discriminator``, its test report.

The artist and the judge are ``lessons/artist.py``, the data ``data.ArtistDataModule``, the picture
``PaintingsImage``; ``lightning_configs/gan.yaml`` puts them together.
"""

import warnings
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torch.func import functional_call

from fizzlightning.callbacks.dashboards import log_image, loggers
from fizzlightning.errors import require
from fizzlightning.lessons.artist import TOLERANCE, Judgement, judge, ks_to_uniform
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
    hp_metrics = {"hp/val_ks": "val/ks", "hp/test_in_bounds": "test/in_bounds"}

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

    def setup(self, stage: str) -> None:
        # _judge_all logs values every rank computes from the same gathered paintings: Lightning's advice to
        # sync them (sync_dist=True) does not apply, and syncing would read them on rank 0 only (base.py)
        warnings.filterwarnings("ignore", message=r".*self\.log\('(val|test)/(in_bounds|ks|rms|d_accuracy|d_score)'.*")

    def _score(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        ideas, real = batch
        fake = self(ideas)
        prob_real, d_score = self._d_terms(real, fake)
        return {"painting": fake, **judge(fake, self.points)._asdict(), "prob_real": prob_real, "d_score": d_score}

    def _judge_all(self, scored: list[dict[str, torch.Tensor]], stage: str) -> dict[str, torch.Tensor]:
        fields = {name: torch.cat([batch[name] for batch in scored]) for name in scored[0]}
        every = self.gather_fields(fields)  # every rank's paintings: the KS distance needs all of them
        # Every rank now holds every painting and computes the same values: no reduction (sync_dist) is needed.
        self.log(f"{stage}/in_bounds", every["inside"].mean())
        self.log(f"{stage}/ks", ks_to_uniform(every["a"]))
        self.log(f"{stage}/rms", every["rms"].mean())
        self.log(f"{stage}/d_accuracy", every["prob_real"].mean())
        self.log(f"{stage}/d_score", every["d_score"].mean())
        return every

    def on_validation_epoch_start(self) -> None:
        self._scored: list[dict[str, torch.Tensor]] = []

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._scored.append(self._score(batch))

    def on_validation_epoch_end(self) -> None:
        self.val_paintings = self._judge_all(self._scored, "val")["painting"]  # for PaintingsImage

    def on_test_epoch_start(self) -> None:
        self._scored = []

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._scored.append(self._score(batch))

    def on_test_epoch_end(self) -> None:
        self.test_results = self._judge_all(self._scored, "test")

    def test_report(self) -> str:
        metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items()}
        a = self.test_results["a"]
        return "\n".join(
            [
                f"Paintings judged: {len(a)}, generated from fixed ideas that validation never saw",
                f"Within the bounds x^2 <= y <= 2x^2 + 1 (+-{TOLERANCE}): {metrics['test/in_bounds']:.1%}",
                f"Fitted a: mean {float(a.mean()):.3f}, std {float(a.std()):.3f} (the artist's U(1, 2): 1.500, 0.289); "
                f"KS distance to U(1, 2) {metrics['test/ks']:.3f}",
                f"RMS distance to the fitted parabola: {metrics['test/rms']:.3f}",
                f"D accuracy on real paintings {metrics['test/d_accuracy']:.2f} (0.5 when D has converged), "
                f"D score {metrics['test/d_score']:.2f} (-1.38 when G has converged)",
            ]
        )

    def predict_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> torch.Tensor:
        (ideas,) = batch
        paintings = self(ideas)
        verdict = judge(paintings, self.points)
        return torch.cat([paintings, torch.stack(verdict, dim=1)], dim=1)  # (batch, art_components + 3)

    def export_net(self) -> tuple[nn.Module, torch.Tensor]:
        ideas = torch.randn(1000, self.hparams.n_ideas, generator=torch.Generator().manual_seed(0))
        return self.net["generator"], ideas  # the painter; D only served to train it

    def prediction_table(self, predictions: torch.Tensor, first: int = 0) -> tuple[list[str], list[list]]:
        header = ["painting", *(f"y({x:.2f})" for x in self.points.tolist()), *Judgement._fields]
        return header, [[i, *row] for i, row in enumerate(predictions.tolist(), start=first)]

    def format_predictions(self, predictions: torch.Tensor, total: int | None = None) -> str:
        lines = [f"y at x = {', '.join(f'{x:.2f}' for x in self.points.tolist())}"]
        for painting in predictions.tolist():
            *y, a, rms, inside = painting
            where = "within the bounds" if inside else "outside the bounds"
            lines.append(f"a = {a:.3f}, {where}, RMS off the parabola {rms:.3f}: {', '.join(f'{v:.2f}' for v in y)}")
        if total is not None and total > len(predictions):  # the writer kept the first and last paintings only
            lines.append(
                f"{total} paintings in all: the first and last {len(predictions)} shown, every one in the file"
            )
        return "\n".join(lines)


class PaintingsImage(L.Callback):
    """``gan/paintings`` after every validation: a few generated paintings between the artist's bounds.

    Args:
        paintings: How many of the validation paintings to draw.
    """

    def __init__(self, paintings: int = 3) -> None:
        self.paintings = paintings

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Not on_validation_epoch_end: Lightning calls the callbacks' before the module's, which judges the epoch's
        # paintings; there the picture would be the previous epoch's, and absent in the first validate.
        if trainer.sanity_checking or not loggers(trainer):
            return
        paintings = pl_module.val_paintings[: self.paintings].cpu().numpy()
        image = render_paintings(pl_module.points.cpu().numpy(), paintings)
        log_image(trainer, "gan/paintings", image, trainer.global_step)
