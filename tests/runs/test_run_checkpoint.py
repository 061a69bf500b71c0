"""Interrupted training loses nothing: signals stop cleanly, kill -9 leaves whole checkpoints, resume is exact."""

import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel

from fizzlightning.runs import run_checkpoint
from fizzlightning.runs.layout import remove_stale_temporaries
from tests.helpers import (
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


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("uninterrupted")
    fit_in(directory, CONFIG, INTERRUPTIBLE)
    (run,) = runs(directory, CONFIG)
    return final_state(run / "checkpoints" / "last.ckpt")


def test_last_ckpt_is_written_after_the_first_epoch_and_at_the_end_best_ckpt_at_the_best(tmp_path, monkeypatch):
    monkeypatch.setattr(run_checkpoint, "LAST_EVERY_SECONDS", float("inf"))  # no write for time passed
    written = []
    save = L.Trainer.save_checkpoint

    def recorded(trainer, path, *args, **kwargs):
        written.append((Path(path).name, trainer.current_epoch))
        save(trainer, path, *args, **kwargs)

    monkeypatch.setattr(L.Trainer, "save_checkpoint", recorded)
    model = BoringModel()
    model.validation_step = lambda batch, batch_idx: model.log("loss", float(model.current_epoch))  # epoch 0 best
    trainer = L.Trainer(
        max_epochs=4, limit_train_batches=2, limit_val_batches=1, logger=False, enable_progress_bar=False,
        callbacks=[run_checkpoint.RunCheckpoint(tmp_path, "loss", "min")], enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, BoringDataModule())
    # ModelCheckpoint's own save_last would write last.ckpt with best.ckpt only, leaving epoch 0's state in it
    assert written == [("best.ckpt", 0), ("last.ckpt", 0), ("last.ckpt", 3)]


def test_a_stop_that_min_epochs_holds_writes_last_ckpt_at_epoch_ends_not_at_every_step(tmp_path, monkeypatch):
    # Lightning keeps should_stop set while min_epochs holds the run: the epochs it still trains are whole ones
    monkeypatch.setattr(run_checkpoint, "LAST_EVERY_SECONDS", float("inf"))  # no write for time passed
    written = []
    save = L.Trainer.save_checkpoint

    def recorded(trainer, path, *args, **kwargs):
        if Path(path).name == "last.ckpt":
            written.append((trainer.current_epoch, trainer.global_step))
        save(trainer, path, *args, **kwargs)

    monkeypatch.setattr(L.Trainer, "save_checkpoint", recorded)
    model = BoringModel()
    model.validation_step = lambda batch, batch_idx: model.log("loss", 1.0)  # no better after epoch 0
    stop = L.pytorch.callbacks.EarlyStopping("loss", patience=0)  # fires at epoch 1's end
    trainer = L.Trainer(
        min_epochs=4, max_epochs=10, limit_train_batches=4, limit_val_batches=1, logger=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[stop, run_checkpoint.RunCheckpoint(tmp_path, "loss", "min")],
    )  # fmt: skip
    trainer.fit(model, BoringDataModule())
    assert trainer.current_epoch == 4 and trainer.should_stop  # EarlyStopping fired from epoch 1 on; min_epochs held it
    assert written == [(epoch, 4 * (epoch + 1)) for epoch in range(4)]  # the first epoch's, then each stopping one's


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
    assert process.poll() is None, "the run ended before it could be killed"
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    (run,) = runs(tmp_path, CONFIG)
    checkpoints = list(run.glob("**/*.ckpt"))
    assert checkpoints, delay
    for checkpoint in checkpoints:  # complete or absent: each one that exists loads
        assert "state_dict" in torch.load(checkpoint, weights_only=True), (checkpoint, delay)

    assert cli("fit", "--config", CONFIG, "--ckpt_path", "last") == 0
    assert_bit_identical(final_state(run / "checkpoints" / "last.ckpt"), uninterrupted)
    assert not list(run.rglob("*.tmp")), delay  # a write the kill cut short leaves nothing once the run resumed


def test_the_next_run_removes_temporaries_of_killed_writers_only(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    orphan = checkpoints / f".last.ckpt.{dead.pid}.tmp"
    in_progress = checkpoints / f".last.ckpt.{os.getpid()}.tmp"  # a live process is still writing it
    orphan.write_bytes(b"half")
    in_progress.write_bytes(b"half")
    remove_stale_temporaries(tmp_path)
    assert not orphan.exists() and in_progress.exists()


def test_a_signal_in_the_epoch_early_stopping_ends_resumes_to_the_same_end(cli, tmp_path, monkeypatch):
    # EarlyStopping with stopping_threshold 0 ends the run after epoch 0; a SIGTERM arrives during that epoch.
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    early = ["--trainer.callbacks+=EarlyStopping", "--trainer.callbacks.monitor=val/acc"]
    early += ["--trainer.callbacks.mode=max", "--trainer.callbacks.stopping_threshold=0.0"]
    config = write(tmp_path, CONFIG, INTERRUPTIBLE)
    assert cli("fit", "--config", config, *early) == 0
    (plain,) = runs(tmp_path, CONFIG)
    try:
        signalled = [*early, "--trainer.callbacks+=tests.helpers.SignalAtEpoch"]
        assert cli("fit", "--config", config, *signalled) == 128 + signal.SIGTERM
    finally:
        for signum, handler in handlers.items():  # fit ignores further signals once one stopped it
            signal.signal(signum, handler)
    interrupted = runs(tmp_path, CONFIG)[-1]
    assert not (interrupted / "fit.json").exists()
    assert cli("fit", "--config", config, *early, "--ckpt_path", "last") == 0
    for run in (plain, interrupted):
        assert json.loads((run / "fit.json").read_text())["epochs"] == 1  # no epoch too many after the resume
    resumed, ended = (
        final_state(interrupted / "checkpoints" / "last.ckpt"),
        final_state(plain / "checkpoints" / "last.ckpt"),
    )
    # Lightning rewrites last.ckpt when the resumed fit ends, with the epoch counted as complete: same step, same state
    assert resumed.pop("position")[1] == ended.pop("position")[1]
    assert_bit_identical(resumed, ended)


def test_an_unseeded_run_records_its_seed_and_resumes_to_the_bit(cli, tmp_path):
    write(tmp_path, CONFIG, INTERRUPTIBLE.replace("seed_everything: 3", "seed_everything: false"))
    process = start(tmp_path, "fit", "--config", CONFIG)
    wait_for_first_checkpoint(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err
    (run,) = runs(tmp_path, CONFIG)
    seed = yaml.safe_load((run / "fit-config.yaml").read_text())["seed_everything"]
    assert type(seed) is int  # drawn once, recorded in the run's config

    assert cli("fit", "--config", CONFIG, "--ckpt_path", "last") == 0  # the resume draws no new seed
    assert json.loads((run / "fit.json").read_text())["seed"] == seed
    assert cli("fit", "--config", CONFIG, "--seed_everything", str(seed)) == 0  # seeded and uninterrupted
    seeded = runs(tmp_path, CONFIG)[-1]
    assert seeded != run
    assert_bit_identical(
        final_state(run / "checkpoints" / "last.ckpt"), final_state(seeded / "checkpoints" / "last.ckpt")
    )
