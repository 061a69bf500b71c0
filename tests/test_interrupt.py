"""Interrupted training loses nothing: signals stop cleanly, kill -9 leaves whole checkpoints, resume is exact."""

import random
import shlex
import signal
import time
from pathlib import Path

import pytest
import torch

from fizzlightning.cli import main
from fizzlightning.runs import AtomicCheckpointIO

from .tiny_configs import FIZZBUZZ, INTERRUPTIBLE, runs, start, write

CONFIG = "interruptible.yaml"


def wait_for_first_checkpoint(process, directory: Path, timeout: float = 120.0) -> Path:
    """Poll until the subprocess's run has written its first ``last.ckpt``: training is under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(directory.glob("lightning_logs/*/*/checkpoints/last.ckpt"))
        if found:
            return found[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"no checkpoint after {timeout} s: {process.communicate()}")


def final_state(checkpoint: Path) -> dict:
    """What must match to the bit after a resume: weights, optimizer state, scheduler state, position."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return {
        "weights": saved["state_dict"],
        "optimizer": saved["optimizer_states"][0]["state"],
        "scheduler": saved["lr_schedulers"],
        "position": (saved["epoch"], saved["global_step"]),
    }


def assert_bit_identical(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_bit_identical(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_bit_identical(x, y)
    else:
        assert a == b


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("uninterrupted")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        main(["fit", "--config", write(directory, CONFIG, INTERRUPTIBLE)])
    (run,) = runs(directory, CONFIG)
    return final_state(run / "checkpoints" / "last.ckpt")


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
    ids=["SIGINT", "SIGTERM", "SIGINT twice"],
)
def test_signal_stops_cleanly_and_the_printed_resume_finishes_the_same_run(cli, tmp_path, uninterrupted, signals):
    write(tmp_path, CONFIG, INTERRUPTIBLE)
    process = start(tmp_path, "fit", "--config", CONFIG, "--trainer.max_epochs", "25")
    wait_for_first_checkpoint(process, tmp_path)
    for signum in signals:  # a second Ctrl-C stops at once instead of at the epoch end
        process.send_signal(signum)
        time.sleep(0.01)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signals[0], err
    assert "Traceback" not in err
    assert f"{signals[0].name} received: stopping at the end of this epoch" in err
    resume = "fizzlightning fit --config interruptible.yaml --trainer.max_epochs 25 --ckpt_path last"
    assert f"Resume with: {resume}" in out
    (run,) = runs(tmp_path, CONFIG)
    stopped = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert stopped["epoch"] < 24 and not (run / "fit.json").exists()

    assert cli(*shlex.split(resume)[1:]) == 0  # the printed command, as the user would paste it
    assert runs(tmp_path, CONFIG) == [run]  # the resume wrote into the interrupted run
    assert (run / "fit.json").exists()
    assert_bit_identical(final_state(run / "checkpoints" / "last.ckpt"), uninterrupted)


def test_kill_9_leaves_whole_checkpoints_and_resume_matches_an_uninterrupted_run(cli, tmp_path, uninterrupted):
    write(tmp_path, CONFIG, INTERRUPTIBLE)
    process = start(tmp_path, "fit", "--config", CONFIG)
    wait_for_first_checkpoint(process, tmp_path)
    delay = random.uniform(0.0, 0.5)  # an arbitrary moment: mid-step, mid-validation or mid-save
    time.sleep(delay)
    process.kill()
    process.communicate(timeout=60)
    (run,) = runs(tmp_path, CONFIG)
    checkpoints = list(run.glob("**/*.ckpt"))
    assert checkpoints, delay
    for checkpoint in checkpoints:  # complete or absent: each one that exists loads
        assert "state_dict" in torch.load(checkpoint, weights_only=True), (checkpoint, delay)

    assert cli("fit", "--config", CONFIG, "--ckpt_path", "last") == 0
    assert_bit_identical(final_state(run / "checkpoints" / "last.ckpt"), uninterrupted)


def test_checkpoint_write_is_all_or_nothing(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(2)}}, path)

    def crash_halfway(obj, f) -> None:
        Path(f).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_halfway)
    with pytest.raises(OSError):
        AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no half-written file left beside it
    assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], torch.ones(2))


def test_two_runs_started_at_once_keep_separate_run_dirs(tmp_path):
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    processes = [start(tmp_path, "fit", "--config", config) for _ in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    both = runs(tmp_path, config)
    assert len(both) == 2
    for run in both:
        assert (run / "fit.json").exists() and list(run.glob("events.out.tfevents.*"))
        for name in ("best.ckpt", "last.ckpt"):
            torch.load(run / "checkpoints" / name, weights_only=True)
