"""Lesson 004's GAN: a generator learns to paint like an artist whose paintings are parabolas.

The artist paints y = a * x**2 + (a - 1) at 15 points of [-1, 1], with a ~ U(1, 2): every painting lies
between the lower bound x**2 (a = 1) and the upper bound 2 * x**2 + 1 (a = 2). The generator G turns 5
random "ideas" into a painting; the discriminator D says how likely a painting is the artist's. Both are
trained with Adam, lr 1e-4, on batches of 64, for the lesson's 20 000 steps.

The whole model is this file and ``lightning_configs/gan.yaml``: the CLI, the run directories and the
checkpoints need nothing else.
"""

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torch.func import functional_call

from fizzlightning.base import TrainingModule
from fizzlightning.batches import EpochBatches, TensorBatches
from fizzlightning.checks import require
from fizzlightning.curve import Canvas
from fizzlightning.data import _InMemoryDataModule

TOLERANCE = 0.05  # how far outside the bounds a painting may stray: 5 % of the band's narrowest width (1, at x = 0)
LOWER, UPPER, PAINTED = np.array([0.95, 0.58, 0.35]), np.array([0.45, 0.74, 1.0]), np.array([0.29, 0.84, 0.19])


def artist_works(a: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """The artist's paintings for the draws ``a`` (n,): (n, len(points))."""
    return a[:, None] * points**2 + (a[:, None] - 1)


def judge(paintings: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Per painting: (fitted a, RMS distance to that parabola, 1 if within the bounds at every point).

    ``a`` is the least-squares fit in the artist's family: y + 1 = a * (x**2 + 1).
    """
    basis = points**2 + 1  # (points,)
    a = ((paintings + 1) * basis).sum(dim=1) / basis.pow(2).sum()
    rms = (paintings - artist_works(a, points)).pow(2).mean(dim=1).sqrt()
    inside = (paintings >= points**2 - TOLERANCE) & (paintings <= 2 * points**2 + 1 + TOLERANCE)
    return torch.stack([a, rms, inside.all(dim=1).float()], dim=1)  # (n, 3)


def ks_to_uniform(a: torch.Tensor) -> float:
    """Kolmogorov-Smirnov distance between the sample ``a`` and the artist's U(1, 2): 0 is a perfect match."""
    a = a.sort().values
    n = len(a)
    cdf = (a - 1).clamp(0, 1)
    above = torch.arange(1, n + 1, device=a.device) / n - cdf
    below = cdf - torch.arange(0, n, device=a.device) / n
    return float(torch.maximum(above, below).max())


class ArtistBatches(EpochBatches):
    """``steps`` batches per epoch of fresh artist paintings and generator ideas, drawn on the training device.

    The draws come from a generator seeded by (seed, epoch, rank): a rerun or a resumed run sees the same
    paintings, and DDP ranks see different ones.
    """

    def __init__(self, points: torch.Tensor, batch_size: int, n_ideas: int, steps: int, seed: int, rank: int) -> None:
        self.points, self.batch_size, self.n_ideas, self.steps = points, batch_size, n_ideas, steps
        self.seed, self.rank = seed, rank

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        generator = torch.Generator().manual_seed((self.seed * 100_003 + self.epoch) * 1_009 + self.rank)
        n = self.steps * self.batch_size
        a = (1 + torch.rand(n, generator=generator)).to(self.points.device)  # one host-to-device copy an epoch
        ideas = torch.randn(n, self.n_ideas, generator=generator).to(self.points.device)
        paintings = artist_works(a, self.points)
        for start in range(0, n, self.batch_size):
            yield paintings[start : start + self.batch_size], ideas[start : start + self.batch_size]


class ArtistDataModule(_InMemoryDataModule):
    """The artist's paintings for training, and fixed, seeded ideas (with real paintings) to score G on.

    Args:
        art_components: Points per painting, evenly spaced on [-1, 1] (the lesson's ART_COMPONENTS).
        n_ideas: Random inputs of the generator (the lesson's N_IDEAS).
        batch_size: Paintings per step (the lesson's BATCH_SIZE).
        steps_per_epoch: Training steps per epoch; validation and the picture come once an epoch.
        eval_paintings: Ideas (and real paintings) that validation scores, and as many others for the test.
        predict_paintings: Paintings that ``predict`` draws.
        seed: Seed of the draws; defaults to ``seed_everything``.
    """

    def __init__(
        self,
        art_components: int = 15,
        n_ideas: int = 5,
        batch_size: int = 64,
        steps_per_epoch: int = 500,
        eval_paintings: int = 1000,
        predict_paintings: int = 5,
        seed: int | None = None,
    ) -> None:
        super().__init__(batch_size, seed)
        for key, value in (("art_components", art_components), ("n_ideas", n_ideas)):
            require(value >= 2, f"data.{key}", value, "an integer of at least 2")
        for key, value in (("steps_per_epoch", steps_per_epoch), ("predict_paintings", predict_paintings)):
            require(value > 0, f"data.{key}", value, "a positive integer")
        require(eval_paintings >= 10, "data.eval_paintings", eval_paintings, "an integer of at least 10")
        self.save_hyperparameters()
        self.art_components, self.n_ideas = art_components, n_ideas
        self.points = torch.linspace(-1, 1, art_components)  # (art_components,)
        generator = torch.Generator().manual_seed(self.seed + 1)  # apart from the training draws
        # validation chooses the checkpoint, so the test judges other paintings: (ideas, real paintings) each
        self.val_set, self.test_set = (self._eval_set(eval_paintings, generator) for _ in range(2))
        self.predict_ideas = torch.randn(predict_paintings, n_ideas, generator=generator)

    def _eval_set(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        ideas = torch.randn(n, self.n_ideas, generator=generator)  # (n, n_ideas)
        return ideas, artist_works(1 + torch.rand(n, generator=generator), self.points)  # (n, art_components)

    def train_dataloader(self) -> ArtistBatches:
        device = self.trainer.strategy.root_device
        steps, rank = self.hparams.steps_per_epoch, self.trainer.global_rank
        return ArtistBatches(self.points.to(device), self.batch_size, self.n_ideas, steps, self.seed, rank)

    def val_dataloader(self) -> TensorBatches:
        return self._batches("val", self.val_set, False, len(self.val_set[0]), even=False)

    def test_dataloader(self) -> TensorBatches:
        return self._batches("test", self.test_set, False, len(self.test_set[0]), even=False)

    def predict_dataloader(self) -> TensorBatches:
        return self._batches("predict", (self.predict_ideas,), False, len(self.predict_ideas), even=False)


class PaintingsImage(L.Callback):
    """``gan/paintings`` after every validation: a few generated paintings between the artist's bounds.

    Args:
        paintings: How many of the validation paintings to draw.
    """

    def __init__(self, paintings: int = 3) -> None:
        self.paintings = paintings

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: "GAN") -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not isinstance(trainer.logger, TensorBoardLogger):
            return
        x = pl_module.points.cpu().numpy()
        canvas = Canvas((-1.05, 1.05), (-0.2, 3.2))  # the lesson's plot shows y in (0, 3)
        canvas.line(x, 2 * x**2 + 1, UPPER)
        canvas.line(x, x**2, LOWER)
        for painting in pl_module.val_paintings[: self.paintings]:
            canvas.line(x, painting.cpu().numpy(), PAINTED)
        trainer.logger.experiment.add_image("gan/paintings", canvas.chw(), trainer.global_step)


class GAN(TrainingModule):
    """The lesson's generator and discriminator, trained in turn with manual optimisation.

    Each step computes both losses from one forward pass, as the lesson does, and moves both networks: D's
    loss treats G's paintings as given, G's loss treats D's weights as given. The lesson backpropagates G's
    loss after D's optimizer step, which current PyTorch refuses (D's weights changed in place); here both
    gradients come from the networks before either moved, which is what the lesson's graph held.

    Validation and test generate paintings from fixed ideas and judge them: the share within the bounds,
    the artist's ``a`` fitted to each (its distance to U(1, 2) by Kolmogorov-Smirnov, ``val/ks``, on which
    the best checkpoint is chosen), and the lesson's two convergence signs: D's accuracy on real paintings
    (mean D(real), 0.5 when D can no longer tell) and D's score (-D_loss, 2 log 0.5 = -1.38 when G paints
    like the artist).

    Args:
        art_components: Points per painting; must equal ``data.art_components``.
        n_ideas: The generator's random inputs; must equal ``data.n_ideas``.
        hidden: Hidden width of both networks (the lesson's 128).
        lr_g: Adam learning rate of the generator (the lesson's LR_G).
        lr_d: Adam learning rate of the discriminator (the lesson's LR_D).
    """

    monitor = "val/ks"
    mode = "min"
    hp_metrics = {"hp/val_ks": "val/ks", "hp/test_in_bounds": "test/in_bounds"}

    def __init__(
        self, art_components: int = 15, n_ideas: int = 5, hidden: int = 128, lr_g: float = 1e-4, lr_d: float = 1e-4
    ) -> None:
        super().__init__()
        require(hidden > 0, "model.hidden", hidden, "a positive integer")
        for key, value in (("model.lr_g", lr_g), ("model.lr_d", lr_d)):
            require(0 < value < float("inf"), key, value, "a finite learning rate > 0")
        self.save_hyperparameters()
        self.automatic_optimization = False
        generator = nn.Sequential(nn.Linear(n_ideas, hidden), nn.ReLU(), nn.Linear(hidden, art_components))
        discriminator = nn.Sequential(nn.Linear(art_components, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())
        self.net = nn.ModuleDict({"generator": generator, "discriminator": discriminator})
        self.register_buffer("points", torch.linspace(-1, 1, art_components), persistent=False)

    def setup(self, stage: str) -> None:
        super().setup(stage)
        data = self.trainer.datamodule
        for name in ("art_components", "n_ideas"):
            held = getattr(data, name, self.hparams[name])
            require(held == self.hparams[name], f"model.{name}", self.hparams[name], f"data.{name} = {held}")

    def configure_optimizers(self) -> torch.optim.Adam:
        # One Adam with a parameter group per network is two Adams to the bit (Adam's state is per parameter),
        # and Lightning counts one optimizer step per batch instead of two.
        return torch.optim.Adam(
            [
                {"params": self.net["discriminator"].parameters(), "lr": self.hparams.lr_d},
                {"params": self.net["generator"].parameters(), "lr": self.hparams.lr_g},
            ]
        )

    def configure_callbacks(self) -> list[L.Callback]:
        return [PaintingsImage()]  # pictures are callbacks: see FizzBuzzClassifier.configure_callbacks

    def forward(self, ideas: torch.Tensor) -> torch.Tensor:
        return self.net["generator"](ideas)  # (batch, art_components)

    def _d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per pair of paintings: D(real), and log D(real) + log(1 - D(fake)), whose mean is minus D's loss."""
        prob_real = self.net["discriminator"](real)[:, 0]  # (batch,)
        prob_fake = self.net["discriminator"](fake)[:, 0]
        return prob_real, torch.log(prob_real) + torch.log(1 - prob_fake)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, ideas = batch
        fake = self(ideas)  # (batch, art_components)
        d_loss = -self._d_terms(real, fake.detach())[1].mean()  # D's loss moves D only
        frozen_d = {name: p.detach() for name, p in self.net["discriminator"].named_parameters()}
        g_loss = torch.mean(torch.log(1 - functional_call(self.net["discriminator"], frozen_d, (fake,))))  # G only
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(d_loss + g_loss)  # one backward: DDP reduces every gradient once
        optimizer.step()
        self.record_loss(d_loss, batch_idx)

    def _score(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        ideas, real = batch
        fake = self(ideas)
        prob_real, d_score = self._d_terms(real, fake)
        # (batch, art_components + 5): the painting; a, rms, inside; D(real), D's score
        return torch.cat([fake, judge(fake, self.points), prob_real[:, None], d_score[:, None]], dim=1)

    def _judge_all(self, rows: list[torch.Tensor], stage: str) -> torch.Tensor:
        rows = self.gather_rows(torch.cat(rows))  # every rank's paintings: the KS distance needs all of them
        a, rms, inside, prob_real, d_score = rows[:, -5:].T
        # every rank now holds every painting, so every rank logs the same values (sync_dist keeps Lightning content)
        self.log(f"{stage}/in_bounds", inside.mean(), sync_dist=True)
        self.log(f"{stage}/ks", ks_to_uniform(a), sync_dist=True)
        self.log(f"{stage}/rms", rms.mean(), sync_dist=True)
        self.log(f"{stage}/d_accuracy", prob_real.mean(), sync_dist=True)
        self.log(f"{stage}/d_score", d_score.mean(), sync_dist=True)
        return rows

    def on_validation_epoch_start(self) -> None:
        self._rows: list[torch.Tensor] = []

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._rows.append(self._score(batch, "val"))

    def on_validation_epoch_end(self) -> None:
        self.val_paintings = self._judge_all(self._rows, "val")[:, : self.hparams.art_components]

    def on_test_epoch_start(self) -> None:
        self._rows = []

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._rows.append(self._score(batch, "test"))

    def on_test_epoch_end(self) -> None:
        self.test_results = self._judge_all(self._rows, "test")[:, -5:-2]  # a, rms, inside

    def test_report(self) -> str:
        metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items()}
        a = self.test_results[:, 0]
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
        return torch.cat([paintings, judge(paintings, self.points)], dim=1)  # (batch, art_components + 3)

    def format_predictions(self, predictions: torch.Tensor) -> str:
        lines = [f"y at x = {', '.join(f'{x:.2f}' for x in self.points.tolist())}"]
        for painting in predictions.tolist():
            *y, a, rms, inside = painting
            where = "within the bounds" if inside else "outside the bounds"
            lines.append(f"a = {a:.3f}, {where}, RMS off the parabola {rms:.3f}: {', '.join(f'{v:.2f}' for v in y)}")
        return "\n".join(lines)
