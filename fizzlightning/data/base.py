"""``InMemoryDataModule``, the base of every data set here: tensors built once and kept on the training device.

It copies tensors to the device once and shards batches over DDP ranks. An attribute ``num_digits``, ``d_in``,
``d_out``, ``art_components`` or ``n_ideas`` of a datamodule is linked to the model's argument of the same name
(``commands/cli.py``), so the two cannot disagree.
"""

import os
from pathlib import Path

import lightning as L
import torch
from torch import nn

from fizzlightning.data.batches import TensorBatches
from fizzlightning.errors import ConfigError, require

# The batch of every evaluation pass (validation, test, predict): fixed, so that the memory a pass takes does not
# grow with the data. 4096 rows of the ReLU recipe's 2048 hidden units are 32 MiB of activations.
EVAL_BATCH_SIZE = 4096
GiB = 2**30


def available_memory() -> tuple[int, str]:
    """Bytes this process may still allocate, and where that number comes from.

    ``MemAvailable`` of ``/proc/meminfo`` (what the kernel can hand out without swapping), lowered to what is left
    under a cgroup v2 ``memory.max`` (a container's limit); the physical memory where neither exists.
    """
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append((int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"))
    except OSError:
        pass
    try:
        cgroup = Path("/sys/fs/cgroup")
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            used = int((cgroup / "memory.current").read_text())
            found.append((int(limit) - used, "the cgroup's memory.max less its memory.current"))
    except (OSError, ValueError):
        pass
    if not found:
        found.append((os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "the physical memory"))
    return min(found)


def model_needs(model: nn.Module | None, batch_size: int, in_width: int) -> dict[str, int]:
    """Bytes a fit of ``model`` holds besides the data: its float32 weights with their gradients and an
    Adam-like optimizer's two moments (4 copies), and one batch's activations forward and backward
    (every ``nn.Linear``'s input and output, twice: the values and their gradients)."""
    if model is None:
        return {}
    parameters = sum(p.numel() for p in model.parameters())
    # each layer's output before and after its activation
    widths = in_width + sum(2 * m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    return {
        f"the model, its gradients and optimizer state (4 x {parameters:,} float32 parameters)": 16 * parameters,
        f"a batch's activations ({batch_size} rows x {widths} values, forward and backward)": 8 * batch_size * widths,
    }


def check_memory(
    settings: dict[str, tuple[str, object, str]], data: dict[str, int], model: dict[str, int], processes: int
) -> None:
    """A ``ConfigError`` before anything is built or trained, if what a run will add to this machine's memory
    does not fit in what is available: ``data`` and ``model`` (what each holds, in bytes), ``processes`` times
    (DDP ranks on this machine each hold a copy). The processes' own memory (Python, torch, Lightning) is in use
    already, so the available memory has counted it.

    The line names the setting behind the largest part: ``settings`` maps the start of a part's description
    (``"the data"``, ``"the model"``, ``"a batch"``) to that setting's key, its value and what to do about it.
    """
    needs = {**data, **model}
    total = processes * sum(needs.values())
    available, source = available_memory()
    if total <= available:
        return
    largest = max(needs, key=needs.get)
    key, value, advice = next(v for start, v in settings.items() if largest.startswith(start))
    parts = "; ".join(f"{what} {size / GiB:.2f} GiB" for what, size in needs.items())
    times = f"{processes} processes x " if processes > 1 else ""
    raise ConfigError(
        f"{key} = {value!r} is not allowed on this machine: a run would need about {total / GiB:.1f} GiB "
        f"({times}{parts}), and {available / GiB:.1f} GiB is available ({source}). {advice}."
    )


def check_data_fits(settings: dict[str, int], floats: int) -> None:
    """A ``ConfigError`` before a data set allocates its ``floats`` float32 values, if they do not fit in memory:
    the line names the largest of ``settings`` (each key a setting that multiplies into the size, with its value),
    instead of an allocation failure inside the config's parsing."""
    key = max(settings, key=settings.get)
    part = f"the data ({floats:,} float32 values)"
    check_memory({"the data": (key, settings[key], "Use a smaller value")}, {part: 4 * floats}, {}, 1)


# The widths the data decides: a datamodule attribute of one of these names sets the model's argument of the
# same name (``commands/cli.py`` links them), so the two cannot disagree. A new data set reuses these names.
WIDTHS = ("num_digits", "d_in", "d_out", "art_components", "n_ideas")


class InMemoryDataModule(L.LightningDataModule):
    """Places the tensors on the training device once and shards batches by rank under DDP."""

    def __init__(self, batch_size: int, seed: int | None) -> None:
        super().__init__()
        require(batch_size > 0, "data.batch_size", batch_size, "a positive integer")
        require(seed is None or 0 <= seed < 2**32, "data.seed", seed, "an integer in [0, 2**32), as seed_everything")
        self.batch_size = batch_size
        # The CLI's ``seed_everything`` has run before the datamodule is built, so its seed is torch's initial seed.
        # Unseeded, torch draws a 64-bit one, too large for the per-epoch seeds made from it: the low 32 bits serve.
        self.seed = torch.initial_seed() % 2**32 if seed is None else seed
        self._on_device: dict[str, tuple[torch.Tensor, ...]] = {}

    def __str__(self) -> str:
        # Lightning's would build every loader to describe them; jsonargparse formats it for a debug message
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.hparams.items())})"

    def batches(
        self, cache_key: str, tensors: tuple[torch.Tensor, ...], shuffle: bool, batch_size: int | None = None, **options
    ) -> TensorBatches:
        """Batches of ``tensors``, copied to the training device once and kept there under ``cache_key``, sharded
        over the trainer's ranks. ``options``: ``TensorBatches``' ``passes``, ``even`` (False: every sample seen
        once, for evaluation) and ``transform``."""
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
            **options,
        )
