"""``InMemoryDataModule``, the base of every data set here: tensors built once and kept on the training device.

It copies tensors to the device once and shards batches over DDP ranks. An attribute ``num_digits``, ``d_in``,
``d_out``, ``art_components`` or ``n_ideas`` of a datamodule is linked to the model's argument of the same name
(``commands/cli.py``), so the two cannot disagree.
"""

import lightning as L
import torch

from fizzlightning.data.batches import TensorBatches
from fizzlightning.errors import require

# The widths the data decides: a datamodule attribute of one of these names sets the model's argument of the
# same name (``commands/cli.py`` links them), so the two cannot disagree. A new data set reuses these names.
WIDTHS = ("num_digits", "d_in", "d_out", "art_components", "n_ideas")


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
