"""``fizzlightning fit | validate | test | predict``: LightningCLI with run directories and safe checkpoints."""

import logging
import math
import os
import shlex
import signal
import sys
import time
import warnings
from argparse import ArgumentError
from pathlib import Path
from typing import Any, NoReturn

import lightning as L
import yaml
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.model_helpers import is_overridden

from fizzlightning import runs
from fizzlightning.base import DivergedError
from fizzlightning.callbacks import RunCheckpoint
from fizzlightning.checks import ConfigError, argument_message, config_error_in, require
from fizzlightning.summary import print_fit_summary


class FizzLightningCLI(LightningCLI):
    def __init__(self, args: list[str] | None = None) -> None:
        self.argv = sys.argv[1:] if args is None else list(args)
        super().__init__(
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=None,  # instantiate_trainer saves it, without a callback's per-step cost
            args=args,
            parser_kwargs={"description": "Train, test and play the PyTorch tutorial's two networks: see README.md."},
        )

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        # Parse errors are raised, so that main() prints them as one paragraph instead of usage + error.
        return super().init_parser(**kwargs, exit_on_error=False)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # The data decides the network's input and output widths: a mismatch cannot be configured.
        parser.link_arguments("data.init_args.num_digits", "model.init_args.num_digits")
        parser.link_arguments("data.init_args.d_in", "model.init_args.d_in")
        parser.link_arguments("data.init_args.d_out", "model.init_args.d_out")

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
        # hides a checkpoint of another network. Here the config decides the network, and _resolve_run
        # refuses a checkpoint that does not fit it, saying what each one is.
        pass

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
        run_dir = experiment / runs.new_run_name(experiment)
        if self.subcommand == "fit":
            # a model that builds its own optimizers (the GAN's two) needs none from the config
            require(
                self.config[self.subcommand].get("optimizer") is not None
                or is_overridden("configure_optimizers", self.model, L.LightningModule),
                "optimizer",
                None,
                "an optimizer, in the config or as --optimizer SGD --optimizer.lr 0.05",
            )
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
        """This command's arguments less ``--ckpt_path``: what a resume, or test after fit, must repeat."""
        argv = self.argv[self.argv.index(self.subcommand) + 1 :] if self.subcommand in self.argv else self.argv
        kept = []
        for previous, arg in zip([None, *argv], argv):
            if not (arg == "--ckpt_path" or previous == "--ckpt_path" or arg.startswith("--ckpt_path=")):
                kept.append(arg)
        return shlex.join(kept)

    def instantiate_trainer(self, **kwargs: Any):
        self.run_dir = self._resolve_run()
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
        kwargs.setdefault("enable_model_summary", False)
        trainer = super().instantiate_trainer(**kwargs)
        if trainer.is_global_zero:
            # One file per command (fit-config.yaml, test-config.yaml): scoring a run keeps the config it was fit with.
            self.run_dir.mkdir(parents=True, exist_ok=True)
            config_file = self.run_dir / f"{self.subcommand}-config.yaml"
            self._parser(self.subcommand).save(
                self.config[self.subcommand], config_file, skip_none=False, overwrite=True
            )
        return trainer

    # ---- subcommands ----------------------------------------------------------------------------------------------

    def fit(self, model, datamodule=None, ckpt_path=None, weights_only=None, **kwargs: Any) -> None:
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
        best = Path(self.checkpoint.best_model_path) if self.checkpoint.best_model_path else None
        if stopped_by is None and best is not None:
            runs.export_network(best, self.run_dir / "model.pt")
            score = self.checkpoint.best_model_score
            runs.mark_finished(
                self.run_dir,
                {
                    "best_checkpoint": str(best),
                    "monitor": self.checkpoint.monitor,
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
            print(f"\nCheckpoint: {ckpt_path}\n{model.test_report()}", flush=True)

    def predict(self, model, datamodule=None, ckpt_path=None, weights_only=None, **kwargs: Any) -> None:
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
    if "LOCAL_RANK" not in os.environ:  # a fresh command, not one of DDP's worker processes: a new run name
        os.environ.pop(runs.RUN_ENV, None)
    _quiet_lightning()
    argv = sys.argv[1:] if args is None else args
    try:
        _check_config_files(argv)
        FizzLightningCLI(args=args)
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
