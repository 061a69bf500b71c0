"""Faults off the happy path, with real processes: a DDP rank that dies, a signal to the launcher, a full disk.

Each ends in one line that says what happened and how to resume, whole checkpoints, and a resume that finishes.
"""

import errno
import os
import shlex
import signal
from pathlib import Path

import lightning as L
import pytest
import torch

from fizzlightning import files
from tests.helpers import (
    DDP_CPU,
    INTERRUPTIBLE,
    assert_bit_identical,
    final_state,
    fit_in,
    runs,
    start,
    wait_for_first_checkpoint,
    write,
)

CONFIG = "interruptible.yaml"
DDP = [*DDP_CPU, "--trainer.devices", "2"]
GONE = "fizzlightning: error: The process of rank 1"


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err[-3000:]
    return [line for line in err.splitlines() if line.startswith("fizzlightning: error:")]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    """The final state of an uninterrupted two-process run of the config."""
    directory = tmp_path_factory.mktemp("uninterrupted")
    write(directory, CONFIG, INTERRUPTIBLE)
    process = start(directory, "fit", "--config", CONFIG, *DDP)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    (run,) = runs(directory, CONFIG)
    return final_state(run / "checkpoints" / "last.ckpt")


def test_a_killed_rank_takes_the_run_down_in_one_line_and_the_printed_resume_matches(cli, tmp_path, uninterrupted):
    write(tmp_path, CONFIG, INTERRUPTIBLE)
    process = start(tmp_path, "fit", "--config", CONFIG, *DDP)
    wait_for_first_checkpoint(process, tmp_path)
    (rank_1,) = children(process.pid)
    os.kill(rank_1, signal.SIGKILL)
    out, err = process.communicate(timeout=120)  # gloo reports the lost peer within seconds (README: about 2 s)
    assert process.returncode == 1
    (line,) = error_lines(err)
    assert line.startswith(f"{GONE} (pid {rank_1}) was killed by SIGKILL, so the fit stopped in epoch ")
    resume = f"fizzlightning fit --config {CONFIG} {shlex.join(DDP)} --ckpt_path last"
    assert line.endswith(f"last.ckpt holds the run as it last saved it. Resume with: {resume}")
    (run,) = runs(tmp_path, CONFIG)
    for checkpoint in (run / "checkpoints").glob("*.ckpt"):
        assert "state_dict" in torch.load(checkpoint, weights_only=True)  # whole
    assert not (run / "fit.json").exists()

    resumed = start(tmp_path, *shlex.split(resume)[1:])  # the printed command, as a user pastes it
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert (run / "fit.json").exists()
    assert_bit_identical(final_state(run / "checkpoints" / "last.ckpt"), uninterrupted)


def test_a_resume_under_another_world_size_finishes(cli, tmp_path):
    write(tmp_path, CONFIG, INTERRUPTIBLE)
    process = start(tmp_path, "fit", "--config", CONFIG, *DDP)
    wait_for_first_checkpoint(process, tmp_path)
    os.kill(children(process.pid)[0], signal.SIGKILL)
    process.communicate(timeout=120)
    # one process now: its shards differ from two processes', so the result is another run's, not the same to the bit
    assert cli("fit", "--config", CONFIG, "--trainer.accelerator", "cpu", "--ckpt_path", "last") == 0
    (run,) = runs(tmp_path, CONFIG)
    assert final_state(run / "checkpoints" / "last.ckpt")["position"][0] == 24


def test_sigterm_to_the_launcher_stops_every_rank_at_an_epoch_end(tmp_path, uninterrupted):
    write(tmp_path, CONFIG, INTERRUPTIBLE)
    process = start(tmp_path, "fit", "--config", CONFIG, *DDP)
    wait_for_first_checkpoint(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    assert error_lines(err) == [] and "SIGTERM received: stopping at the end of this epoch" in err
    resume = f"fizzlightning fit --config {CONFIG} {shlex.join(DDP)} --ckpt_path last"
    assert f"Interrupted. Resume with: {resume}" in out
    resumed = start(tmp_path, *shlex.split(resume)[1:])
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    (run,) = runs(tmp_path, CONFIG)
    assert_bit_identical(final_state(run / "checkpoints" / "last.ckpt"), uninterrupted)


def test_when_rank_0_dies_the_other_rank_stops_with_one_line(tmp_path):
    write(tmp_path, CONFIG, INTERRUPTIBLE)
    process = start(tmp_path, "fit", "--config", CONFIG, *DDP)
    wait_for_first_checkpoint(process, tmp_path)
    (rank_1,) = children(process.pid)
    process.kill()
    _, err = process.communicate(timeout=120)  # rank 1 shares the pipes: they close when it has exited too
    (line,) = error_lines(err)
    assert line.startswith("fizzlightning: error: rank 1 lost the other processes of its run (")
    assert not Path(f"/proc/{rank_1}/cmdline").exists() or not Path(f"/proc/{rank_1}/cmdline").read_bytes()


class OutOfMemoryOnRank1(L.Callback):
    """Raises CUDA's out-of-memory error on rank 1 in epoch 1: an exception on one rank only."""

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        if trainer.global_rank == 1 and trainer.current_epoch == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (raised by the test)")


def test_an_exception_on_one_rank_only_is_named_by_both(tmp_path):
    write(tmp_path, CONFIG, INTERRUPTIBLE)
    process = start(tmp_path, "fit", "--config", CONFIG, *DDP, f"--trainer.callbacks+={__name__}.OutOfMemoryOnRank1")
    _, err = process.communicate(timeout=180)
    assert process.returncode == 1
    failed, run = sorted(error_lines(err), key=lambda line: line.startswith(GONE))  # the rank's line, rank 0's line
    assert failed.startswith("fizzlightning: error: rank 1 ran out of memory (CUDA out of memory (raised by the test))")
    assert run.startswith(GONE) and "exited with code 1, so the fit stopped in epoch 1" in run


class FullDisk:
    """Makes ``os.replace`` into the run fail with ``errno_`` from its ``after``-th call on: an exhausted quota
    (EDQUOT), injected at the os call because these machines have no quota to exhaust. A real full disk, at every
    file of the run, is ``tests/commands/test_full_disk.py``."""

    def __init__(self, monkeypatch, errno_: int, after: int, name: str) -> None:
        self.calls, self.after, self.errno, self.name = 0, after, errno_, name
        self.replace = os.replace
        monkeypatch.setattr(files.os, "replace", self)

    def __call__(self, source, target) -> None:
        if Path(target).name == self.name:
            self.calls += 1
            if self.calls > self.after:
                raise OSError(self.errno, os.strerror(self.errno), str(target))
        self.replace(source, target)


@pytest.mark.parametrize(
    "errno_, name, after, reason",
    [
        (errno.EDQUOT, "last.ckpt", 1, "the disk quota is used up"),  # last.ckpt after epoch 0, then again by the end
        (errno.EDQUOT, "fit.json", 0, "the disk quota is used up"),
    ],
    ids=["checkpoint", "fit.json"],
)
def test_a_used_up_quota_is_one_line_keeps_the_checkpoints_and_the_run_resumes(
    cli, tmp_path, capfd, monkeypatch, uninterrupted_single, errno_, name, after, reason
):
    config = write(tmp_path, CONFIG, INTERRUPTIBLE)
    with monkeypatch.context() as patch:
        FullDisk(patch, errno_, after, name)
        assert cli("fit", "--config", config) == 1
    (run,) = runs(tmp_path, CONFIG)
    (line,) = error_lines(capfd.readouterr().err)
    written = run / ("checkpoints" if name == "last.ckpt" else "") / name
    assert line.startswith(f"fizzlightning: error: Could not write {written}: {reason}. The run's earlier files are")
    assert line.endswith(f"--config {CONFIG} --ckpt_path last")
    last = final_state(run / "checkpoints" / "last.ckpt")
    assert last["position"][0] == (0 if name == "last.ckpt" else 24)  # the last whole one: epoch 0's, or the run's end
    assert not list(run.rglob("*.tmp")) and not (run / "fit.json").exists()

    assert cli("fit", "--config", config, "--ckpt_path", "last") == 0  # space again
    assert (run / "fit.json").exists()
    assert_bit_identical(final_state(run / "checkpoints" / "last.ckpt"), uninterrupted_single)


@pytest.fixture(scope="module")
def uninterrupted_single(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("single")
    fit_in(directory, CONFIG, INTERRUPTIBLE)
    (run,) = runs(directory, CONFIG)
    return final_state(run / "checkpoints" / "last.ckpt")
