"""SLURM's preemption as a run's own stop and resume (docs/distributed.md, "SLURM"): the signal stops the run at an
epoch end, the job is requeued, and the requeued job resumes that run (``layout.find_start``) from its
``last.ckpt``. Lightning's own requeue, which saves ``hpc_ckpt_N.ckpt`` outside any run, is off.

The signal is caught from the start of a ``fit`` in a job (``RequeueSignal``) to its end: before training it stops
the fit and requeues the job, while training ``RunCheckpoint`` stops at the epoch end, after training the run's
files are finished. Lightning is imported only where it is used: ``main`` catches the signal before importing it.
"""

import os
import signal
import subprocess
from pathlib import Path
from types import FrameType
from typing import Any

from fizzlightning.errors import CheckpointError
from fizzlightning.files import atomic_write
from fizzlightning.runs.layout import SLURM_JOB

REQUEUE_SIGNAL = signal.SIGUSR1  # sbatch --signal=SIGUSR1@90, SLURMEnvironment's default requeue_signal
JOB_VARIABLE = "SLURM_JOB_ID"  # set in every process of a job: where job_id() may find one


class RequeueSignal:
    """SLURM's requeue signal, caught from the moment a ``fit`` may be running in a job (``JOB_VARIABLE`` is set)
    until the command ends (``release``; the process's own command keeps it until the process ends): Python's
    default action for ``SIGUSR1`` would end the process at once, with no requeue and, after training, a run
    without its ``fit.json``. The handler only records the signal; the command acts on it where it can
    (``cli.FizzLightningCLI.fit``). While the Trainer trains, ``RunCheckpoint``'s own handler takes the signal
    instead, and Lightning's teardown gives it back to this one."""

    def __init__(self) -> None:
        self.received = False
        self._previous = signal.signal(REQUEUE_SIGNAL, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.received = True

    def take(self) -> int | None:
        """The signal, if it came since the last ``take``; forgotten here (``RunCheckpoint`` stops the run for it)."""
        received, self.received = self.received, False
        return REQUEUE_SIGNAL if received else None

    def agreed(self) -> bool:
        """Whether any process of the run has caught the signal: the same answer on every rank (each must ask at
        the same point, a collective over the process group the plan was agreed in), so that all stop or none."""
        import torch

        if not torch.distributed.is_initialized():
            return self.received
        caught = torch.tensor([int(self.received)])
        torch.distributed.all_reduce(caught, op=torch.distributed.ReduceOp.MAX)
        return bool(caught.item())

    def release(self, deliver: bool = False) -> None:
        """The handler from before again; ``deliver``: a signal caught meanwhile goes to it too (the process is in
        no job of ours after all, so the signal does what it would have done)."""
        signal.signal(REQUEUE_SIGNAL, self._previous)
        if deliver and self.take() is not None:
            signal.raise_signal(REQUEUE_SIGNAL)


def job_id() -> str | None:
    """The SLURM job of ``srun``'s tasks (not of an interactive ``bash`` job, nor of torchrun inside a job: the
    cluster environment Lightning chooses then is torchrun's), else None."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if TorchElasticEnvironment.detect() or not SLURMEnvironment.detect():
        return None
    job = SLURMEnvironment.job_id()
    return None if job is None else str(job)


def with_environment(plugins: list[Any]) -> list[Any]:
    """The Trainer's plugins, with SLURM's environment without Lightning's requeue unless they name one."""
    from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment

    if job_id() is None or any(isinstance(plugin, ClusterEnvironment) for plugin in plugins):
        return plugins
    return [*plugins, SLURMEnvironment(auto_requeue=False)]


def check_no_hpc_checkpoint(root: Path) -> None:
    """Lightning restores an ``hpc_ckpt_N.ckpt`` in ``default_root_dir`` into any fit on SLURM that names no
    checkpoint: one an older job left there would replace the new run's start."""
    found = sorted(root.glob("hpc_ckpt_*.ckpt")) if job_id() is not None else []
    if found:
        raise CheckpointError(
            f"{found[-1]}: Lightning would resume this SLURM checkpoint instead of starting the run. fizzlightning "
            f"writes none (a requeued job resumes its run's last.ckpt): move it out of {root} to start a run."
        )


def record_job(run_dir: Path, job: str) -> None:
    """Mark ``run_dir`` as the run of SLURM job ``job``: the job's requeue resumes it."""
    atomic_write(run_dir / SLURM_JOB, lambda tmp: tmp.write_text(f"{job}\n"))


def requeue(job: str, resume: str) -> str:
    """``scontrol requeue JOB``; the line that says what happened."""
    try:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"Could not requeue SLURM job {job} ({error}). Resume with: {resume}"
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        return f"scontrol requeue {job} failed ({reason[-1] if reason else done.returncode}). Resume with: {resume}"
    return f"Requeued SLURM job {job}: when it starts again, the same command resumes this run."


def requeued() -> bool:
    """Only a requeued job (``SLURM_RESTART_COUNT`` > 0) resumes its own run; its first start, or a second ``fit``
    in it, starts a new one."""
    count = os.environ.get("SLURM_RESTART_COUNT", "0")
    return count.isdigit() and int(count) > 0
