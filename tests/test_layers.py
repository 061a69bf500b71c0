"""The folders are layers and imports run one way (``[tool.importlinter]`` in pyproject.toml says the order)."""

import subprocess
import sys
from pathlib import Path

import pytest


def test_each_layer_imports_only_from_the_layers_below_it():
    lint = Path(sys.executable).parent / "lint-imports"  # this environment's, activated or not
    if not lint.is_file():
        pytest.fail("lint-imports is missing: pip install -e '.[dev]' installs import-linter")
    done = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 kept, 0 broken" in done.stdout  # both contracts were read: the layers, and lessons without Lightning
