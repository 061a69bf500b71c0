"""Every error a user sees as one line, not a traceback: a mistake to fix (exit 2) or a run that had to stop (exit 1).

``commands/main.py`` turns these into their line and exit code; ``commands/failures.py`` does the same for what
Lightning, torch and the system raise during a run.
"""

import argparse
from typing import Any, NoReturn


class ConfigError(ValueError):
    """A setting the user can fix before anything runs; the CLI prints the message and exits 2."""


class CheckpointError(ConfigError):
    """A checkpoint that is missing, unreadable, unsafe or made for another network or run."""


class MissingExtra(ConfigError):
    """An optional package that a setting or command needs is not installed."""


class NothingToDo(Exception):
    """The command would change nothing (a resume of a finished run); the CLI prints the message and exits 0."""


class RunError(RuntimeError):
    """A run that had to stop (divergence, a full disk, a lost process); the CLI prints the message and exits 1."""


class DivergedError(RunError):
    """The training loss became NaN or infinite; the CLI prints the message and exits non-zero."""


class WriteError(RunError):
    """A file of the run could not be written; the files written before it are intact."""

    def __init__(self, message: str, full: bool) -> None:
        super().__init__(message)
        self.full = full  # the disk or quota was full: freeing space is the fix


def require(condition: bool, key: str, value: Any, allowed: str) -> None:
    """Raise a ``ConfigError`` naming ``key``, its ``value`` and what is ``allowed`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{key} = {value!r} is not allowed: expected {allowed}.")


class OneLineParser(argparse.ArgumentParser):
    """argparse for the commands outside LightningCLI (``serve``, ``export``): a mistake is a ``ConfigError``,
    one line and exit 2, not argparse's usage and exit."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.prog}: {message} ({self.prog} --help lists the options).")
