"""The FizzBuzz data: 101..2**num_digits - 1 binary-encoded, a seeded validation split, 1..100 as the test."""

import torch

from fizzlightning.data.base import InMemoryDataModule
from fizzlightning.data.batches import TensorBatches
from fizzlightning.errors import require
from fizzlightning.lessons import fizzbuzz

MAX_DATA_BYTES = 2 * 2**30  # the encoded FizzBuzz range must fit comfortably in memory


def _fizzbuzz_bytes(num_digits: int) -> int:
    return 2**num_digits * (num_digits * 4 + 16)  # float bits + int64 number + int64 label per sample


MAX_NUM_DIGITS = max(n for n in range(1, 64) if _fizzbuzz_bytes(n) <= MAX_DATA_BYTES)


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
