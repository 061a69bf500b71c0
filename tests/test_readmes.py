"""The two front doors, README.md and README.zh-CN.md: each links the other from its first line, and each names every
command ``fizzlightning --help`` lists. Their code blocks run as tests of their own (conftest.py)."""

import re
from pathlib import Path

from fizzlightning.commands.completion import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
READMES = {"README.md": "README.zh-CN.md", "README.zh-CN.md": "README.md"}


def test_each_readme_links_the_other_from_its_first_line():
    for name, other in READMES.items():
        first = (ROOT / name).read_text().splitlines()[0]
        assert f"]({other})" in first, f"{name}: {first}"


def test_each_readme_names_every_command():
    for name in READMES:
        named = set(re.findall(r"`(?:fizzlightning )?(\w+)`", (ROOT / name).read_text()))
        assert set(COMMANDS) <= named, f"{name} does not name {sorted(set(COMMANDS) - named)}"
