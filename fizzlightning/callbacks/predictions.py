"""``predict``'s output file: every rank's rows, merged in input order, as a CSV table in the run directory."""

import csv
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from fizzlightning.files import atomic_write


class PredictionWriter(BasePredictionWriter):
    """Writes ``predict_step``'s rows as the model's ``prediction_table`` to ``path`` when predict ends.

    Evaluation shards are contiguous (``TensorBatches(even=False)``), so the ranks' rows gathered in rank
    order are the rows in input order: the file is the same for any number of processes.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(write_interval="epoch")
        self.path = path

    def write_on_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, predictions, batch_indices) -> None:
        self.predictions = pl_module.gather_rows(torch.cat(predictions)).cpu()  # a collective: every rank calls it
        if trainer.is_global_zero:
            header, rows = pl_module.prediction_table(self.predictions)

            def write(tmp: Path) -> None:
                with tmp.open("w", newline="") as out:
                    writer = csv.writer(out)
                    writer.writerow(header)
                    writer.writerows(rows)

            atomic_write(self.path, write)
