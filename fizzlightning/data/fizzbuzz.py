"""The FizzBuzz data: 101..2**num_digits - 1 binary-encoded, a seeded validation split, 1..100 as the test."""

import math

import torch

from fizzlightning.data.base import EVAL_BATCH_SIZE, InMemoryDataModule, check_memory, model_needs
from fizzlightning.data.batches import TensorBatches
from fizzlightning.errors import ConfigError, require
from fizzlightning.lessons import fizzbuzz

MAX_DATA_BYTES = 2 * 2**30  # the encoded FizzBuzz range must fit comfortably in memory
ENCODE_CHUNK = 2**16  # numbers encoded at a time: the int64 bits of a whole range would be 8 x its float32 bits


def _fizzbuzz_bytes(num_digits: int) -> int:
    return 2**num_digits * (num_digits * 4 + 16)  # float bits + int64 number + int64 label per sample


def _fit_bytes(num_digits: int) -> int:
    # what fit holds per number: the training bits, label and number (_fizzbuzz_bytes), and each epoch's shuffle
    # order with its copy for the ranks (2 x int64); the validation numbers are encoded a batch at a time
    return _fizzbuzz_bytes(num_digits) + 2**num_digits * 16


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
        """The bits (len, num_digits) and labels (len,) of ``numbers``, made a chunk at a time: the temporaries
        of one chunk, never of the whole range, are all that is allocated besides the result."""
        x = torch.empty(len(numbers), self.num_digits, device=numbers.device)
        y = torch.empty(len(numbers), dtype=torch.int64, device=numbers.device)
        for start in range(0, len(numbers), ENCODE_CHUNK):
            chunk = numbers[start : start + ENCODE_CHUNK]
            x[start : start + ENCODE_CHUNK] = fizzbuzz.binary_encode(chunk, self.num_digits)
            y[start : start + ENCODE_CHUNK] = fizzbuzz.fizzbuzz_labels(chunk)
        return x, y

    def _check_memory(self) -> None:
        """Before the data is made: the whole fit must fit in this machine's memory (``base.check_memory``)."""
        trainer = self.trainer
        model = trainer.lightning_module if trainer is not None else None
        processes = max(1, trainer.world_size // trainer.num_nodes) if trainer is not None else 1
        # a batch larger than the data is the whole data: training's is this rank's share at most
        numbers = fizzbuzz.max_number(self.num_digits) - fizzbuzz.FIRST_TRAIN_NUMBER + 1
        per_rank = math.ceil(round(numbers * (1 - self.val_fraction)) / processes)
        batch = max(min(self.batch_size, per_rank), min(EVAL_BATCH_SIZE, numbers))
        settings = {
            "the data": ("data.num_digits", self.num_digits, "Use fewer digits"),
            "the model": ("model.hidden", getattr(model, "hparams", {}).get("hidden"), "Use narrower layers"),
            "a batch": ("data.batch_size", self.batch_size, "Use a smaller batch"),
        }
        data = {
            f"the data (2**{self.num_digits} numbers x {_fit_bytes(self.num_digits) >> self.num_digits} bytes: "
            "bits, label, number, shuffle order)": _fit_bytes(self.num_digits),
        }
        try:
            check_memory(settings, data, model_needs(model, batch, self.num_digits), processes)
            verdict = None
        except ConfigError as error:
            verdict = str(error)
        if trainer is not None and trainer.world_size > 1:
            # rank 0's reading decides for every rank: ranks that read the memory at different moments could
            # disagree, and one that stopped alone would leave the others waiting
            verdict = trainer.strategy.broadcast(verdict, src=0)
        if verdict is not None:
            raise ConfigError(verdict)

    def setup(self, stage: str) -> None:
        if stage in ("fit", "validate"):  # test and predict need neither split
            if stage == "fit":
                self._check_memory()
            numbers = torch.arange(fizzbuzz.FIRST_TRAIN_NUMBER, fizzbuzz.max_number(self.num_digits) + 1)
            order = torch.randperm(len(numbers), generator=torch.Generator().manual_seed(self.seed))
            num_val = round(len(numbers) * self.val_fraction)
            self.val_numbers, self.train_numbers = numbers[order[:num_val]].sort().values, numbers[order[num_val:]]
            del numbers, order  # (2**num_digits,) each: not held past the split
        self.test_numbers = torch.arange(1, 101)
        first, last = self.predict_range
        self.predict_numbers = torch.arange(first, last + 1)

    def train_dataloader(self) -> TensorBatches:
        # training is the one pass that holds its encoding: the steps slice it, at no cost per step
        return self.batches("train", self.encoded(self.train_numbers), shuffle=True)

    # Evaluation holds the numbers alone and encodes each batch as it is sliced (``TensorBatches.transform``).

    def val_dataloader(self) -> TensorBatches:
        return self._eval_batches("val", self.val_numbers, self.encoded)  # bits and labels

    def test_dataloader(self) -> TensorBatches:
        return self._eval_batches("test", self.test_numbers, lambda numbers: (*self.encoded(numbers), numbers))

    def predict_dataloader(self) -> TensorBatches:
        return self._eval_batches(
            "predict", self.predict_numbers, lambda numbers: (fizzbuzz.binary_encode(numbers, self.num_digits), numbers)
        )

    def _eval_batches(self, cache_key: str, numbers: torch.Tensor, transform) -> TensorBatches:
        return self.batches(
            cache_key, (numbers,), shuffle=False, batch_size=EVAL_BATCH_SIZE, even=False, transform=transform
        )
