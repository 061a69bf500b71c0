"""How a command ends when something goes wrong: one line that says what happened and what to do next.

- A config, checkpoint or argument mistake (jsonargparse wraps what a class's ``__init__`` raises) becomes
  the ``ConfigError`` behind it: exit 2, before anything runs.
- A process of a DDP run that dies (killed, out of memory, an exception on that rank only) takes the run
  down cleanly: ``RankWatch`` on rank 0 names the rank, stops the others at once, and the resume command
  is printed; a rank that runs out of memory, or loses rank 0, says so in one line. Exit 1.
"""

import logging
import signal
import sys
import threading
import time
import traceback
import warnings
from argparse import ArgumentError
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from fizzlightning.commands.checks import argument_message, config_error_in
from fizzlightning.commands.completion import LIGHTNING
from fizzlightning.errors import ConfigError, RunError, WriteError
from fizzlightning.files import disk_full, write_failure
from fizzlightning.internals import launched_processes, stop_process_observer


def quiet_lightning() -> None:
    """A normal run shows the progress bar and results, not Lightning's advice."""
    warnings.filterwarnings("ignore", message=".*(does not have many workers|smaller than the logging interval).*")
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    # fizzlightning restores its own callbacks' state; Lightning's reminder does not apply
    warnings.filterwarnings("ignore", message=".*callbacks used to create the checkpoint need to be provided.*")
    # a resumed run writes on into its own checkpoint directory, which is meant to be non-empty
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*")
    # train/loss is reduced over the ranks before it is logged (base.py): the advice to sync it does not apply
    warnings.filterwarnings("ignore", message=r".*self\.log\('train/loss', \.\.\., sync_dist=True\).*")
    # predict's CSV writer needs no batch indices: evaluation shards are contiguous (predictions.py)
    warnings.filterwarnings("ignore", message=".*Couldn't infer the batch indices fetched from your dataloader.*")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    threading.excepthook = _quiet_full_disk


_thread_hook = threading.excepthook


def _quiet_full_disk(args: threading.ExceptHookArgs) -> None:
    """A full disk in a writer thread (TensorBoard's events) prints nothing: the command reports it, once."""
    if not disk_full(args.exc_value):
        _thread_hook(args)


def lost_peer(error: BaseException) -> bool:
    """A collective failed because another process of the run is gone (gloo: reset or closed connection)."""
    if isinstance(error, torch.distributed.DistError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        marker in text for marker in ("Connection reset by peer", "Connection closed by peer", "gloo", "NCCL")
    )


def one_paragraph(error: BaseException) -> str:
    return " ".join(str(error).split())


def raised_in(error: BaseException, package) -> bool:
    """``error`` was raised by the code of ``package`` itself (its ``raise`` statement is there, not deeper)."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(package.__file__).parent in Path(frames[-1].filename).parents


@contextmanager
def as_one_line(argv: list[str]) -> Iterator[None]:
    """Turn the known failures of a LightningCLI command into ``ConfigError`` and ``RunError``."""
    try:
        yield
    except ArgumentError as error:
        subcommand = next((a for a in argv if a in LIGHTNING), None)
        raise ConfigError(argument_message(error, " ".join(filter(None, ["fizzlightning", subcommand])))) from None
    except (ValueError, TypeError) as error:
        config_error = config_error_in(error)
        if config_error is None:
            raise
        raise config_error from None
    except MisconfigurationException as error:  # a setting Lightning refused once the run met it (a monitor)
        raise ConfigError(f"trainer: {one_paragraph(error)}") from None
    except torch.OutOfMemoryError as error:
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        raise RunError(
            f"rank {rank} ran out of memory ({str(error).splitlines()[0][:160]}). Lower data.batch_size, or train "
            "on a device with more memory."
        ) from None
    except Exception as error:
        # one of Lightning's callbacks refusing how it was set (EarlyStopping's monitor that no metric matches)
        if isinstance(error, RuntimeError) and raised_in(error, L.pytorch.callbacks):
            raise ConfigError(f"trainer.callbacks: {one_paragraph(error)}") from None
        if not lost_peer(error) or not torch.distributed.is_initialized():
            raise
        rank = torch.distributed.get_rank()
        raise RunError(
            f"rank {rank} lost the other processes of its run ({str(error).splitlines()[0][:120]}); "
            "rank 0 reports why and how to resume."
        ) from None


GRACE = 10.0  # seconds rank 0 waits for a process that broke a collective to finish exiting, to name it


def _gone(procs: list) -> list[tuple[int, object]]:
    return [(rank, proc) for rank, proc in enumerate(procs, start=1) if proc.poll() is not None]


class RankWatch(L.Callback):
    """Rank 0's account of a DDP run that lost a process, for ``commands/cli.py`` to raise as one line.

    On any exception during a multi-process command, rank 0 finds which of the ranks it started has ended and
    how (Lightning's launcher keeps them as ``procs``), and ends the others at once: they are waiting in a
    collective that can never complete. Lightning's own observer would SIGKILL rank 0 itself within 5 s of
    seeing a child gone, before it could say anything, so it is stopped first.
    """

    def __init__(self, resume: str | None, rerun: str, run_dir: Path) -> None:
        self.resume = resume  # the command that continues the run (fit), or None
        self.rerun = rerun  # the command as typed, to run again when nothing can be resumed
        self.run_dir = run_dir
        self.message: str | None = None

    @contextmanager
    def reported(self) -> Iterator[None]:
        """Around a Trainer call: a failed write or a lost process becomes a ``RunError`` saying what to do next."""
        try:
            yield
        except (WriteError, OSError) as error:  # a write of ours, or a logger's own (TensorBoard, CSV, MLflow)
            if isinstance(error, OSError):
                if not disk_full(error):
                    raise
                error = WriteError(write_failure(error.filename, error, self.run_dir), full=True)
            # resume the run if it has a checkpoint to resume from, else run the command again
            first = "Free some space, then" if error.full else "Then"
            if self.resume and (self.run_dir / "checkpoints" / "last.ckpt").is_file():
                raise RunError(f"{error} {first} resume with: {self.resume}") from None
            raise RunError(f"{error} {first} run it again: {self.rerun}") from None
        except Exception:
            if self.message is None:
                raise
            raise RunError(self.message) from None

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if trainer.is_global_zero and trainer.progress_bar_callback is not None:
            print(file=sys.stderr, flush=True)  # end the bar's line: what follows starts a line of its own
        procs = launched_processes(trainer)
        if trainer.world_size == 1 or not trainer.is_global_zero or not procs:
            return
        stop_process_observer(trainer)  # after launched_processes made its copy
        deadline = time.monotonic() + GRACE
        while not (gone := _gone(procs)) and lost_peer(exception) and time.monotonic() < deadline:
            time.sleep(0.05)  # the connection broke first: the process that broke it is still exiting
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        if not gone and not lost_peer(exception):
            return  # rank 0's own error: it is reported as it is
        if gone:
            rank, proc = gone[0]
            code = proc.returncode
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            what = f"The process of rank {rank} (pid {proc.pid}) {how}"
        else:
            what = "Another process of the run was lost"
        command = trainer.state.fn.value  # fit, validate, test or predict
        where = f" in epoch {trainer.current_epoch}" if command == "fit" else ""
        self.message = f"{what}, so the {command} stopped{where}; the other processes were stopped too."
        if self.resume:
            self.message += f" last.ckpt holds the run as it last saved it. Resume with: {self.resume}"
