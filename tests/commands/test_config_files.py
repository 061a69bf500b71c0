"""Whatever is passed as ``--config``: every command runs, or ends in one line and exit 2, never a traceback.

The files are the tiny FizzBuzz config as editors save it (Latin-1, UTF-16 with its BOM, UTF-8 with a BOM, CRLF
line ends), YAML that is not a mapping at the top (a list, a scalar, null), aliases (used as meant, an alias bomb
that fans out to a billion values, an alias to itself), lists nested 5000 deep, an empty file, a 20 MB one, bytes
that are not text, and paths that are not a regular file: a directory, a FIFO, ``/dev/zero``, ``/dev/null``. Each
goes through ``fit``, ``test`` and ``export``, in a folder that holds a finished run, which none of them may change.
"""

import os
from pathlib import Path

import pytest

from tests.commands.matrix import one_error_line, run_command
from tests.helpers import FIZZBUZZ, digests, fit_in

ALIASES = FIZZBUZZ.replace("    lr: 0.1\n", "    lr: &lr 0.1\n    weight_decay: *lr\n")
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)  # 10 ** 9 x's once every alias is expanded: 9 lines of YAML

# name -> the bytes of the file (None: not a file; the path is made by the test)
FILES: dict[str, bytes | None] = {
    "latin-1": (FIZZBUZZ + "# café\n").encode("latin-1"),
    "utf-16": (FIZZBUZZ + "# café\n").encode("utf-16"),  # with its BOM, as Windows editors save "Unicode"
    "utf-8-bom": (FIZZBUZZ + "# café\n").encode("utf-8-sig"),
    "crlf": FIZZBUZZ.replace("\n", "\r\n").encode(),
    "list": b"- trainer\n- model\n",
    "scalar": b"42\n",
    "string": b"fizzbuzz\n",
    "null": b"null\n",
    "aliases": ALIASES.encode(),
    "alias-bomb": BOMB.encode(),
    "alias-to-itself": b"a: &a [1, *a]\n",
    "deeply-nested": b"[" * 5000 + b"]" * 5000 + b"\n",
    "empty": b"",
    "comments-only": b"# nothing else\n",
    "huge": FIZZBUZZ.encode() + (b"#" + b"y" * 99 + b"\n") * 200_000,  # 20 MB
    "binary": bytes(range(256)),
    "directory": None,
    "fifo": None,
    "/dev/zero": None,
    "/dev/null": None,
}
COMMANDS = [  # fit first: the commands after it find the run it made, if it made one
    ["fit", "--trainer.max_epochs", "1"],
    ["test"],
    ["export", "--format", "pt"],
]


def config_path(root: Path, name: str) -> str:
    if name.startswith("/dev/"):
        return name
    path = root / f"{name}.yaml"
    if name == "directory":
        path.mkdir(exist_ok=True)
    elif name == "fifo":
        if not path.exists():
            os.mkfifo(path)
    else:
        path.write_bytes(FILES[name])
    return path.name


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A folder with a finished run of each file that holds the tiny config (its experiment is the file's name)."""
    root = tmp_path_factory.mktemp("config-files")
    fit_in(root, "fizzbuzz.yaml", FIZZBUZZ)
    return root


@pytest.mark.parametrize("name", FILES)
def test_a_config_file_of_any_kind_runs_or_gets_one_line(root, name):
    config = config_path(root, name)
    before = digests(root / "lightning_logs" / "fizzbuzz")
    for command, *args in COMMANDS:
        code, _, err = run_command(root, command, "--config", config, *args)
        assert "Traceback" not in err, err
        if code != 0:
            assert code == 2, err
            assert len(one_error_line(err)) == 1 and len(err.strip().splitlines()) == 1, err
        assert digests(root / "lightning_logs" / "fizzbuzz") == before, f"{command} changed the earlier run"
