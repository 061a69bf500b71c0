"""The folders are layers and imports run one way (``[tool.importlinter]`` in pyproject.toml says the order)."""

import shutil
import subprocess

import pytest


def test_each_layer_imports_only_from_the_layers_below_it():
    lint = shutil.which("lint-imports")
    if lint is None:
        pytest.fail("lint-imports is missing: pip install -e '.[dev]' installs import-linter")
    done = subprocess.run([lint, "--no-cache"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 kept, 0 broken" in done.stdout  # both contracts were read: the layers, and lessons without Lightning
