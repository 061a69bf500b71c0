"""The README's and docs' code blocks as tests, through Sybil (``conftest.py`` at the top of the repository).

Each document runs top to bottom in a directory of its own, which holds links to the repository's configs,
benchmarks and scripts, as a clone does, so that a block's relative paths mean what they mean to a reader:

- ```` ```bash ```` blocks run as one bash script (``set -e``); the block passes when it exits 0;
- ```` ```console ```` blocks hold ``$ command`` lines, each followed by what it prints. Each command runs, and each
  printed line must appear in its output, in order. Run names, times, absolute path prefixes before
  ``lightning_logs/``, ``<placeholders>`` and ``...`` match whatever the command printed there, and two or more
  spaces (between a table's columns, whose widths follow what they hold) match two or more;
- ```` ```python ```` blocks run in one namespace per document, in that directory;
- ``<!-- skip: next "why" -->`` before a block that cannot run here (a GPU, several machines, an hour) says why.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sybil import Example

from benchmarks import launch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ("lightning_configs", "benchmarks", "scripts", "tests", "pyproject.toml")  # what a clone has beside docs
TIMEOUT = 600  # seconds, for one command or block


def setup(namespace: dict) -> None:
    """A fresh directory for a document, made the working directory of its Python blocks."""
    sandbox = Path(tempfile.mkdtemp(prefix="docs-"))
    for name in SHARED:
        (sandbox / name).symlink_to(ROOT / name)
    namespace.update(sandbox=sandbox, previous_cwd=os.getcwd())
    os.chdir(sandbox)


def teardown(namespace: dict) -> None:
    os.chdir(namespace["previous_cwd"])
    shutil.rmtree(namespace["sandbox"], ignore_errors=True)


def _environment() -> dict[str, str]:
    env = launch.environment([ROOT])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the venv's fizzlightning
    return env


def _run(command: str, cwd: Path, strict: bool) -> subprocess.CompletedProcess:
    script = f"set -e -o pipefail\n{command}" if strict else command
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=TIMEOUT
    )


def evaluate_bash(example: Example) -> str | None:
    done = _run(example.parsed, example.namespace["sandbox"], strict=True)
    if done.returncode != 0:
        return f"exit {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return None


# What may differ between the output a document shows and the output of a rerun, and what each matches.
_VARIABLE = re.compile(
    r"(?P<placeholder><[\w .:/-]+>)"
    r"|(?P<ellipsis>\.\.\.)"
    r"|(?P<run>\d{8}-\d{6}-\d+)"
    r"|(?P<seconds>\d+(?:\.\d+)? s\b)"
    r"|(?P<pid>pid \d+)"
    r"|(?P<logs>(?<![\w/])lightning_logs\b)"
    r"|(?P<columns> {2,})"
)
_MATCHES = {
    "placeholder": r"\S+",
    "ellipsis": r".*",
    "run": r"\d{8}-\d{6}-\d+(?:-\d+)?",
    "seconds": r"\d+(?:\.\d+)? s\b",
    "pid": r"pid \d+",
    "logs": r"(?:\S*/)?lightning_logs",
    "columns": r" {2,}",
}


def line_pattern(shown: str) -> re.Pattern:
    """The regular expression a printed line must match for ``shown``, the line as the document shows it."""
    parts, position = [], 0
    for match in _VARIABLE.finditer(shown):
        parts += [re.escape(shown[position : match.start()]), _MATCHES[match.lastgroup]]
        position = match.end()
    parts.append(re.escape(shown[position:]))
    return re.compile("".join(parts))


def shown_in(shown: list[str], printed: str) -> str | None:
    """``None`` if every line of ``shown`` matches a line of ``printed``, in order; else the first that does not."""
    lines = iter(printed.splitlines())
    for line in shown:
        pattern = line_pattern(line.strip())
        if not any(pattern.search(candidate) for candidate in lines):
            return line
    return None


def commands(block: str) -> list[tuple[str, list[str]]]:
    """A console block's ``$ command`` lines (``\\`` continues one), each with the lines shown after it."""
    found: list[tuple[str, list[str]]] = []
    continued = False
    for line in block.splitlines():
        if line.startswith("$ ") or continued:
            text = line[2:] if line.startswith("$ ") and not continued else line
            if continued:
                found[-1] = (f"{found[-1][0]}\n{text}", [])
            else:
                found.append((text, []))
            continued = line.endswith("\\")
        elif line.strip() and found:
            found[-1][1].append(line)
    return found


def evaluate_console(example: Example) -> str | None:
    for command, shown in commands(example.parsed):
        done = _run(command, example.namespace["sandbox"], strict=False)
        missing = shown_in(shown, done.stdout + done.stderr)
        if missing is not None:
            return f"$ {command}\ndid not print: {missing}\nit printed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return None
