"""Run by tests/callbacks/test_test_outputs.py: a 2-process CPU DDP test of one number, so that rank 1 holds no
sample; each rank saves what ``TestOutputs`` gathered to ``OUT/rank<r>.pt``. ``skip`` as argv[2]: the model's
``test_step`` returns nothing for a batch without samples, as a user's may."""

import sys
from pathlib import Path

import lightning as L
import torch

from fizzlightning.callbacks.predictions import TestOutputs
from fizzlightning.data import FizzBuzzDataModule
from fizzlightning.models import FizzBuzzClassifier


class OneNumber(FizzBuzzDataModule):
    def setup(self, stage: str) -> None:
        super().setup(stage)
        self.test_numbers = self.test_numbers[:1]


class SkipsEmpty(FizzBuzzClassifier):
    def test_step(self, batch, batch_idx):
        results = super().test_step(batch, batch_idx)
        return results if len(batch[0]) else None


if __name__ == "__main__":
    out, model = Path(sys.argv[1]), (SkipsEmpty if sys.argv[2:] == ["skip"] else FizzBuzzClassifier)
    L.seed_everything(0)
    outputs = TestOutputs(("number", "predicted", "truth"))
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        logger=False,
        callbacks=[outputs],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.test(model(num_digits=8, hidden=[4]), datamodule=OneNumber(num_digits=8, seed=0), verbose=False)
    torch.save(outputs.results, out / f"rank{trainer.global_rank}.pt")
