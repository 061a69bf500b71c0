"""What a run shows besides its metrics, on every logger: the pictures, the HPARAMS settings, every step's loss.

The callbacks decide when to draw (``CurvePlot`` here, a model's own picture beside the model);
``fizzlightning.lessons.pictures`` draws. Each picture goes to each of the trainer's loggers through that logger's
own call (TensorBoard ``add_image``, W&B ``log_image``, MLflow ``log_image``); a logger that cannot show pictures
(CSV) is named once per run, on stderr. Only rank 0 logs.
"""

import math
import os
import sys
import weakref
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger

from fizzlightning.errors import require
from fizzlightning.lessons.pictures import render_curve

_SCHEDULER_STATE = {"base_lrs", "last_epoch", "verbose"}  # a scheduler's running state, not its settings
_noted: "weakref.WeakKeyDictionary[Logger, set[str]]" = weakref.WeakKeyDictionary()


def loggers(trainer: L.Trainer) -> list[Logger]:
    """The loggers this process writes to: all of them on rank 0, none on the others."""
    return list(trainer.loggers) if trainer.is_global_zero else []


def log_image(trainer: L.Trainer, tag: str, image: np.ndarray, step: int) -> None:
    """Send an RGB picture (3, height, width) in [0, 1] to every logger that can show it."""
    hwc = np.ascontiguousarray(image.transpose(1, 2, 0))
    for logger in loggers(trainer):
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(tag, image, step)
        elif isinstance(logger, WandbLogger):
            logger.log_image(key=tag, images=[hwc], step=step)
        elif isinstance(logger, MLFlowLogger):
            logger.experiment.log_image(logger.run_id, hwc, key=tag.replace("/", "_"), step=step)
        elif (group := tag.split("/")[0]) not in _noted.setdefault(logger, set()):  # once a run, not every epoch
            _noted[logger].add(group)
            print(
                f"fizzlightning: {type(logger).__name__} cannot show pictures, so it gets no {group}/ images.",
                file=sys.stderr,
                flush=True,
            )


def log_step_scalars(trainer: L.Trainer, first_step: int, series: dict[str, list[float]]) -> None:
    """Every step's value of each series, written to every logger once per epoch."""
    for logger in loggers(trainer):
        for offset, values in enumerate(zip(*series.values())):
            logger.log_metrics(dict(zip(series, values)), first_step + offset)


def progress_bars(callbacks: list[L.Callback], enabled: bool | None) -> list[L.Callback]:
    """A user's own progress bar replaces the app's; ``enable_progress_bar: false`` turns every bar off."""
    bars = [c for c in callbacks if isinstance(c, ProgressBar)]
    if enabled is False:
        return [c for c in callbacks if c not in bars]
    return callbacks if bars else [*callbacks, TQDMProgressBar(refresh_rate=50)]  # a redraw costs about a step


class Hyperparameters(L.Callback):
    """HPARAMS: every setting that changes a run's result, sent to every logger when training starts.

    TensorBoard's HPARAMS tab also gets ``hp_metrics`` (``hp/val_acc``, ...: each mirrors a logged metric,
    ``val/acc``) after each validation and test: real scores instead of Lightning's default ``hp_metric`` of -1.
    Without them, the model's ``monitor`` (the metric ``best.ckpt`` is chosen on), if it has one.
    """

    def __init__(self, hp_metrics: dict[str, str] | None = None) -> None:
        self.hp_metrics = hp_metrics

    def _hp_metrics(self, pl_module: L.LightningModule) -> dict[str, str]:
        if self.hp_metrics is not None:
            return self.hp_metrics
        monitor = getattr(pl_module, "monitor", None)
        return mirrored(monitor) if isinstance(monitor, str) else {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        settings = run_settings(trainer, pl_module)
        for logger in loggers(trainer):
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(settings, {key: math.nan for key in self._hp_metrics(pl_module)})
            else:
                logger.log_hyperparams(settings)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logged = trainer.callback_metrics
        metrics = {hp: logged[key] for hp, key in self._hp_metrics(pl_module).items() if key in logged}
        for logger in loggers(trainer) if metrics and not trainer.sanity_checking else ():
            if isinstance(logger, TensorBoardLogger):
                logger.log_metrics(metrics, trainer.global_step)

    on_test_end = on_validation_end


def mirrored(metric: str) -> dict[str, str]:
    """The HPARAMS tab's name for a logged metric (``hp/val_acc`` for ``val/acc``), mapped to it."""
    return {f"hp/{metric.replace('/', '_')}": metric}


def run_settings(trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
    """The model's and data's arguments, each optimizer's class and every key of its param group (lr,
    weight_decay, momentum, betas, ...), each LR scheduler's, the trainer's own, and the seed."""
    settings = {k: v for k, v in pl_module.hparams.items() if not k.startswith("_")}
    if trainer.datamodule is not None:
        data = trainer.datamodule.hparams
        settings.update({f"data/{k}": v for k, v in data.items() if not k.startswith("_")})
    for index, optimizer in enumerate(trainer.optimizers):
        prefix = "optimizer" if len(trainer.optimizers) == 1 else f"optimizer{index}"
        settings[f"{prefix}/class"] = type(optimizer).__name__  # a name of its own: MLflow keeps params as files
        group = optimizer.param_groups[0]
        settings.update({f"{prefix}/{k}": v for k, v in group.items() if k not in ("params", "initial_lr")})
        if "initial_lr" in group:  # a scheduler has moved lr; the setting is where it started
            settings[f"{prefix}/lr"] = group["initial_lr"]
    for index, config in enumerate(trainer.lr_scheduler_configs):
        prefix = "lr_scheduler" if len(trainer.lr_scheduler_configs) == 1 else f"lr_scheduler{index}"
        settings[f"{prefix}/class"] = type(config.scheduler).__name__
        state = config.scheduler.state_dict()
        kept = {k: v for k, v in state.items() if k not in _SCHEDULER_STATE and not k.startswith("_")}
        settings.update({f"{prefix}/{k}": v for k, v in kept.items()})
        settings[f"{prefix}/interval"] = config.interval
    settings.update(
        {
            "trainer/max_epochs": trainer.max_epochs,
            "trainer/max_steps": trainer.max_steps,
            "trainer/precision": trainer.precision,
            "trainer/accumulate_grad_batches": trainer.accumulate_grad_batches,
            "trainer/gradient_clip_val": trainer.gradient_clip_val,
            "trainer/world_size": trainer.world_size,
            "seed_everything": os.environ.get("PL_GLOBAL_SEED"),  # the data module logs its own "seed" argument
        }
    )
    return {k: str(v) if isinstance(v, (tuple, list)) or v is None else v for k, v in settings.items()}


def last_epoch(trainer: L.Trainer) -> bool:
    """This validation ends the run: the epoch cap, or a stopping callback that ran before (``on_validation_end``
    runs the trainer's callbacks, EarlyStopping among them, before the model's own) has decided to stop."""
    return trainer.current_epoch + 1 == trainer.max_epochs or trainer.should_stop


class CurvePlot(L.Callback):
    """``curve/fit`` after validation: the data as dots and the net's current curve as a red line.

    For datamodules with one input and one output feature held as tensors ``x`` and ``y`` of shape (n, 1),
    such as ``CurveDataModule``; the slider under the image steps through the fit as training goes on.

    Args:
        every_n_epochs: Draw the picture every this many epochs, and after the last.
        points: Inputs the fitted curve is evaluated at, evenly spaced over the data's x range.
    """

    def __init__(self, every_n_epochs: int = 5, points: int = 200) -> None:
        require(every_n_epochs > 0, "CurvePlot.every_n_epochs", every_n_epochs, "a positive integer")
        require(points >= 2, "CurvePlot.points", points, "an integer of at least 2")
        self.every_n_epochs = every_n_epochs
        self.points = points

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        data = trainer.datamodule
        x, y = getattr(data, "x", None), getattr(data, "y", None)
        require(
            isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.shape[1:] == y.shape[1:] == (1,),
            "trainer.callbacks: CurvePlot",
            type(data).__name__,
            "a datamodule with one input and one output feature, such as fizzlightning.data.CurveDataModule",
        )
        self.x, self.y = x.cpu().numpy()[:, 0], y.cpu().numpy()[:, 0]
        margin = 0.1 * (self.y.max() - self.y.min())
        self.y_range = (float(self.y.min() - margin), float(self.y.max() + margin))
        self.x_fit = torch.linspace(float(x.min()), float(x.max()), self.points).unsqueeze(1)  # (points, 1)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not loggers(trainer):
            return
        if trainer.current_epoch % self.every_n_epochs and not last_epoch(trainer):
            return
        with torch.no_grad():
            y_fit = pl_module(self.x_fit.to(pl_module.device)).cpu().numpy()[:, 0]
        image = render_curve(self.x, self.y, self.x_fit.numpy()[:, 0], y_fit, self.y_range)
        log_image(trainer, "curve/fit", image, trainer.global_step)
