"""What every fizzlightning model shares: cheap per-step loss bookkeeping, the divergence stop, HPARAMS metrics."""

import math
import os
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger

_SCHEDULER_STATE = {"base_lrs", "last_epoch", "verbose"}  # a scheduler's running state, not its settings


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite; the CLI prints the message and exits non-zero."""


class TrainingModule(L.LightningModule):
    """Base of the fizzlightning LightningModules.

    Training losses go into a per-epoch buffer on the device instead of ``self.log`` at every step:
    the step stays free of host syncs, and one look at the buffer at the end of the epoch both
    logs the epoch's loss and stops a diverged run before a non-finite model can be checkpointed.
    """

    monitor = "val/loss"  # what ModelCheckpoint keeps the best of
    mode = "min"
    hp_metrics = {"hp/val_loss": "val/loss"}  # HPARAMS tab metric -> the logged metric it mirrors

    def test_report(self) -> str:
        """What ``fizzlightning test`` prints under the checkpoint line: every ``test/`` metric.

        Called on rank 0 after ``trainer.test``. Metrics are already reduced over all ranks (torchmetrics
        and ``sync_dist``); a model that reports per-sample results gathers them with ``gather_rows``.
        """
        metrics = self.trainer.callback_metrics
        return "\n".join(
            f"{key} = {float(value):.6g}" for key, value in sorted(metrics.items()) if key.startswith("test/")
        )

    def format_predictions(self, predictions: torch.Tensor) -> str:
        """What ``fizzlightning predict`` prints: ``predictions`` holds every ``predict_step`` output row, of every
        batch and rank, in the order of the predict set."""
        return f"Predictions: tensor of shape {tuple(predictions.shape)}\n{predictions}"

    def gather_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Every rank's ``rows`` concatenated in rank order (evaluation shards are contiguous, so that is input order).

        Ranks may hold different numbers of rows (an evaluation set is split without padding, so that each
        sample counts once); Lightning's ``all_gather`` needs equal shapes, so rows are padded for the transfer.
        """
        if self.trainer.world_size == 1:
            return rows
        rows = rows.to(self.device)  # NCCL gathers device tensors only
        counts = self.all_gather(torch.tensor(len(rows), device=self.device))  # (world_size,)
        padded = torch.zeros((int(counts.max()), *rows.shape[1:]), dtype=rows.dtype, device=self.device)
        padded[: len(rows)] = rows
        gathered = self.all_gather(padded)  # (world_size, max_count, ...)
        return torch.cat([gathered[rank, :count] for rank, count in enumerate(counts.tolist())])

    def on_predict_epoch_end(self) -> None:
        # While the process group is still up: every rank's outputs, for rank 0 to print in input order.
        self.predictions = self.gather_rows(torch.cat(self.trainer.predict_loop.predictions))

    def setup(self, stage: str) -> None:
        # The lessons' networks are so small that splitting an op over CPU threads costs more than the op:
        # on a busy 2-core machine a FizzBuzz step took 10x longer with 2 threads than with 1.
        if self.trainer.strategy.root_device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(1)

    def on_train_epoch_start(self) -> None:
        self._step_losses = torch.full((self.trainer.num_training_batches,), math.nan, device=self.device)
        # Each step's learning rate, for the divergence message: by the epoch's last on_train_batch_end,
        # Lightning has already stepped epoch-interval schedulers to the next epoch's rate.
        self._step_lrs = [math.nan] * self.trainer.num_training_batches

    def record_loss(self, loss: torch.Tensor, batch_idx: int) -> None:
        self._step_losses[batch_idx] = loss.detach()

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        self._step_lrs[batch_idx] = self.trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if batch_idx + 1 == self.trainer.num_training_batches:
            self._finish_epoch_losses(batch_idx + 1)

    def _finish_epoch_losses(self, num_steps: int) -> None:
        losses = self._step_losses[:num_steps]
        bad = (~torch.isfinite(losses)).nonzero()  # the one host sync of the epoch
        # every rank stops if any diverged: a rank that raised alone would leave the others waiting
        if self.trainer.strategy.reduce_boolean_decision(len(bad) > 0, all=False):
            if len(bad) == 0:
                raise DivergedError("Training diverged on another process. No checkpoint of it was written.")
            first_index = int(bad[0])
            first_step = self.global_step - num_steps + first_index
            raise DivergedError(
                f"Training diverged: the loss became {losses[first_index].item()} at step {first_step} "
                f"(epoch {self.current_epoch}) with learning rate {self._step_lrs[first_index]:g}. No checkpoint of "
                "the diverged model was written. Lower the learning rate (--optimizer.init_args.lr) and fit again."
            )
        self.log("train/loss", losses.mean(), on_step=False, on_epoch=True, sync_dist=True)
        self.log_step_losses(losses)

    def log_step_losses(self, losses: torch.Tensor) -> None:
        """Hook for models whose dashboards want every step's loss; written once per epoch."""

    def on_train_start(self) -> None:
        if isinstance(self.logger, TensorBoardLogger):
            self.logger.log_hyperparams(self._settings(), {key: math.nan for key in self.hp_metrics})

    def _settings(self) -> dict[str, Any]:
        """Every setting that changes a run's result, for the HPARAMS tab: two runs that differ show where.

        The model's and data's arguments, each optimizer's class and arguments (every key of its param
        group: lr, weight_decay, momentum, betas, ...), each LR scheduler's, and the trainer's own.
        """
        settings = {k: v for k, v in self.hparams.items() if not k.startswith("_")}
        if self.trainer.datamodule is not None:
            data = self.trainer.datamodule.hparams
            settings.update({f"data/{k}": v for k, v in data.items() if not k.startswith("_")})
        optimizers = self.trainer.optimizers
        for index, optimizer in enumerate(optimizers):
            prefix = "optimizer" if len(optimizers) == 1 else f"optimizer{index}"
            settings[prefix] = type(optimizer).__name__
            group = optimizer.param_groups[0]
            settings.update({f"{prefix}/{k}": v for k, v in group.items() if k not in ("params", "initial_lr")})
            if "initial_lr" in group:  # a scheduler has moved lr; the setting is where it started
                settings[f"{prefix}/lr"] = group["initial_lr"]
        for index, config in enumerate(self.trainer.lr_scheduler_configs):
            prefix = "lr_scheduler" if len(self.trainer.lr_scheduler_configs) == 1 else f"lr_scheduler{index}"
            settings[prefix] = type(config.scheduler).__name__
            state = config.scheduler.state_dict()
            kept = {k: v for k, v in state.items() if k not in _SCHEDULER_STATE and not k.startswith("_")}
            settings.update({f"{prefix}/{k}": v for k, v in kept.items()})
            settings[f"{prefix}/interval"] = config.interval
        trainer = self.trainer
        settings.update(
            {
                "trainer/max_epochs": trainer.max_epochs,
                "trainer/max_steps": trainer.max_steps,
                "trainer/precision": trainer.precision,
                "trainer/accumulate_grad_batches": trainer.accumulate_grad_batches,
                "trainer/gradient_clip_val": trainer.gradient_clip_val,
                "trainer/world_size": trainer.world_size,
                "seed": os.environ.get("PL_GLOBAL_SEED"),
            }
        )
        return {k: str(v) if isinstance(v, (tuple, list)) or v is None else v for k, v in settings.items()}

    def on_validation_end(self) -> None:
        self._log_hp_metrics()

    def on_test_end(self) -> None:
        self._log_hp_metrics()

    def _log_hp_metrics(self) -> None:
        # Copies of the epoch's metrics under the names the HPARAMS tab was told about in on_train_start.
        if isinstance(self.logger, TensorBoardLogger) and not self.trainer.sanity_checking:
            logged = self.trainer.callback_metrics
            metrics = {hp: logged[key] for hp, key in self.hp_metrics.items() if key in logged}
            self.logger.log_metrics(metrics, self.global_step)
