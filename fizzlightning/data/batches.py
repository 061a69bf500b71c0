"""Loaders without a DataLoader: mini-batches sliced from tensors on the device, or drawn there each epoch.

The training data of every lesson lives on the training device (FizzBuzz's largest allowed range is under
2 GiB). Evaluation passes may hold less, the numbers alone, and encode each batch as it is sliced: what one
pass allocates is then bounded by its batch size, whatever the size of the data.
"""

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

from fizzlightning.lessons.artist import artist_works


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's draws (shuffle order, fresh samples): a rerun or a resumed run sees the same ones."""
    return seed * 100_003 + epoch


class EpochBatches:
    """A loader without a DataLoader: Lightning calls ``loader.sampler.set_epoch(epoch)`` before each training
    epoch, and looks for a batch sampler. Subclasses draw each epoch's batches from ``self.epoch`` (``batches``).

    It resumes mid-epoch: Lightning keeps a training loader's ``state_dict()`` in every checkpoint and hands it to
    ``load_state_dict`` when a fit resumes inside an epoch (a stop at ``max_steps``). The state is the epoch and
    how many of its batches were handed out; the resumed epoch draws the same order and starts at the batch after
    them, so a resumed run sees every batch the uninterrupted run sees, in its order.
    """

    batch_sampler = None
    epoch = 0
    handed_out = 0  # batches of the current epoch's pass handed out so far
    _resume: tuple[int, int] | None = None  # (epoch, batches handed out) of a checkpoint written inside that epoch

    @property
    def sampler(self) -> "EpochBatches":
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batches": self.handed_out}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = (state["epoch"], state["batches"])

    def batches(self) -> Iterator[Any]:
        """The current epoch's batches, all of them, in order."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        # A generator: it starts at the first ``next()``, after Lightning has set the epoch and loaded the state.
        resume, self._resume = self._resume, None
        skip = resume[1] if resume is not None and resume[0] == self.epoch else 0  # another epoch's: a whole pass
        self.handed_out = skip
        for batch in itertools.islice(self.batches(), skip, None):
            self.handed_out += 1  # before the yield: a checkpoint written while the batch trains counts it
            yield batch


class TensorBatches(EpochBatches):
    """Mini-batches of ``tensors`` (all sharing their first dimension), sliced on the device without collation.

    Each epoch's shuffle order comes from ``(seed, epoch)``: a rerun or a resumed run sees the same batches. Under
    DDP each rank takes every ``world_size``-th sample of the order, padded like ``DistributedSampler`` so that
    all ranks run the same number of steps. With ``even=False`` (validation, test, predict) each rank takes a
    contiguous, unpadded part (``tensor_split``'s): every sample is scored once, and the ranks' results in rank
    order are in input order. A rank left without samples gets one empty batch, so that it still runs the step
    and takes part in every gather. ``passes`` repeats the data within an epoch (the regressor's full batch, once
    per step). ``transform`` maps each batch's slices to the step's batch (numbers to their encoding), so that
    only the batch's part is ever made.
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        passes: int = 1,
        even: bool = True,
        transform: Callable[..., tuple[torch.Tensor, ...]] | None = None,
    ) -> None:
        self.tensors, self.batch_size, self.shuffle, self.seed = tensors, batch_size, shuffle, seed
        self.rank, self.world_size, self.passes, self.even, self.transform = rank, world_size, passes, even, transform
        n = len(tensors[0])
        size, rest = divmod(n, world_size)
        start = rank * size + min(rank, rest)
        self._part = range(n) if even else range(start, start + size + (rank < rest))  # of each epoch's order
        self._per_rank = math.ceil(n / world_size) if even else len(self._part)
        # where this rank's part starts in input order, when evaluating (even=False, unshuffled); else 0
        self.first_index = self._part.start if not even and not shuffle else 0

    def __len__(self) -> int:
        return self.passes * max(1, math.ceil(self._per_rank / self.batch_size))

    def _indices(self) -> torch.Tensor:
        """This rank's sample indices for the current epoch, in order."""
        n = len(self.tensors[0])
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        if self.even:
            order = torch.cat([order, order[: self._per_rank * self.world_size - n]])[self.rank :: self.world_size]
        else:
            order = order[self._part.start : self._part.stop]
        return order.to(self.tensors[0].device)

    def batches(self) -> Iterator[tuple[torch.Tensor, ...]]:
        size, part = self.batch_size, self._part  # part: every sample when world_size is 1
        for _ in range(self.passes):
            if self.shuffle or (self.even and self.world_size > 1):
                indices = self._indices()
                starts = range(0, max(len(indices), 1), size)
                batches = (tuple(t[indices[start : start + size]] for t in self.tensors) for start in starts)
            else:  # views of one contiguous range, no index tensor: an evaluation pass allocates one batch at a time
                starts = range(part.start, max(part.stop, part.start + 1), size)  # an empty part: one empty batch
                batches = (tuple(t[start : min(start + size, part.stop)] for t in self.tensors) for start in starts)
            for batch in batches:
                yield batch if self.transform is None else self.transform(*batch)


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

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch) * 1_009 + self.rank)
        n = self.steps * self.batch_size
        a = (1 + torch.rand(n, generator=generator)).to(self.points.device)  # one host-to-device copy an epoch
        ideas = torch.randn(n, self.n_ideas, generator=generator).to(self.points.device)
        paintings = artist_works(a, self.points)  # (n, art_components)
        for start in range(0, n, self.batch_size):
            yield paintings[start : start + self.batch_size], ideas[start : start + self.batch_size]
