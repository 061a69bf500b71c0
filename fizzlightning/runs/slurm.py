"""SLURM's preemption as a run's own stop and resume (docs/distributed.md, "SLURM"): the signal stops the run at an
epoch end, the job is requeued, and the requeued job resumes that run (``layout.find_start``) from its
``last.ckpt``. Lightning's own requeue, which saves ``hpc_ckpt_N.ckpt`` outside any run, is off."""

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment, TorchElasticEnvironment

from fizzlightning.errors import CheckpointError
from fizzlightning.files import atomic_write
from fizzlightning.runs.layout import SLURM_JOB

REQUEUE_SIGNAL = signal.SIGUSR1  # sbatch --signal=SIGUSR1@90, SLURMEnvironment's default requeue_signal


def job_id() -> str | None:
    """The SLURM job of ``srun``'s tasks (not of an interactive ``bash`` job, nor of torchrun inside a job: the
    cluster environment Lightning chooses then is torchrun's), else None."""
    if TorchElasticEnvironment.detect() or not SLURMEnvironment.detect():
        return None
    job = SLURMEnvironment.job_id()
    return None if job is None else str(job)


def with_environment(plugins: list[Any]) -> list[Any]:
    """The Trainer's plugins, with SLURM's environment without Lightning's requeue unless they name one."""
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
