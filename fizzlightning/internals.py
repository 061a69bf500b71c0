"""Every private name of Lightning, LitServe and argparse that fizzlightning relies on, in one place.

Each is used because no public API does its job; the line beside it says why. ``tests/test_internals.py``
checks that each still exists and behaves as assumed, so that an upgrade that changes one fails there, by name,
instead of somewhere in a run. The rest of the package uses public names only, and imports these from here.
"""

import argparse
from typing import Any

import lightning as L
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI


class CLIHooks(LightningCLI):
    """LightningCLI's private steps that fizzlightning changes, as public methods a subclass overrides."""

    def _parse_ckpt_path(self) -> None:
        # The step that would replace the config's model arguments by a checkpoint's hyperparameters.
        self.plan_run()

    def _set_seed(self) -> None:
        # The step that seeds everything from the config, between parsing and instantiation.
        self.seed_run()

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        # Where each subcommand's parser is built: the one place to change a subcommand's defaults.
        return self.subcommand_parser_built(super()._prepare_subcommand_parser(klass, subcommand, **kwargs), subcommand)

    def plan_run(self) -> None:
        super()._parse_ckpt_path()

    def seed_run(self) -> None:
        super()._set_seed()

    def subcommand_parser_built(self, parser: LightningArgumentParser, subcommand: str) -> LightningArgumentParser:
        return parser

    def subcommand_parser(self, subcommand: str) -> LightningArgumentParser:
        # The parser that can dump a subcommand's config (LightningCLI's SaveConfigCallback uses the same).
        return self._parser(subcommand)


def launched_processes(trainer: L.Trainer) -> list:
    """The processes the DDP launcher started for ranks 1..n-1 (``subprocess.Popen``), on rank 0; else none.
    The launcher (``_SubprocessScriptLauncher``) is private, its ``procs`` list is not."""
    return list(getattr(trainer.strategy.launcher, "procs", None) or [])


def stop_process_observer(trainer: L.Trainer) -> None:
    """End the DDP launcher's watch over its processes: rank 0 names a lost process itself, and the observer
    would SIGKILL the whole run (rank 0 included) first. The observer watches the launcher's own ``procs`` list:
    emptied, its next poll (every 5 s) finds every process (none) ended and ends its loop, killing nothing."""
    trainer.strategy.launcher.procs.clear()


def parser_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    # argparse lists a parser's options only privately; shtab reads the same list to write a completion script
    return list(parser._actions)


def without_worker_monitor(server: Any) -> None:
    """LitServer has no public switch for its worker monitor, whose shutdown on a dead worker races the main
    thread (``deploy/serving_worker.py`` says how); ``WorkerWatch`` does its job instead."""
    server._monitor_workers = False
