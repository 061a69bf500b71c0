"""``FizzLightningCLI``: LightningCLI with fizzlightning's run rule, loggers and checkpoints wired into its hooks.

LightningCLI parses the config, then calls these hooks in order; each hands its work to a small module:

- ``plan_run`` (LightningCLI's ``_parse_ckpt_path``: ``internals.CLIHooks``): ``layout.plan``, the run this
  command works in, the checkpoint it loads, its seed;
- ``before_instantiate_classes``: ``extras`` (optional packages) and ``loggers.place`` (logs go into the run);
- ``instantiate_trainer``: the trainer's callbacks and plugins, ``checkpoints`` checks, the saved config;
- ``fit``, ``test``, ``predict``: the Trainer, then ``finish`` (fit's files and summary) or ``reports``.
"""

import shlex
import signal
import tempfile
from argparse import ArgumentError
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import lightning as L
import torch
from jsonargparse.typing import restricted_number_type
from lightning.fabric.utilities.seed import max_seed_value, min_seed_value, seed_everything
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, LRSchedulerTypeTuple
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from fizzlightning import errors, extras, files
from fizzlightning.callbacks.dashboards import Hyperparameters, progress_bars
from fizzlightning.callbacks.predictions import PredictionWriter, TestOutputs
from fizzlightning.commands import finish, reports
from fizzlightning.commands.checks import (
    argument_message,
    check_learning_rate,
    check_top_level_optimizer,
    trainer_message,
)
from fizzlightning.commands.failures import RankWatch, raised_in
from fizzlightning.data.base import WIDTHS
from fizzlightning.internals import CLIHooks
from fizzlightning.runs import checkpoints, layout, loggers, ranks, slurm
from fizzlightning.runs.run_checkpoint import RunCheckpoint

SEED = restricted_number_type("Seed", int, [(">=", min_seed_value), ("<=", max_seed_value)], join="and")


class FizzLightningCLI(CLIHooks):
    def __init__(
        self, args: list[str], typed: list[str] | None = None, requeue_signal: slurm.RequeueSignal | None = None
    ) -> None:
        self.argv = list(args if typed is None else typed)  # as the user typed them, for the commands we print
        self.requeue_signal = requeue_signal  # caught since the command began, in what may be a SLURM job
        # LightningCLI builds a parser for each subcommand it offers, from the Trainer's and the config's classes'
        # signatures (0.1 s each): a command that starts with its subcommand, as typed, builds only its own
        self._only = args[0] if args and args[0] in LightningCLI.subcommands() else None
        self._plan_error: errors.CheckpointError | None = None
        super().__init__(
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=None,  # instantiate_trainer saves it, without a callback's per-step cost
            auto_configure_optimizers=False,  # the models build their own (add_arguments_to_parser)
            # defaults, not overrides: whatever the user sets wins
            trainer_defaults={"enable_model_summary": False, "logger": loggers.DEFAULT},
            args=args,
            parser_kwargs={
                "prog": "fizzlightning",  # also under python -m, and in the shell completion script
                "description": "Train, test, play and serve the PyTorch lessons' networks: see README.md.",
            },
        )

    def subcommands(self) -> dict[str, set[str]]:
        # Options fizzlightning cannot honour are not offered: checkpoints always load with weights_only=True,
        # and predict streams its rows into predictions.csv instead of returning them (PredictionWriter).
        return {
            name: skipped | {"weights_only"} | ({"return_predictions"} if name == "predict" else set())
            for name, skipped in LightningCLI.subcommands().items()
            if self._only in (None, name)
        }

    def subcommand_parser_built(self, parser: LightningArgumentParser, subcommand: str) -> LightningArgumentParser:
        if subcommand == "test":
            parser.set_defaults(verbose=False)  # test prints its own report; --verbose true adds Lightning's table
        return parser

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        # Parse errors are raised, so that main() prints them as one paragraph instead of usage + error.
        return super().init_parser(**kwargs, exit_on_error=False)

    def add_default_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # LightningCLI's seed_everything, declared with the range seed_everything accepts: a seed outside it is
        # a parse error, one line naming the setting, like any value of the wrong type.
        parser.add_argument("--seed_everything", type=bool | SEED, default=True, help=layout.SEED_HELP)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--experiment", type=str | None, default=None, help=layout.EXPERIMENT_HELP)
        # Linked on instantiation, so that the datamodule is built (and has checked them) before the model.
        for name in WIDTHS:  # jsonargparse skips a link whose datamodule lacks the attribute
            parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")
        # The optimizer is the model's argument (LightningCLI's dependency injection), set by the top-level
        # optimizer and lr_scheduler that configs and --optimizer Adam --optimizer.lr 0.001 have always used.
        parser.add_optimizer_args((torch.optim.Optimizer,), link_to="model.init_args.optimizer")
        parser.add_lr_scheduler_args(LRSchedulerTypeTuple, link_to="model.init_args.lr_scheduler")

    @property
    def _config(self) -> Any:
        return self.config[self.config.subcommand]

    @cached_property
    def _scratch(self) -> tempfile.TemporaryDirectory:
        return tempfile.TemporaryDirectory(prefix="fizzlightning-smoke-test-")  # removed when the command ends

    @property
    def smoke_test(self) -> bool:
        """``--trainer.fast_dev_run``: a few batches to try the code. Like Lightning's (no logger, no checkpoint), it
        keeps nothing: no run directory, no saved config, no ``predictions.csv``, nothing written into a run."""
        return bool(self._config.trainer.fast_dev_run)

    def plan_run(self) -> None:
        # LightningCLI would replace the config's model arguments by the checkpoint's hyperparameters, which
        # hides a checkpoint of another network: here the config decides, and instantiate_trainer checks.
        config, subcommand = self._config, self.config.subcommand
        config_files = [str(c) for c in config.get("config") or []]
        name = layout.experiment_name(config.get("experiment"), config_files, config.model.class_path)
        # recorded in the run's saved config: passed back as --config from anywhere, it finds its runs
        root = layout.local_root(config.trainer.default_root_dir)
        config.trainer.default_root_dir = str(root)
        experiment = layout.experiment_dir(root, name)
        self.args = layout.command_args(self.argv, subcommand)  # what test after fit, or a resume, repeats
        # a smoke test keeps no run for a requeued job to resume: SLURM's signal ends it as it would any program
        self.job = slurm.job_id() if subcommand == "fit" and not self.smoke_test else None
        if self.requeue_signal is not None and self.job is None:  # not a job of ours: SIGUSR1 does what it did
            self.requeue_signal.release(deliver=True)
            self.requeue_signal = None
        trainer = config.trainer
        seeded = layout.is_seed(config.seed_everything)
        peers = ranks.peers(trainer.num_nodes, trainer.devices, trainer.accelerator, seeded)
        self.rank = peers.rank if peers else rank_zero_only.rank

        def decide() -> layout.Plan:  # on rank 0 only
            if subcommand == "fit" and config.get("ckpt_path") is None:
                slurm.check_no_hpc_checkpoint(root)
            fit = f"fizzlightning fit {self.args}"
            ckpt_path, seed = config.get("ckpt_path"), config.seed_everything
            job = self.job if slurm.requeued() else None  # only a requeued job resumes its run
            plan = layout.plan(subcommand, experiment, ckpt_path, seed, fit, draw_seed=ranks.draw_seed, job=job)
            # Every command writes into its run (its saved config, logs, predictions.csv): a read-only or missing
            # disk is a mistake to fix first, and part of the decision, so every rank stops with rank 0's line
            # instead of waiting for it in the process group.
            files.check_writable(plan.run_dir)
            if subcommand == "fit" and not trainer.fast_dev_run and plan.run_dir.is_dir():
                # a resume (a new run's name is its own): here, so that a run another fit holds is every rank's line
                layout.hold(plan.run_dir)
            return plan

        try:
            self.plan = ranks.agreed_plan(decide, peers, trainer.accelerator)
        except errors.CheckpointError as error:
            # raised once the model and data have checked the config: a config mistake is the first thing to fix
            self._plan_error = error
            seed = int(config.seed_everything) if layout.is_seed(config.seed_everything) else 0
            self.plan = layout.Plan(experiment, experiment / "none", None, seed)
        config["ckpt_path"], config["experiment"] = self.plan.ckpt_path, experiment.name

    def seed_run(self) -> None:
        # The seed makes the validation split and the shuffle order, so a run has exactly one (layout.plan).
        self._config["seed_everything"] = seed_everything(self.plan.seed, workers=True, verbose=False)

    def before_instantiate_classes(self) -> None:
        config = self._config
        extras.check_config(config)
        check_learning_rate(config.get("optimizer"))
        check_top_level_optimizer(self.argv, [str(path) for path in config.get("config") or []])
        for key in ("optimizer", "lr_scheduler"):
            if config.get(key) is None:  # none in the config: the model's default, not the None the link passed on
                config.model.init_args.pop(key, None)
        if self._plan_error is None and self.rank == 0 and self.config.subcommand == "fit" and not self.smoke_test:
            layout.remove_stale_temporaries(self.plan.run_dir)
        # predict writes a CSV file, not another set of logs; every other command logs into its run
        predicting = self.config.subcommand == "predict"
        config.trainer.logger = False if predicting else loggers.place(config.trainer.logger, self.plan.run_dir)

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        if self._plan_error is not None:
            raise self._plan_error
        subcommand, run_dir, config = self.subcommand, self.plan.run_dir, self.config_init[self.subcommand]
        checkpoints.check_start(
            self.plan.ckpt_path, subcommand, self.model, self.datamodule, config["trainer"], run_dir
        )  # the one run rule's judgment on the network and its data, for a bare command and a --config alike
        accumulate = config["trainer"].get("accumulate_grad_batches", 1)  # Lightning divides by it, unchecked
        errors.require(accumulate >= 1, "trainer.accumulate_grad_batches", accumulate, "an integer >= 1")
        smoke = self.smoke_test  # a smoke test of a resume loads the checkpoint, whatever the run has trained
        if subcommand == "fit" and (run_dir / layout.FINISHED).is_file() and self.plan.ckpt_path and not smoke:
            # a finished run stays finished: a resume that would train nothing rewrites none of its files
            stops = (config["trainer"].get(key) for key in ("max_epochs", "max_steps"))
            why = checkpoints.nothing_to_train(self.plan.ckpt_path, *stops)
            if why is not None:
                raise errors.NothingToDo(f"{run_dir} is finished ({why}.")
        resume = layout.resume_command(self.args) if subcommand == "fit" else None
        self.watch = RankWatch(resume, shlex.join(["fizzlightning", *self.argv]), run_dir)
        own = config["trainer"].get("callbacks") or []
        self.report = reports.report(self.model)
        callbacks = [*(own if isinstance(own, list) else [own]), Hyperparameters(self.report.hp_metrics()), self.watch]
        callbacks = progress_bars(callbacks, config["trainer"].get("enable_progress_bar"))
        if subcommand == "fit":
            requeue = self.requeue_signal if self.job else None  # sbatch --signal: stop, save, requeue
            model = self.model
            self.checkpoint = RunCheckpoint(layout.checkpoint_dir(run_dir), model.monitor, model.mode, requeue)
            callbacks.append(self.checkpoint)
        else:  # only fit writes checkpoints; Lightning's default one would warn that a loaded one's dirpath moved
            kwargs["enable_checkpointing"] = False
        if subcommand == "predict":  # a smoke test's rows are shown, and written to a folder removed when it ends
            where = Path(self._scratch.name) if smoke else run_dir
            self.writer = PredictionWriter(where / "predictions.csv", self.report.table)
            callbacks.append(self.writer)
        if subcommand == "test":
            self.test_outputs = TestOutputs(self.report.results)
            callbacks.append(self.test_outputs)
        kwargs["callbacks"] = callbacks
        own = config["trainer"].get("plugins") or []
        own = own if isinstance(own, list) else [own]
        kwargs["plugins"] = slurm.with_environment([*own, checkpoints.AtomicCheckpointIO()])
        try:
            trainer = super().instantiate_trainer(**kwargs)
        except (MisconfigurationException, TypeError, ValueError) as error:
            # Lightning's checks of the Trainer's settings, on their values (a TypeError for devices=-2)
            if not isinstance(error, MisconfigurationException) and not raised_in(error, L):
                raise
            raise errors.ConfigError(trainer_message(error, dict(config["trainer"]))) from None
        if trainer.is_global_zero and not smoke:  # a smoke test keeps nothing: no run to hold, no config to save
            if subcommand == "fit":
                layout.hold(run_dir)  # a new run, made now (a resume's is held already: a second hold is a no-op)
            # One file per command (fit-config.yaml, then fit-config-2.yaml, ...): none replaces another.
            text = self.subcommand_parser(subcommand).dump(self._config, skip_none=False)
            with self.watch.reported():  # a full disk here is one line, like any other file of the run
                files.atomic_write(layout.command_config(run_dir, subcommand), lambda tmp: tmp.write_text(text))
                if self.job:
                    slurm.record_job(run_dir, self.job)
        return trainer

    def _run(self, trainer_fn, *args: Any, **kwargs: Any) -> None:
        """A Trainer method, with a lost DDP process or a failed write reported as one line with what to do next."""
        with self.watch.reported():
            trainer_fn(*args, **kwargs, weights_only=True)

    # ---- subcommands ----------------------------------------------------------------------------------------------

    def fit(self, model, datamodule=None, ckpt_path=None, **kwargs: Any) -> None:
        caught = self.requeue_signal if self.job else None
        if caught is not None and caught.agreed():  # SLURM's signal came in the set-up: nothing trained yet
            self._requeue_before_training()
        try:
            self._run(self.trainer.fit, model, datamodule=datamodule, ckpt_path=ckpt_path)
        except (SystemExit, KeyboardInterrupt):  # a second Ctrl-C: Lightning exits mid-epoch, or it hit teardown
            if self.checkpoint.signal_received is None:
                raise
            RunCheckpoint.ignore_signals()
            print(f"\nStopped at once; last.ckpt holds the run as it last saved it. Resume with: {self.watch.resume}")
            raise SystemExit(128 + signal.SIGINT) from None
        outcome = finish.outcome(self.trainer, self.checkpoint, self._config["seed_everything"])
        if outcome.stopped_by is not None:
            RunCheckpoint.ignore_signals()
        if self.trainer.is_global_zero:
            if outcome.finished:
                model.load_state_dict(checkpoints.load_checkpoint(outcome.best_checkpoint)["state_dict"])
                with self.watch.reported():  # a resume trains nothing more and writes the files again
                    finish.write_run_files(outcome, self.plan.run_dir, model)
            where = loggers.where_to_look(self.trainer.loggers, self.plan.run_dir)
            print(finish.summary(outcome, self.plan.run_dir, self.args, where), flush=True)
            if self.job and outcome.stopped_by == slurm.REQUEUE_SIGNAL:
                print(slurm.requeue(self.job, self.watch.resume), flush=True)
            elif caught is not None and caught.received and outcome.stopped_by is None:
                # in the exports, which the 90 s the signal gives are plenty for: nothing is left to requeue for
                name = signal.Signals(slurm.REQUEUE_SIGNAL).name
                print(
                    f"{name} received after training ended: nothing is left to resume, so SLURM job {self.job} "
                    "is not requeued.",
                    flush=True,
                )
        if outcome.stopped_by is not None:
            raise SystemExit(128 + outcome.stopped_by)

    def _requeue_before_training(self) -> NoReturn:
        """Every rank stops before the first epoch; rank 0 requeues the job, whose ``fit`` starts this run over
        (``layout.find_start``: a run of the job with no ``last.ckpt``), or resumes it from its ``last.ckpt``."""
        if self.trainer.is_global_zero:
            name = signal.Signals(slurm.REQUEUE_SIGNAL).name
            done = slurm.requeue(self.job, self.watch.resume)
            print(f"{name} received before training began: stopped without training. {done}", flush=True)
        raise SystemExit(128 + slurm.REQUEUE_SIGNAL)

    def validate(self, model, datamodule=None, ckpt_path=None, verbose: bool = True, **kwargs: Any) -> None:
        self._run(self.trainer.validate, model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=verbose)
        if self.trainer.is_global_zero and self.smoke_test:
            print(finish.smoke_test_line("validate", self.trainer.fast_dev_run), flush=True)

    def test(self, model, datamodule=None, ckpt_path=None, verbose: bool = False, **kwargs: Any) -> None:
        self._run(self.trainer.test, model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=verbose)
        if self.trainer.is_global_zero:
            text = self.report.test(self.trainer.callback_metrics, self.test_outputs.results)
            print(f"\nCheckpoint: {ckpt_path}\n{text}", flush=True)
            if self.smoke_test:
                print(finish.smoke_test_line("test", self.trainer.fast_dev_run), flush=True)

    def predict(self, model, datamodule=None, ckpt_path=None, **kwargs: Any) -> None:
        self._run(self.trainer.predict, model, datamodule=datamodule, ckpt_path=ckpt_path)
        if self.trainer.is_global_zero:
            shown = self.report.predictions(self.writer.header, self.writer.predictions, self.writer.total)
            kept = finish.smoke_test_line("predict", self.trainer.fast_dev_run) if self.smoke_test else None
            print(f"\nCheckpoint: {ckpt_path}\n{shown}\n{kept or f'Written to {self.writer.path}'}", flush=True)


class _Parsed(Exception):
    def __init__(self, config: Any) -> None:
        self.config = config


class _FitConfig(FizzLightningCLI):
    """``fit``'s own parser, stopped once it has parsed: nothing planned, seeded or built."""

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        raise _Parsed(parser.parse_args(args)["fit"])  # args alone: this command's own argv is not fit's


def fit_config(command: str, args: list[str]) -> Any:
    """The config ``fizzlightning fit ARGS`` would run (jsonargparse's Namespace: each class's ``class_path`` and
    ``init_args``, defaults filled, options applied in the order given), parsed by fit's own parser without building
    anything: what ``serve`` and ``export`` judge a checkpoint against (``checkpoints.check_config_network``)."""
    try:
        _FitConfig(["fit", *args])
    except _Parsed as parsed:
        return parsed.config
    except ArgumentError as error:
        raise errors.ConfigError(argument_message(error, f"fizzlightning {command}")) from None
    raise AssertionError("LightningCLI's __init__ goes on after parse_arguments")  # it never returns
