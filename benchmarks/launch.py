"""``fizzlightning`` as a user types it, in a subprocess: the one way benchmarks, scripts and tests start it.

Each call is a new command: the environment loses an earlier command's rank-0 decisions (``ranks``), and
gains ``pythonpath`` so that a ``--trainer.callbacks`` class of a test or benchmark module can be imported.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fizzlightning.runs.layout import FINISHED, finished_runs
from fizzlightning.runs.ranks import ENV_PREFIX


def environment(pythonpath: list[Path] | None = None, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
    paths = [str(path) for path in pythonpath or []] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return {**env, **extra}


def start(args: list[str], cwd: Path, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """``python -m fizzlightning ARGS`` in ``cwd``, its output captured as text."""
    command = [sys.executable, "-m", "fizzlightning", *args]
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen(command, cwd=cwd, env=env or environment(), **popen)


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float  # wall time of the whole process, imports included
    peak_rss_mb: float


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> Finished:
    """Run ``fizzlightning ARGS`` to its end; raises ``RuntimeError`` with its stderr if it fails or times out."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        began = time.perf_counter()
        process = start(args, cwd, env, stdout=out, stderr=err)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)  # wait4, not wait: the child's own peak memory
        seconds = time.perf_counter() - began
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        finished = Finished(process.returncode, out.read(), err.read(), seconds, usage.ru_maxrss / 1024)  # KiB
    if finished.returncode != 0:
        raise RuntimeError(f"fizzlightning {' '.join(args)} exited {finished.returncode}:\n{finished.stderr[-3000:]}")
    return finished


def fit_record(root: Path) -> dict[str, Any]:
    """The ``fit.json`` of the only finished run under ``root``."""
    (run_dir,) = finished_runs(root)
    return json.loads((run_dir / FINISHED).read_text())
