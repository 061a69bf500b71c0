"""``predict``'s output file: every rank's rows, merged in input order, as a CSV table in the run directory; and
every rank's per-sample test results, for what ``test`` prints.

The rows are written as each batch ends, into a hidden spool file beside the final one, so that a range of any
size is played in the memory of a batch. The finished file is renamed into place (``files.atomic_write``): it is
whole, or it is absent.
"""

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torchmetrics import CatMetric

from fizzlightning.errors import WriteError
from fizzlightning.files import atomic_write, disk_full, write_failure

KEPT_ROWS = 1010  # the first rows kept for what predict prints (``commands.reports``); the file has every row
LAST_ROWS = 10  # and the last ones, past KEPT_ROWS: the end of the range
SEND_BYTES = 2**20  # CSV text a rank sends to rank 0 at a time
Table = Callable[[torch.Tensor, Any, int], tuple[list[str], list[list[Any]]]]


class TestOutputs(L.Callback):
    """``results``: the per-sample tensors named ``names`` that ``test_step`` returned in a dict, every rank's,
    gathered in input order. Anything else ``test_step`` returns (a loss tensor, ``{"loss": loss}``) is not
    gathered; a 0-d value counts as one row."""

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self.names = names
        self._parts: dict[str, list[torch.Tensor]] = {}
        self.results: dict[str, torch.Tensor] = {}  # also when the test loop is skipped (limit_test_batches 0)

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._parts, self.results = {}, {}

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, *args: Any) -> None:
        for name in self.names if isinstance(outputs, dict) else ():
            if name in outputs:
                self._parts.setdefault(name, []).append(torch.atleast_1d(torch.as_tensor(outputs[name])).detach())

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        mine = {name: torch.cat(parts) for name, parts in self._parts.items()}
        # Every rank gathers every name some rank holds, in one order, with an empty share where it holds none (a
        # rank without samples, whose test_step may return nothing): a rank that skipped a gather would leave the
        # others waiting. The kinds come from the ranks that have them, in rank order.
        kinds: dict[str, tuple[torch.dtype, torch.Size]] = {}
        for rank in range(trainer.world_size):
            kinds = trainer.strategy.broadcast({n: (r.dtype, r.shape[1:]) for n, r in mine.items()}, src=rank) | kinds
        for name, (dtype, shape) in sorted(kinds.items()):
            rows = mine.get(name, torch.empty(0, *shape, dtype=dtype))
            # torchmetrics' CatMetric: every rank's rows in rank order (contiguous shards: input order), however
            # many each holds; flat, in their dtype (.to resets it), so that an empty share still has its kind
            metric = CatMetric(nan_strategy="disable").to(pl_module.device).set_dtype(dtype)
            metric.update(rows.reshape(-1))
            gathered = metric.compute()  # a list when no rank had a row
            self.results[name] = (rows if isinstance(gathered, list) else gathered).reshape(-1, *shape).cpu()


class PredictionWriter(BasePredictionWriter):
    """Writes ``predict_step``'s rows as ``table(rows, batch, first)`` makes them to ``path``, a batch at a time: a
    header and the batch's CSV rows, ``first`` being the input index of its first row.

    Evaluation shards are contiguous (``TensorBatches(even=False)``): rank 0 writes the header and its own part;
    when predict ends, every other rank sends its part in rank order, a chunk at a time, so the file is the
    same for any number of processes. ``predictions`` then holds what predict prints: every CSV row (in input
    order) up to ``KEPT_ROWS`` of them; past that, the first ``KEPT_ROWS - LAST_ROWS`` rows and the last ``LAST_ROWS``.
    ``total`` counts the rows the file holds.
    """

    def __init__(self, path: Path, table: Table) -> None:
        super().__init__(write_interval="batch")
        self.path, self.table = path, table
        self.header: list[str] = []
        self.predictions: list[list[Any]] = []  # rows of the table, as the file holds them
        self.total = 0
        self._spool: Path | None = None

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # the rows go to the file as they come, not into Lightning's list of every batch's outputs
        trainer.predict_loop.return_predictions = False
        self._spool = self.path.with_name(f".{self.path.name}.part{trainer.global_rank}.{os.getpid()}.tmp")
        self._head_rows, self._tail_rows = [], []  # table rows: this rank's first KEPT_ROWS, its last LAST_ROWS
        self._count, self.header = 0, []
        # this rank's part starts here in input order (evaluation shards are contiguous)
        self._first = getattr(trainer.predict_dataloaders, "first_index", 0)
        self._reported(lambda: self.path.parent.mkdir(parents=True, exist_ok=True))
        self._out = self._reported(lambda: self._spool.open("w", newline=""))
        self._csv = csv.writer(self._out)

    def write_on_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, prediction, batch_indices, batch, batch_idx, dl_idx
    ) -> None:
        rows = prediction.detach().cpu()  # (batch, columns)
        header, table = self.table(rows, batch, self._first + self._count)

        # rank 0's part comes first: the header is its
        self._reported(lambda: self._csv.writerows(table if self.header or trainer.global_rank else [header, *table]))
        self._count += len(rows)
        self.header = header
        self._head_rows += table[: KEPT_ROWS - len(self._head_rows)]
        self._tail_rows = (self._tail_rows + table)[-LAST_ROWS:]

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reported(self._out.close)
        # collectives from here on: every rank calls each of them, in the same order
        mine = (self._count, self._head_rows, self._tail_rows)
        parts = [trainer.strategy.broadcast(mine, src=rank) for rank in range(trainer.world_size)]  # rank order
        self.total = sum(count for count, _, _ in parts)
        heads, tails = sum((head for _, head, _ in parts), []), sum((tail for _, _, tail in parts), [])
        if self.total <= KEPT_ROWS:  # each rank's part is all in its head
            self.predictions = heads
        else:
            self.predictions = heads[: KEPT_ROWS - LAST_ROWS] + tails[-LAST_ROWS:]
        for rank in range(1, trainer.world_size):
            self._send_part(trainer, rank)
        if trainer.is_global_zero:
            atomic_write(self.path, lambda tmp: os.replace(self._spool, tmp))
        self._spool.unlink(missing_ok=True)

    def _send_part(self, trainer: L.Trainer, rank: int) -> None:
        """``rank``'s part of the file, appended to rank 0's in chunks: no rank holds more than a chunk of it.
        A broadcast, not a file on a shared disk: the ranks of several machines have no disk in common."""
        mine = trainer.global_rank == rank
        size = self._spool.stat().st_size if mine else None
        chunks = trainer.strategy.broadcast(-(-size // SEND_BYTES) if mine else None, src=rank)
        source = self._spool.open("rb") if mine else None
        target = self._reported(lambda: self._spool.open("ab")) if trainer.is_global_zero else None
        try:
            for _ in range(chunks):
                chunk = trainer.strategy.broadcast(source.read(SEND_BYTES) if mine else None, src=rank)
                if target is not None:
                    self._reported(lambda data=chunk: target.write(data))
        finally:
            for file in (source, target):
                if file is not None:
                    file.close()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if getattr(self, "_out", None) is not None:
            self._out.close()
        if self._spool is not None:
            self._spool.unlink(missing_ok=True)

    def _reported(self, action: Callable[[], Any]) -> Any:
        """``action()``, with a failed write (a full disk) as ``files.atomic_write`` reports it: the final file
        is never written, and the run's other files are intact."""
        try:
            return action()
        except OSError as error:
            raise WriteError(write_failure(self.path, error), full=disk_full(error)) from None
