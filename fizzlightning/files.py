"""Every file a command writes goes through here: whole or not at all, and a failed write is one sentence."""

import contextlib
import errno
import io
import os
from pathlib import Path
from typing import Any

from fizzlightning.errors import ConfigError, WriteError

_FULL = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up"}


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    A rename within a directory is atomic, so a crash at any moment leaves ``path`` either as it was or
    complete, never half-written. A failed write (a full disk, a vanished directory) raises ``WriteError``.
    ``write`` must write through Python's file objects (``torch_bytes`` for tensors), whose failures are the
    ``OSError`` of the system call: torch's own file writer reports a full disk as an unrelated RuntimeError.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as error:
        raise WriteError(write_failure(path, error), full=disk_full(error)) from None
    finally:  # the write's own failure is the one to report: a read-only disk refuses even this unlink
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_failure(path: Path | str | None, error: OSError, run_dir: Path | None = None) -> str:
    """One sentence for a write that failed: which file (else which run), and why in words (a full disk, ...)."""
    reason = _FULL.get(error.errno, error.strerror or str(error))
    what = path or (f"into {run_dir}" if run_dir else "a file of the run")
    return f"Could not write {what}: {reason}. The run's earlier files are intact."


def disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in _FULL


def torch_bytes(obj: Any) -> bytes:
    """``torch.save(obj)`` as bytes, for ``atomic_write``: a checkpoint of these networks is well under a MB."""
    import torch  # here: the commands that write no tensor (runs --plot) need not wait for torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def check_writable(run_dir: Path) -> None:
    """Before anything is built: a directory that cannot hold the run's files is a mistake to fix first.

    The directories it makes for the probe are removed again: a config mistake found later leaves no empty
    run behind.
    """
    missing = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
    probe = run_dir / f".write-test-{os.getpid()}"  # one per process: ranks that share a disk never collide
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        if disk_full(error):
            raise ConfigError(f"Cannot write to {run_dir}: {_FULL[error.errno]}. Free some space first.") from None
        if not missing:  # a run that exists: the command writes its config and logs into the run it uses
            raise ConfigError(
                f"Cannot write into the run {run_dir}: {error.strerror}. Make it writable, or copy its "
                "lightning_logs to a writable place and pass --trainer.default_root_dir DIR (the folder above it)."
            ) from None
        raise ConfigError(
            f"Cannot write logs and checkpoints to {run_dir}: {error.strerror}. "
            "Choose a writable directory with --trainer.default_root_dir DIR."
        ) from None
    for directory in missing:  # deepest first; one that another command has written into since stays
        with contextlib.suppress(OSError):
            directory.rmdir()
