"""``fizzlightning fit | validate | test | predict``: LightningCLI with run directories and safe checkpoints."""

import logging
import math
import os
import random
import shlex
import signal
import sys
import time
import warnings
from argparse import ArgumentError
from pathlib import Path
from typing import Any, NoReturn

import lightning as L
import torch
import yaml
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.model_helpers import is_overridden

from fizzlightning import ranks, runs
from fizzlightning.base import DivergedError
from fizzlightning.callbacks import RunCheckpoint
from fizzlightning.checks import ConfigError, argument_message, config_error_in, require
from fizzlightning.summary import print_fit_summary


class FizzLightningCLI(LightningCLI):
    def __init__(self, args: list[str] | None = None) -> None:
        self.argv = sys.argv[1:] if args is None else list(args)
        self._start_error: runs.CheckpointError | None = None
        super().__init__(
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=None,  # instantiate_trainer saves it, without a callback's per-step cost
            # defaults, not overrides: whatever the user sets wins
            trainer_defaults={"enable_model_summary": False},
            args=args,
            parser_kwargs={"description": "Train, test and play the PyTorch tutorial's two networks: see README.md."},
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        # Options fizzlightning cannot honour are not offered: checkpoints always load with weights_only=True,
        # and predict always collects what it prints.
        return {
            name: skipped | {"weights_only"} | ({"return_predictions"} if name == "predict" else set())
            for name, skipped in LightningCLI.subcommands().items()
        }

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand == "test":
            parser.set_defaults(verbose=False)  # test prints its own report; --verbose true adds Lightning's table
        return parser

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        # Parse errors are raised, so that main() prints them as one paragraph instead of usage + error.
        return super().init_parser(**kwargs, exit_on_error=False)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # The data decides the network's input and output widths: a mismatch cannot be configured. Linked on
        # instantiation, so that the datamodule is built (and has checked them) before the model.
        for name in ("num_digits", "d_in", "d_out"):  # jsonargparse skips a link whose datamodule lacks the attribute
            parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        optimizer = self.config[self.subcommand].get("optimizer")
        if optimizer is not None and "lr" in optimizer.init_args:
            lr = optimizer.init_args.lr
            require(
                isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0,
                "optimizer.init_args.lr",
                lr,
                "a finite learning rate > 0",
            )

    def _parse_ckpt_path(self) -> None:
        # LightningCLI would replace the config's model arguments by the checkpoint's hyperparameters, which
        # hides a checkpoint of another network. Here the config decides the network; instantiate_trainer
        # refuses a checkpoint that does not fit it, saying what each one is.
        subcommand = self.config.subcommand
        config = self.config[subcommand]
        root = Path(config.trainer.default_root_dir or os.getcwd())
        self.experiment = runs.experiment_dir(
            root, [str(c) for c in config.get("config") or []], config.model.class_path
        )
        fit_command = f"fizzlightning fit {self._config_args(subcommand)}"
        try:
            self.start = runs.find_start(subcommand, self.experiment, config.get("ckpt_path"), fit_command)
        except runs.CheckpointError as error:
            # raised once the config has been checked: a config mistake is the first thing to fix
            self.start, self._start_error = runs.Start(), error
        config["ckpt_path"] = self.start.ckpt_path

    def _set_seed(self) -> None:
        # The seed makes the validation split and the shuffle order, so a run has exactly one: a checkpoint's
        # run keeps its own, and an unseeded run draws one, shared by every rank and recorded in its config.
        config = self.config[self.subcommand]
        seed = config.seed_everything
        if self.start.seed is not None:
            seed = self.start.seed
        elif seed is None or isinstance(seed, bool):
            seed = int(ranks.agree("seed", lambda: str(random.SystemRandom().randrange(2**31))))
        config["seed_everything"] = seed_everything(seed, workers=True, verbose=False)

    # ---- run directories ------------------------------------------------------------------------------------------

    def _run_dir(self) -> Path:
        name = self.start.run_name or ranks.agree("run", lambda: runs.new_run_name(self.experiment))
        return self.experiment / name

    def _check_start(self) -> None:
        if self._start_error is not None:
            raise self._start_error
        if self.start.ckpt_path:
            checkpoint = runs.load_checkpoint(self.start.ckpt_path)
            runs.check_checkpoint_fits(checkpoint, self.model, self.start.ckpt_path)
        if self.subcommand == "fit":
            # a model that builds its own optimizers (the GAN's two) needs none from the config
            require(
                self.config[self.subcommand].get("optimizer") is not None
                or is_overridden("configure_optimizers", self.model, L.LightningModule),
                "optimizer",
                None,
                "an optimizer, in the config or as --optimizer SGD --optimizer.lr 0.05",
            )

    @staticmethod
    def _check_writable(run_dir: Path) -> None:
        probe = run_dir / f".write-test-{os.getpid()}"  # one per process: ranks that share a disk never collide
        try:
            runs.atomic_write(probe, lambda tmp: tmp.write_text("ok"))
            probe.unlink()
        except OSError as error:
            raise ConfigError(
                f"Cannot write logs and checkpoints to {run_dir}: {error.strerror}. "
                "Choose a writable directory with --trainer.default_root_dir DIR."
            ) from None

    def _config_args(self, subcommand: str | None = None) -> str:
        """This command's arguments less ``--ckpt_path``: what a resume, or test after fit, must repeat."""
        subcommand = subcommand or self.subcommand
        argv = self.argv[self.argv.index(subcommand) + 1 :] if subcommand in self.argv else self.argv
        kept = []
        for previous, arg in zip([None, *argv], argv):
            if not (arg == "--ckpt_path" or previous == "--ckpt_path" or arg.startswith("--ckpt_path=")):
                kept.append(arg)
        return shlex.join(kept)

    def instantiate_trainer(self, **kwargs: Any):
        self._check_start()
        self.run_dir = self._run_dir()
        if self.subcommand == "fit" and rank_zero_only.rank == 0:
            self._check_writable(self.run_dir)
            runs.remove_stale_temporaries(self.run_dir)
        trainer_config = self.config_init[self.subcommand]["trainer"]
        callbacks = list(trainer_config.get("callbacks") or [])
        if trainer_config.get("enable_progress_bar") is not False:
            callbacks.append(TQDMProgressBar(refresh_rate=50))  # a redraw costs about a FizzBuzz step
        if self.subcommand == "fit":
            self.checkpoint = RunCheckpoint(runs.checkpoint_dir(self.run_dir), self.model.monitor, self.model.mode)
            callbacks.append(self.checkpoint)
        else:
            # only fit writes checkpoints; Lightning's default one would warn that a loaded checkpoint's dirpath moved
            kwargs["enable_checkpointing"] = False
        if trainer_config.get("logger") in (None, True):
            kwargs["logger"] = TensorBoardLogger(
                self.run_dir.parent.parent, self.run_dir.parent.name, self.run_dir.name, default_hp_metric=False
            )
        kwargs["callbacks"] = callbacks
        kwargs["plugins"] = [*(trainer_config.get("plugins") or []), runs.AtomicCheckpointIO()]
        trainer = super().instantiate_trainer(**kwargs)
        if trainer.is_global_zero:
            # One file per command (fit-config.yaml, test-config.yaml): scoring a run keeps the config it was fit with.
            self.run_dir.mkdir(parents=True, exist_ok=True)
            config_file = self.run_dir / f"{self.subcommand}-config.yaml"  # fit's is runs.FIT_CONFIG
            self._parser(self.subcommand).save(
                self.config[self.subcommand], config_file, skip_none=False, overwrite=True
            )
        return trainer

    # ---- subcommands ----------------------------------------------------------------------------------------------

    def fit(self, model, datamodule=None, ckpt_path=None, **kwargs: Any) -> None:
        start = time.perf_counter()
        try:
            self.trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        except (SystemExit, KeyboardInterrupt):  # a second Ctrl-C: Lightning exits mid-epoch, or it hit teardown
            if self.checkpoint.signal_received is None:
                raise
            _ignore_signals()
            resume = f"fizzlightning fit {self._config_args()} --ckpt_path last"
            print(f"\nStopped at once; last.ckpt holds the last finished epoch. Resume with: {resume}", flush=True)
            raise SystemExit(128 + signal.SIGINT) from None
        stopped_by = self.checkpoint.signal_received
        if stopped_by is not None:
            _ignore_signals()
        if not self.trainer.is_global_zero:
            return
        # the best epoch on validation; with no validation at all (limit_val_batches: 0) the last epoch
        chosen = self.checkpoint.best_model_path or self.checkpoint.last_model_path
        finished = stopped_by is None and bool(chosen)
        if finished:
            runs.export_network(Path(chosen), self.run_dir / "model.pt")
            score = self.checkpoint.best_model_score
            runs.mark_finished(
                self.run_dir,
                {
                    "best_checkpoint": chosen,
                    "monitor": self.checkpoint.monitor if self.checkpoint.best_model_path else None,
                    "best_score": None if score is None else float(score),
                    "epochs": self.trainer.current_epoch,
                    "global_step": self.trainer.global_step,
                    "seconds": round(time.perf_counter() - start, 3),
                    "seed": self.config[self.subcommand]["seed_everything"],
                },
            )
        print_fit_summary(self, Path(chosen) if chosen else None, finished, time.perf_counter() - start)
        if stopped_by is not None:
            raise SystemExit(128 + stopped_by)

    def test(self, model, datamodule=None, ckpt_path=None, verbose: bool = False, **kwargs: Any) -> None:
        self.trainer.test(model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=verbose, weights_only=True)
        if self.trainer.is_global_zero:
            print(f"\nCheckpoint: {ckpt_path}\n{model.test_report()}", flush=True)

    def predict(self, model, datamodule=None, ckpt_path=None, **kwargs: Any) -> None:
        self.trainer.predict(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        if self.trainer.is_global_zero:
            print(f"\nCheckpoint: {ckpt_path}\n{model.format_predictions(model.predictions)}", flush=True)


def _ignore_signals() -> None:
    # The run is stopping because of a signal: another Ctrl-C could only interrupt the exit itself,
    # and would print a traceback from whatever cleanup it landed in.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def _quiet_lightning() -> None:
    """A normal run shows the progress bar and results, not Lightning's advice."""
    warnings.filterwarnings("ignore", message=".*(does not have many workers|smaller than the logging interval).*")
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    # fizzlightning restores its own callbacks' state; Lightning's reminder does not apply
    warnings.filterwarnings("ignore", message=".*callbacks used to create the checkpoint need to be provided.*")
    # a resumed run writes on into its own checkpoint directory, which is meant to be non-empty
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _check_config_files(argv: list[str]) -> None:
    """Name the file when a ``--config`` is missing or not YAML; jsonargparse's parser error does not."""
    paths = [b for a, b in zip(argv, argv[1:]) if a in ("-c", "--config")]
    paths += [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
    for path in map(Path, paths):
        require(path.is_file(), "--config", str(path), "an existing YAML file (no such file)")
        try:
            yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or error
            raise ConfigError(f"--config {path} is not valid YAML: {problem}{where}.") from None


def _fail(message: str, code: int) -> NoReturn:
    print(f"fizzlightning: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``fizzlightning`` console script and of ``python -m fizzlightning``."""
    ranks.forget_decisions()
    _quiet_lightning()
    argv = sys.argv[1:] if args is None else args
    try:
        _check_config_files(argv)
        FizzLightningCLI(args=args)
        if torch.distributed.is_initialized():
            # Lightning leaves the process group up; one torn down at interpreter exit instead sometimes aborted
            # a torchrun worker (SIGABRT, "terminate called without an active exception"), seen 1 run in 12.
            torch.distributed.destroy_process_group()
    except ArgumentError as error:
        subcommand = next((a for a in argv if a in LightningCLI.subcommands()), None)
        _fail(argument_message(error, " ".join(filter(None, ["fizzlightning", subcommand]))), 2)
    except DivergedError as error:
        _fail(str(error), 1)
    except KeyboardInterrupt:  # Ctrl-C outside training, where RunCheckpoint is not listening
        _fail("interrupted.", 128 + signal.SIGINT)
    except (ValueError, TypeError) as error:
        # a ConfigError raised by a model's or datamodule's __init__ arrives wrapped by jsonargparse
        config_error = config_error_in(error)
        if config_error is None:
            raise
        _fail(str(config_error), 2)
