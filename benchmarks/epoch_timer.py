"""A callback that records how long each training epoch takes, for the benchmark."""

import json
import os
import time

import lightning as L

OUT_ENV = "FIZZLIGHTNING_EPOCH_TIMES"  # where a ``fizzlightning fit`` subprocess writes its epoch times


class EpochTimer(L.Callback):
    """Wall time from one training epoch's start to the next's: steps, validation, checkpoints, logging, bar.

    Given to ``fizzlightning fit`` as ``--trainer.callbacks+=epoch_timer.EpochTimer``, it writes the
    times as JSON to the file named by ``$FIZZLIGHTNING_EPOCH_TIMES`` when fit ends.
    """

    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.starts.append(time.perf_counter())

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if OUT_ENV in os.environ:
            with open(os.environ[OUT_ENV], "w") as out:
                json.dump(self.epoch_seconds, out)

    @staticmethod
    def read(path) -> list[float]:
        """The epoch times a ``fizzlightning fit`` subprocess wrote to ``path``."""
        with open(path) as times:
            return json.load(times)

    @property
    def epoch_seconds(self) -> list[float]:
        # The last epoch has no next start; the end of fit is not comparable (it writes the summary).
        return [b - a for a, b in zip(self.starts, self.starts[1:])]
