"""``fizzlightning fit | validate | test | predict``: LightningCLI with run directories and safe checkpoints."""

import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger

from fizzlightning import runs
from fizzlightning.base import DivergedError
from fizzlightning.callbacks import GracefulStop
from fizzlightning.checks import ConfigError, require
from fizzlightning.summary import print_fit_summary, print_game, print_test_summary


class SaveRunConfig(SaveConfigCallback):
    """Saves ``fit-config.yaml``, ``test-config.yaml``, ... so that scoring a run keeps the config it was fit with."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.config_filename = f"{getattr(stage, 'value', stage)}-config.yaml"
        super().setup(trainer, pl_module, stage)


class FizzLightningCLI(LightningCLI):
    def __init__(self, args: list[str] | None = None) -> None:
        super().__init__(
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=SaveRunConfig,
            save_config_kwargs={"overwrite": True},
            args=args,
            parser_kwargs={"description": "Train and play the seeds' networks: see README.md."},
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # The data decides the network's input and output widths: a mismatch cannot be configured.
        parser.link_arguments("data.init_args.num_digits", "model.init_args.num_digits")
        parser.link_arguments("data.init_args.d_in", "model.init_args.d_in")
        parser.link_arguments("data.init_args.d_out", "model.init_args.d_out")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        optimizer = config.get("optimizer")
        if self.subcommand == "fit":
            require(
                optimizer is not None,
                "optimizer",
                None,
                "an optimizer, in the config or as --optimizer SGD --optimizer.lr 0.05",
            )
        if optimizer is not None and "lr" in optimizer.init_args:
            lr = optimizer.init_args.lr
            require(
                isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0,
                "optimizer.init_args.lr",
                lr,
                "a finite learning rate > 0",
            )

    # ---- run directories ------------------------------------------------------------------------------------------

    def _experiment_dir(self) -> Path:
        config = self.config[self.subcommand]
        configs = config.get("config") or []
        name = Path(str(configs[-1])).stem if configs else type(self.model).__name__.lower()
        root = Path(config.trainer.default_root_dir or os.getcwd())
        return root / runs.LOG_ROOT / name

    def _resolve_run(self) -> Path:
        """Pick this command's run directory, and the checkpoint it starts from."""
        experiment = self._experiment_dir()
        config = self.config_init[self.subcommand]
        ckpt_path = config.get("ckpt_path")
        if self.subcommand == "fit":
            if ckpt_path == "last":
                last = runs.newest_last_checkpoint(experiment)
                if last is None:
                    raise runs.CheckpointError(
                        f"--ckpt_path last: no last.ckpt under {experiment}/*/checkpoints/ to resume from. "
                        "Run fit without --ckpt_path to start a new run."
                    )
                config["ckpt_path"] = str(last)
                os.environ[runs.RUN_ENV] = last.parent.parent.name  # keep writing into the interrupted run
        elif ckpt_path is None:
            run = runs.newest_finished_run(experiment)
            if run is None:
                raise runs.CheckpointError(
                    f"No trained checkpoint to {self.subcommand}: found no finished run under {experiment}/ "
                    f"(looked for */{runs.FINISHED}). Train one first with `fizzlightning fit "
                    f"{self._config_args()}`, or pass --ckpt_path PATH."
                )
            config["ckpt_path"] = str(runs.finished_checkpoint(run))
            os.environ[runs.RUN_ENV] = run.name  # its test scores join the run's dashboards
        if config.get("ckpt_path"):
            checkpoint = runs.load_checkpoint(config["ckpt_path"])
            runs.check_checkpoint_fits(checkpoint, self.model, config["ckpt_path"])
        config["weights_only"] = True
        run_dir = experiment / runs.new_run_name()
        if self.subcommand == "fit":
            self._check_writable(run_dir)
        return run_dir

    @staticmethod
    def _check_writable(run_dir: Path) -> None:
        try:
            runs.atomic_write(run_dir / ".write-test", lambda tmp: tmp.write_text("ok"))
            (run_dir / ".write-test").unlink()
        except OSError as error:
            raise ConfigError(
                f"Cannot write logs and checkpoints to {run_dir}: {error.strerror}. "
                "Choose a writable directory with --trainer.default_root_dir DIR."
            ) from None

    def _config_args(self) -> str:
        configs = self.config[self.subcommand].get("config") or []
        return " ".join(f"--config {c}" for c in configs)

    def instantiate_trainer(self, **kwargs: Any):
        self.run_dir = self._resolve_run()
        trainer_config = self.config_init[self.subcommand]["trainer"]
        callbacks = list(trainer_config.get("callbacks") or [])
        if trainer_config.get("enable_progress_bar") is not False:
            callbacks.append(TQDMProgressBar(refresh_rate=10))  # redrawing at every step costs more than a step
        if self.subcommand == "fit":
            # "last" is saved every epoch; Lightning's save_last only follows saves of a new best
            self.graceful_stop = GracefulStop()
            checkpoints = runs.checkpoint_dir(self.run_dir)
            self.best = ModelCheckpoint(
                checkpoints, "best", monitor=self.model.monitor, mode=self.model.mode, enable_version_counter=False
            )
            callbacks += [
                self.graceful_stop,
                self.best,
                ModelCheckpoint(checkpoints, "last", enable_version_counter=False),
            ]
        if trainer_config.get("logger") in (None, True):
            kwargs["logger"] = TensorBoardLogger(
                self.run_dir.parent.parent, self.run_dir.parent.name, self.run_dir.name, default_hp_metric=False
            )
        kwargs["callbacks"] = callbacks
        kwargs["plugins"] = [*(trainer_config.get("plugins") or []), runs.AtomicCheckpointIO()]
        kwargs.setdefault("enable_model_summary", False)
        return super().instantiate_trainer(**kwargs)

    # ---- subcommands ----------------------------------------------------------------------------------------------

    def fit(self, model, datamodule=None, ckpt_path=None, weights_only=None, **kwargs: Any) -> None:
        start = time.perf_counter()
        self.trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        if not self.trainer.is_global_zero:
            return
        stopped_by = self.graceful_stop.signal_received
        best = Path(self.best.best_model_path) if self.best.best_model_path else None
        if stopped_by is None and best is not None:
            runs.export_network(best, self.run_dir / "model.pt")
            score = self.best.best_model_score
            runs.mark_finished(
                self.run_dir,
                {
                    "best_checkpoint": str(best),
                    "monitor": self.best.monitor,
                    "best_score": None if score is None else float(score),
                    "epochs": self.trainer.current_epoch,
                    "global_step": self.trainer.global_step,
                    "seconds": round(time.perf_counter() - start, 3),
                },
            )
        print_fit_summary(self, best, time.perf_counter() - start)
        if stopped_by is not None:
            raise SystemExit(128 + stopped_by)

    def test(self, model, datamodule=None, ckpt_path=None, weights_only=None, **kwargs: Any) -> None:
        self.trainer.test(model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False, weights_only=True)
        if self.trainer.is_global_zero:
            print_test_summary(model, self.trainer.callback_metrics, ckpt_path)

    def predict(self, model, datamodule=None, ckpt_path=None, weights_only=None, **kwargs: Any) -> None:
        predictions = self.trainer.predict(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        if self.trainer.is_global_zero:
            print_game(predictions, ckpt_path)


def _quiet_lightning() -> None:
    """A normal run shows the progress bar and results, not Lightning's advice."""
    warnings.filterwarnings("ignore", message=".*(does not have many workers|smaller than the logging interval).*")
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    # fizzlightning restores its own callbacks' state; Lightning's reminder does not apply
    warnings.filterwarnings("ignore", message=".*callbacks used to create the checkpoint need to be provided.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*")
    import logging

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``fizzlightning`` console script and of ``python -m fizzlightning``."""
    if "LOCAL_RANK" not in os.environ:  # a fresh command, not one of DDP's worker processes: a new run name
        os.environ.pop(runs.RUN_ENV, None)
    _quiet_lightning()
    try:
        FizzLightningCLI(args=args)
    except (ConfigError, DivergedError) as error:
        print(f"fizzlightning: error: {error}", file=sys.stderr)
        raise SystemExit(2 if isinstance(error, ConfigError) else 1) from None


if __name__ == "__main__":
    main()
