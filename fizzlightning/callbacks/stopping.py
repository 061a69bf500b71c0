"""``StreakStopping``: stop once validation has vouched for the model several epochs in a row.

One perfect validation epoch is weak evidence: a net that still misses 1 % of the numbers plays 200 held-out
numbers right about one time in eight. Asking for a streak measured better on numbers held out from both
training and validation (docs/studies.md, "How the ReLU recipe was chosen").
"""

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

from fizzlightning.errors import require


class StreakStopping(L.Callback):
    """Stops training once ``monitor`` has reached ``threshold`` in ``streak`` validations in a row.

    Args:
        monitor: The validation metric, e.g. ``val/acc``.
        threshold: The value to reach: at least it (``mode: max``) or at most it (``mode: min``).
        streak: How many validations in a row must reach it.
        mode: ``max`` for a score, ``min`` for a loss.
    """

    def __init__(self, monitor: str = "val/acc", threshold: float = 1.0, streak: int = 2, mode: str = "max") -> None:
        require(streak >= 1, "StreakStopping.streak", streak, "an integer of at least 1")
        require(mode in ("max", "min"), "StreakStopping.mode", mode, "'max' or 'min'")
        self.monitor, self.threshold, self.streak, self.mode = monitor, threshold, streak, mode
        self.count = 0  # validations in a row that reached the threshold, up to now

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        reached = float(value) >= self.threshold if self.mode == "max" else float(value) <= self.threshold
        self.count = self.count + 1 if reached else 0  # every rank sees the same reduced metric
        if self.count >= self.streak:
            trainer.should_stop = True
            rank_zero_info(f"{self.monitor} reached {self.threshold} in {self.streak} validations in a row: stopping.")

    def state_dict(self) -> dict:
        return {"count": self.count}

    def load_state_dict(self, state_dict: dict) -> None:
        self.count = state_dict["count"]
