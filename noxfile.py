"""The dependency ranges of pyproject.toml, installed at both ends and tested (docs/compatibility.md has the table).

    nox -s floors    # each direct dependency at its floor (the lowest release its range admits)
    nox -s newest    # the newest releases the registry serves within the ranges

Each session makes its own virtual environment under .nox/ and runs the fast tests (``FAST``); CI runs the whole
suite on the pinned set instead (.ci/run). The test tools come from the ``dev`` extra at their newest: the ranges
tested are the package's own.
"""

from pathlib import Path

import nox
from packaging.requirements import Requirement

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["floors", "newest"]

PROJECT = nox.project.load_toml("pyproject.toml")["project"]
TOOLS = {"pytest", "pytest-xdist", "hypothesis", "sybil", "playwright", "cryptography"}  # the fast tests need these
EXTRAS = ["serve"]  # the fast tests start a server (tests/models/test_new_model.py)
# The models, data, lessons and callbacks, the library used from a plain Trainer (0.2.0's checkpoint and config
# included), and fit -> test -> predict -> export through the CLI as a user types it: a few minutes on 2 cores.
FAST = [
    "tests/lessons",
    "tests/models",
    "tests/data",
    "tests/callbacks",
    "tests/test_library.py",
    "tests/commands/test_cli.py",
    "-m",
    "not slow and not gpu and not fuzz",
]


def tools() -> list[str]:
    return [spec for spec in PROJECT["optional-dependencies"]["dev"] if Requirement(spec).name in TOOLS]


def floors_of(specs: list[str]) -> list[str]:
    """``name==floor`` for each requirement with a ``>=`` floor."""
    pins = []
    for spec in specs:
        requirement = Requirement(spec)
        lows = [s.version for s in requirement.specifier if s.operator == ">="]
        if lows:
            pins.append(f"{requirement.name}=={lows[0]}")
    return pins


def run_fast(session: nox.Session) -> None:
    session.run("pip", "list", "--format=freeze", silent=False)
    session.run("python", "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", *FAST, *session.posargs)


@nox.session(python="3.11")
def floors(session: nox.Session) -> None:
    """The lowest direct dependencies: every requirement of [project] and of ``EXTRAS`` at its floor."""
    constraints = Path(session.create_tmp()) / "floors.txt"
    extras = [spec for extra in EXTRAS for spec in PROJECT["optional-dependencies"][extra]]
    constraints.write_text("\n".join(floors_of(PROJECT["dependencies"] + extras)) + "\n")
    session.install("-c", str(constraints), "-e", f".[{','.join(EXTRAS)}]", *tools())
    run_fast(session)


@nox.session(python="3.11")
def newest(session: nox.Session) -> None:
    """The newest releases within the ranges (and within a pip cap the machine sets, such as torch's)."""
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", f".[{','.join(['search', *EXTRAS])}]", *tools())
    run_fast(session)
    # optuna: benchmarks/search.py resumes the stored study; the newest optuna reads it (on a copy: it may migrate)
    study = Path(session.create_tmp()) / "search.db"
    study.write_bytes(Path("benchmarks/search.db").read_bytes())
    session.run(
        "python",
        "-c",
        "import optuna, sys; s = optuna.load_study(study_name='fizzbuzz-recipe-streak', storage=sys.argv[1]); "
        "print('optuna', optuna.__version__, 'best trial', s.best_trial.number, 'of', len(s.trials))",
        f"sqlite:///{study}",
    )
