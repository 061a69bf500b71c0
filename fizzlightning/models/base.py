"""The model contract: what every fizzlightning LightningModule provides, and what the base does for it.

A model subclasses ``TrainingModule`` and provides:

- ``training_step`` returning the step's loss, under automatic or manual optimisation. The base records it
  (no ``self.log`` per step), logs the epoch's ``train/loss`` and stops a diverged run;
- ``monitor`` and ``mode``: the validation metric ``best.ckpt`` is chosen on;
- ``predict_step`` returning one row per sample, and ``test_step`` optionally a dict of per-sample tensors:
  ``commands/reports.py`` turns them, and the logged metrics, into what ``test`` and ``predict`` print and write;
- ``net``: the plain network that ``model.pt`` and ``model.pt2`` hold (``deploy/export.py``);
- ``optimizer`` and ``lr_scheduler`` ``__init__`` arguments passed to ``super().__init__`` and left out of
  ``save_hyperparameters`` (``ignore=INJECTED``); ``parameter_groups`` if the optimizer needs groups.
"""

import math
from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from fizzlightning.data.base import GiB, available_memory
from fizzlightning.errors import ConfigError, DivergedError

# LightningCLI's dependency injection: functions that build the optimizer and scheduler once the parameters
# exist. They stay out of the hyperparameters, which a checkpoint holds as plain values (weights_only=True).
INJECTED = ["optimizer", "lr_scheduler"]
EPOCH_STEPS = "fizzlightning_epoch_steps"  # a checkpoint's record of its epoch's steps so far: their losses, rates

# Every TrainingModule subclass, by class path, once its module is imported: the models that checkpoints
# rebuild, serve serves and export exports. A checkpoint does not get to name what is imported and built.
MODELS: dict[str, type["TrainingModule"]] = {}


def built(key: str, value: Any, make: Callable[[], nn.Module]) -> nn.Module:
    """``make()``, once its weights are known to fit in memory: it is first built on the meta device (no memory),
    and a network whose float32 weights, gradients and optimizer state (4 copies) exceed the available memory is a
    ``ConfigError`` naming ``key``, the setting that sized it, instead of an allocation failure deep in torch."""
    try:
        with torch.device("meta"):
            parameters = sum(p.numel() for p in make().parameters())
    except RuntimeError as error:  # a layer of more bytes than an int64 counts: torch cannot even describe it
        if "overflow" not in str(error):
            raise
        raise ConfigError(f"{key} = {value!r} is not allowed: a layer of these widths is too large to build.") from None
    available, source = available_memory()
    if 16 * parameters > available:
        raise ConfigError(
            f"{key} = {value!r} is not allowed on this machine: the network would have {parameters:,} parameters, "
            f"{16 * parameters / GiB:.1f} GiB with their gradients and optimizer state, and {available / GiB:.1f} GiB "
            f"is available ({source}). Use smaller widths."
        )
    return make()


def class_path(obj: object) -> str:
    """``fizzlightning.models.classifier.FizzBuzzClassifier``: an object's class as a config names it."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def model_class(path: str | None) -> type["TrainingModule"] | None:
    """The model class a checkpoint's ``_class_path`` names (also as 0.2.0 spelled it, without ``.models``), if it is
    one of ``MODELS``."""
    import fizzlightning.models  # noqa: F401  the shipped models register on import

    if not isinstance(path, str):
        return None
    return MODELS.get(path) or MODELS.get(path.replace("fizzlightning.", "fizzlightning.models.", 1))


class TrainingModule(L.LightningModule):
    """Base of the fizzlightning LightningModules.

    Training losses go into a per-epoch buffer on the device instead of ``self.log`` at every step:
    the step stays free of host syncs, and one look at the buffer at the end of the epoch both
    logs the epoch's loss and stops a diverged run before a non-finite model can be checkpointed.
    """

    monitor = "val/loss"  # what best.ckpt is chosen on
    mode = "min"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MODELS[f"{cls.__module__}.{cls.__qualname__}"] = cls

    def __init__(self, optimizer: OptimizerCallable, lr_scheduler: LRSchedulerCallable | None) -> None:
        super().__init__()
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler

    # ---- the optimizer the model owns ------------------------------------------------------------------------------

    def parameter_groups(self) -> Any:
        """What ``optimizer`` is called with: every parameter, or the model's parameter groups."""
        return self.parameters()

    def configure_optimizers(self) -> Any:
        # What LightningCLI's own configure_optimizers returned, so that a config's --lr_scheduler runs as before.
        optimizer = self.optimizer(self.parameter_groups())
        if self.lr_scheduler is None:
            return optimizer
        scheduler = self.lr_scheduler(optimizer)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):  # it steps on a metric
            # the CLI's ReduceLROnPlateau names its metric; torch's, built in a script, steps on the model's
            monitor = getattr(scheduler, "monitor", self.monitor)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": monitor}}
        return [optimizer], [scheduler]

    def on_train_epoch_end(self) -> None:
        trained, self._trained = getattr(self, "_trained", False), False
        if not trained:  # a resume of a checkpoint written at this epoch's end, which Lightning ends again
            return
        # Lightning steps the --lr_scheduler itself only under automatic optimisation (the GAN, the
        # regressor's hand-written backprop): here, once an epoch.
        scheduler = None if self.automatic_optimization else self.lr_schedulers()
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            metric = self.trainer.callback_metrics.get(getattr(scheduler, "monitor", self.monitor))
            if metric is not None:  # the last validation's: none before the first one
                scheduler.step(metric)
        elif scheduler is not None:
            scheduler.step()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # One spelling of the class whoever built it (a config may say fizzlightning.FizzBuzzClassifier, a script
        # records none): what checkpoints.rebuild_model, serve and export read.
        checkpoint.setdefault("hyper_parameters", {})["_class_path"] = class_path(self)
        if getattr(self, "_step_losses", None) is not None:  # a checkpoint written inside an epoch resumes in it
            losses = self._step_losses
            if self.trainer.world_size > 1:  # every rank's own steps, (ranks, steps): Lightning saves on every rank
                losses = self.all_gather(losses)
            checkpoint[EPOCH_STEPS] = {"losses": losses.cpu(), "lrs": list(self._step_lrs)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning resumes a checkpoint written inside an epoch (a stop at max_steps) in that epoch, without
        # on_train_epoch_start: its steps so far are the epoch's, for train/loss and the divergence stop.
        held = checkpoint.get(EPOCH_STEPS)
        if held is not None:
            losses = held["losses"]
            if losses.dim() == 2:  # a DDP run's: this rank's own (rank 0's under another world size: it starts over)
                losses = losses[self.global_rank if len(losses) == self.trainer.world_size else 0]
            self._step_losses, self._step_lrs = losses.to(self.device), list(held["lrs"])
            self._first_step = 0

    def new_callbacks(self, *callbacks: L.Callback) -> list[L.Callback]:
        """For ``configure_callbacks``: those whose type the trainer does not hold yet. A second ``validate`` or
        ``test`` of one Trainer would otherwise replace the first call's, with a note each time."""
        held = {type(callback) for callback in self.trainer.callbacks}
        return [callback for callback in callbacks if type(callback) not in held]

    # ---- the loss of every step --------------------------------------------------------------------------------------

    def on_train_epoch_start(self) -> None:
        self._new_epoch(None)
        # The epoch's draws (shuffle order, fresh samples) are the trainer's epoch's. Lightning passes its loader
        # another count, one ahead after a resume of a checkpoint written at an epoch's end under max_steps.
        sampler = getattr(self.trainer.train_dataloader, "sampler", None)
        if callable(getattr(sampler, "set_epoch", None)):
            sampler.set_epoch(self.current_epoch)

    def _new_epoch(self, first: int | None) -> None:
        """This epoch's buffers, from its batch ``first`` on (None: its first batch here, which is 0 but where
        Lightning resumes inside the epoch without a record of the batches before: an earlier version's checkpoint,
        or another batch size)."""
        self._step_losses = torch.full((self.trainer.num_training_batches,), math.nan, device=self.device)
        # Each step's learning rate, for the divergence message: by the epoch's last on_train_batch_end,
        # Lightning has already stepped epoch-interval schedulers to the next epoch's rate.
        self._step_lrs = [math.nan] * self.trainer.num_training_batches
        self._first_step = first

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        self._trained = True  # a batch of this epoch trains in this process
        held = getattr(self, "_step_losses", None)
        if held is None or len(held) != self.trainer.num_training_batches:  # resumed inside an epoch (see above)
            self._new_epoch(batch_idx)
        if self._first_step is None:
            self._first_step = batch_idx
        self._step_lrs[batch_idx] = self.trainer.optimizers[0].param_groups[0]["lr"]

    def record_step(self, outputs: Any, batch_idx: int) -> None:
        """Keep this step's loss (``outputs``, what ``training_step`` returned) for the epoch's ``train/loss`` and
        the divergence stop. ``on_train_batch_end`` does, after the callbacks' own: a callback that writes a
        checkpoint there calls it first, so that the checkpoint holds this step's loss too."""
        # Lightning hands over what training_step returned: {"loss": ...} under either kind of optimisation.
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if not isinstance(loss, torch.Tensor):
            raise TypeError(
                f"{type(self).__name__}.training_step returned no loss tensor; a fizzlightning model returns the "
                "step's loss (a scalar tensor), which the base records for train/loss and the divergence stop."
            )
        self._step_losses[batch_idx] = loss.detach()

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.record_step(outputs, batch_idx)
        if batch_idx + 1 < self.trainer.num_training_batches:
            return
        first = self._first_step or 0  # the epoch's steps this process knows of
        losses = self._step_losses[first:]
        bad = (~torch.isfinite(losses)).nonzero()  # the one host sync of the epoch
        # every rank stops if any diverged: a rank that raised alone would leave the others waiting
        if self.trainer.strategy.reduce_boolean_decision(len(bad) > 0, all=False):
            if len(bad) == 0:
                raise DivergedError("Training diverged on another process. No checkpoint of it was written.")
            first_index = int(bad[0])
            first_step, lr = self.global_step - len(losses) + first_index, self._step_lrs[first + first_index]
            raise DivergedError(
                f"Training diverged: the loss became {losses[first_index].item()} at step {first_step} "
                f"(epoch {self.current_epoch}) with learning rate {lr:g}. No checkpoint of "
                "the diverged model was written. Lower the learning rate (--optimizer.init_args.lr) and fit again."
            )
        # Reduced here, on every rank at once. With sync_dist=True Lightning reduces when the value is first read,
        # and a progress bar reads it on rank 0 alone: the other ranks never joined that collective.
        mean = self.trainer.strategy.reduce(losses.mean(), reduce_op="mean")
        self.log("train/loss", mean, on_step=False, on_epoch=True)
        self.log_step_losses(losses)

    def log_step_losses(self, losses: torch.Tensor) -> None:
        """Hook for models whose dashboards want every step's loss; called once per epoch with (steps,)."""
