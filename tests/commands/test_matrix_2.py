"""Shard 2 of the config x command matrix (tests/commands/matrix.py): its configs, fit once each."""

import pytest

from tests.commands import matrix
from tests.commands.matrix import (  # noqa: F401  the shard's tests
    test_export_writes_each_format,
    test_fit_writes_the_runs_files,
    test_scoring_commands_run_on_the_fit,
    test_serve_answers_one_request,
)

fitted = pytest.fixture(scope="module", params=matrix.shard(2), ids="+".join)(matrix.fit_once)
