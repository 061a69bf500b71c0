"""``Hyperparameters`` as a library user builds it: without hp_metrics, the HPARAMS tab mirrors the model's monitor."""

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fizzlightning.callbacks.dashboards import Hyperparameters
from fizzlightning.data import RegressionDataModule
from fizzlightning.models import Regressor


def test_without_hp_metrics_the_tab_mirrors_the_models_monitor(tmp_path):
    model = Regressor(d_in=2, hidden=4, d_out=1)
    logger = TensorBoardLogger(tmp_path, default_hp_metric=False)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=logger,
        callbacks=[Hyperparameters()],
        enable_progress_bar=False,
        enable_checkpointing=False,
        max_epochs=1,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=RegressionDataModule(n=8, d_in=2, d_out=1, steps_per_epoch=2, seed=0))
    events = EventAccumulator(logger.log_dir).Reload()
    assert model.monitor == "val/loss"
    *_, logged = events.Scalars("hp/val_loss")  # after the NaN that starts the HPARAMS row
    assert logged.value == float(trainer.callback_metrics["val/loss"])
