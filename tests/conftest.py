"""Shared fixtures: the real CLI entry point, run in a fresh directory per test."""

import pytest

from fizzlightning.commands.main import main


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """``cli("fit", "--config", ...)`` runs ``fizzlightning`` in ``tmp_path`` and returns its exit code."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> int:
        try:
            main(list(args))
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else 1
        return 0

    return run
