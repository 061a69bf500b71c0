"""Lesson 004's data: the artist's paintings for the GAN, and fixed, seeded ideas to score its generator on."""

import torch

from fizzlightning.data.base import InMemoryDataModule, check_data_fits
from fizzlightning.data.batches import ArtistBatches, TensorBatches
from fizzlightning.errors import require
from fizzlightning.lessons.artist import artist_works


class ArtistDataModule(InMemoryDataModule):
    """Lesson 004's artist: fresh paintings for training, and fixed, seeded ideas (with real paintings) to score G on.

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
        keys = ("art_components", "n_ideas", "batch_size", "eval_paintings", "predict_paintings")
        sizes = {f"data.{key}": self.hparams[key] for key in keys}
        # the validation and test sets, the predict ideas, and one training batch of ideas and paintings
        rows = 2 * eval_paintings + predict_paintings + batch_size
        check_data_fits(sizes, rows * (n_ideas + art_components))
        self.art_components, self.n_ideas = art_components, n_ideas  # the GAN's widths, linked by the CLI
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
        return self.batches("val", self.val_set, False, len(self.val_set[0]), even=False)

    def test_dataloader(self) -> TensorBatches:
        return self.batches("test", self.test_set, False, len(self.test_set[0]), even=False)

    def predict_dataloader(self) -> TensorBatches:
        return self.batches("predict", (self.predict_ideas,), False, len(self.predict_ideas), even=False)
