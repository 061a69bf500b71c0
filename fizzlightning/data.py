"""LightningDataModules: the lessons' data sets, built once as tensors and kept on the training device.

``InMemoryDataModule`` is the base for new data: it copies tensors to the device once and shards batches
over DDP ranks. An attribute ``num_digits``, ``d_in``, ``d_out``, ``art_components`` or ``n_ideas`` of a
datamodule is linked to the model's argument of the same name (``cli.py``), so the two cannot disagree.
"""

import math
from typing import Literal

import lightning as L
import torch

from fizzlightning import fizzbuzz
from fizzlightning.artist import artist_works
from fizzlightning.batches import ArtistBatches, TensorBatches
from fizzlightning.checks import require

MAX_DATA_BYTES = 2 * 2**30  # the encoded FizzBuzz range must fit comfortably in memory


def _fizzbuzz_bytes(num_digits: int) -> int:
    return 2**num_digits * (num_digits * 4 + 16)  # float bits + int64 number + int64 label per sample


MAX_NUM_DIGITS = max(n for n in range(1, 64) if _fizzbuzz_bytes(n) <= MAX_DATA_BYTES)


def _run_seed(seed: int | None) -> int:
    # The CLI's ``seed_everything`` has run before the datamodule is built, so its seed is torch's initial seed.
    # Unseeded, torch draws a 64-bit one, too large for the per-epoch seeds made from it: the low 32 bits serve.
    return torch.initial_seed() % 2**32 if seed is None else seed


class InMemoryDataModule(L.LightningDataModule):
    """Places the tensors on the training device once and shards batches by rank under DDP."""

    def __init__(self, batch_size: int, seed: int | None) -> None:
        super().__init__()
        require(batch_size > 0, "data.batch_size", batch_size, "a positive integer")
        require(seed is None or 0 <= seed < 2**32, "data.seed", seed, "an integer in [0, 2**32), as seed_everything")
        self.batch_size = batch_size
        self.seed = _run_seed(seed)
        self._on_device: dict[str, tuple[torch.Tensor, ...]] = {}

    def __str__(self) -> str:
        # Lightning's would build every loader to describe them; jsonargparse formats it for a debug message
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.hparams.items())})"

    def _batches(
        self,
        cache_key: str,
        tensors: tuple[torch.Tensor, ...],
        shuffle: bool,
        batch_size: int | None = None,
        passes: int = 1,
        even: bool = True,
    ) -> TensorBatches:
        """Batches of ``tensors``, copied to the training device once and kept there under ``cache_key``.

        ``even``: every rank runs the same number of steps (training); otherwise every sample is seen
        exactly once (evaluation), see ``TensorBatches``.
        """
        device, rank, world_size = torch.device("cpu"), 0, 1
        if self.trainer is not None:
            device = self.trainer.strategy.root_device
            rank, world_size = self.trainer.global_rank, self.trainer.world_size
        if cache_key not in self._on_device or self._on_device[cache_key][0].device != device:
            self._on_device[cache_key] = tuple(t.to(device) for t in tensors)
        return TensorBatches(
            *self._on_device[cache_key],
            batch_size=batch_size or self.batch_size,
            shuffle=shuffle,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            passes=passes,
            even=even,
        )


class FizzBuzzDataModule(InMemoryDataModule):
    """Numbers 101 .. 2**num_digits - 1 for training and validation, 1..100 for the test.

    Args:
        num_digits: Bits in the binary encoding; also the classifier's input width.
        batch_size: Training batch size (per process under DDP).
        val_fraction: Share of the training range held out for validation and checkpoint selection.
        seed: Seed of the validation split and the shuffle order; defaults to ``seed_everything``.
        predict_range: First and last number that ``predict`` plays.
    """

    def __init__(
        self,
        num_digits: int = 10,
        batch_size: int = 128,
        val_fraction: float = 0.05,
        seed: int | None = None,
        predict_range: tuple[int, int] = (1, 100),
    ) -> None:
        super().__init__(batch_size, seed)
        require(
            isinstance(num_digits, int) and num_digits >= 8,
            "data.num_digits",
            num_digits,
            "an integer of at least 8: below that, 101 .. 2**num_digits - 1 leaves almost nothing to train on",
        )
        require(
            num_digits <= MAX_NUM_DIGITS,
            "data.num_digits",
            num_digits,
            f"at most {MAX_NUM_DIGITS}: encoding 2**{num_digits} numbers would take "
            f"{_fizzbuzz_bytes(num_digits) / 2**30:.1f} GiB of memory (the limit is {MAX_DATA_BYTES / 2**30:.0f} GiB)",
        )
        require(0 < val_fraction < 1, "data.val_fraction", val_fraction, "a fraction strictly between 0 and 1")
        num_train = fizzbuzz.max_number(num_digits) - fizzbuzz.FIRST_TRAIN_NUMBER + 1
        require(
            round(num_train * val_fraction) >= 1 and round(num_train * (1 - val_fraction)) >= 1,
            "data.val_fraction",
            val_fraction,
            f"a fraction that leaves both splits of the {num_train} training numbers non-empty",
        )
        first, last = predict_range
        require(
            1 <= first <= last <= fizzbuzz.max_number(num_digits),
            "data.predict_range",
            list(predict_range),
            f"[first, last] with 1 <= first <= last <= {fizzbuzz.max_number(num_digits)} "
            f"(the largest number {num_digits} bits encode)",
        )
        self.num_digits = num_digits
        self.val_fraction = val_fraction
        self.predict_range = predict_range
        self.save_hyperparameters()

    def encoded(self, numbers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return fizzbuzz.binary_encode(numbers, self.num_digits), fizzbuzz.fizzbuzz_labels(numbers)

    def setup(self, stage: str) -> None:
        numbers = torch.arange(fizzbuzz.FIRST_TRAIN_NUMBER, fizzbuzz.max_number(self.num_digits) + 1)
        order = torch.randperm(len(numbers), generator=torch.Generator().manual_seed(self.seed))
        num_val = round(len(numbers) * self.val_fraction)
        self.val_numbers, self.train_numbers = numbers[order[:num_val]].sort().values, numbers[order[num_val:]]
        self.test_numbers = torch.arange(1, 101)
        first, last = self.predict_range
        self.predict_numbers = torch.arange(first, last + 1)

    def train_dataloader(self) -> TensorBatches:
        return self._batches("train", self.encoded(self.train_numbers), shuffle=True)

    def val_dataloader(self) -> TensorBatches:
        x, y = self.encoded(self.val_numbers)
        return self._batches("val", (x, y), shuffle=False, batch_size=len(self.val_numbers), even=False)

    def test_dataloader(self) -> TensorBatches:
        x, y = self.encoded(self.test_numbers)
        return self._batches("test", (x, y, self.test_numbers), shuffle=False, batch_size=100, even=False)

    def predict_dataloader(self) -> TensorBatches:
        x, _ = self.encoded(self.predict_numbers)
        return self._batches("predict", (x, self.predict_numbers), shuffle=False, batch_size=4096, even=False)


class _PointsDataModule(InMemoryDataModule):
    """Inputs ``x`` and targets ``y`` held as tensors. The lessons hold no data out: validation and test
    report the loss on every point, and predict runs the net on every input, each in one batch."""

    x: torch.Tensor  # (num_points, num_inputs)
    y: torch.Tensor  # (num_points, num_outputs)

    def _all(self, cache_key: str, tensors: tuple[torch.Tensor, ...]) -> TensorBatches:
        return self._batches(cache_key, tensors, shuffle=False, batch_size=len(self.x), even=False)

    def val_dataloader(self) -> TensorBatches:
        return self._all("points", (self.x, self.y))

    def test_dataloader(self) -> TensorBatches:
        return self._all("points", (self.x, self.y))

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
        generator = torch.Generator().manual_seed(self.seed)
        self.x = torch.randn(n, d_in, generator=generator)
        self.y = torch.randn(n, d_out, generator=generator)

    def train_dataloader(self) -> TensorBatches:
        # The same full batch ``steps_per_epoch`` times, as in the lessons' loop.
        return self._batches("points", (self.x, self.y), shuffle=False, passes=self.steps_per_epoch)


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
        self.d_in = self.d_out = 1  # the network's widths, linked by the CLI
        generator = torch.Generator().manual_seed(self.seed)
        self.x = torch.linspace(-1, 1, num_points).unsqueeze(1)  # (num_points, 1)
        draw = torch.rand if noise == "uniform" else torch.randn
        self.y = self.x.pow(2) + noise_scale * draw(self.x.shape, generator=generator)
        self.noise_mean = noise_scale / 2 if noise == "uniform" else 0.0

    def train_dataloader(self) -> TensorBatches:
        return self._batches("points", (self.x, self.y), shuffle=True)


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
        return self._batches("val", self.val_set, False, len(self.val_set[0]), even=False)

    def test_dataloader(self) -> TensorBatches:
        return self._batches("test", self.test_set, False, len(self.test_set[0]), even=False)

    def predict_dataloader(self) -> TensorBatches:
        return self._batches("predict", (self.predict_ideas,), False, len(self.predict_ideas), even=False)
