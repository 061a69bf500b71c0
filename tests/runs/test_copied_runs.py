"""A copy of a root (``cp -r``, which gives every file the copy's time) is the same set of runs: ``--ckpt_path last``
picks the run it picks in the original, by when each ``last.ckpt`` was saved as the checkpoint records it, and
commands in the copy say nothing about where the run was before (its recorded logger placement).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from benchmarks import launch
from fizzlightning.runs import layout
from tests.helpers import FIZZBUZZ, ROOT, clean_env, write

MOVED = "writes into the run directory"  # the line loggers.place prints for a logger placed elsewhere
FIXTURE = ROOT / "tests" / "fixtures" / "fizzbuzz-0.2.0-last.ckpt"


def typed(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``fizzlightning ARGS`` in ``cwd`` as a user types it, to its end."""
    return launch.run(list(args), cwd, clean_env(), timeout=300)


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A root with two interrupted runs of one experiment, the second fit after the first: their ``last.ckpt`` files
    hold when each was saved, and neither has a ``fit.json`` (as a fit killed before its end leaves a run)."""
    root = tmp_path_factory.mktemp("original")
    write(root, "fizzbuzz.yaml", FIZZBUZZ)
    runs = []
    for _ in range(2):
        typed(root, "fit", "--config", "fizzbuzz.yaml")
        runs.append(next(run for run in (root / "lightning_logs" / "fizzbuzz").iterdir() if run not in runs))
    for run in runs:
        (run / layout.FINISHED).unlink()
    older, newer = runs
    assert layout.saved_at(older / "checkpoints" / "last.ckpt") < layout.saved_at(newer / "checkpoints" / "last.ckpt")
    return root, older, newer


def copy_reversed(root: Path, older: Path, newer: Path, to: Path) -> Path:
    """A real ``cp -r`` of both runs, the newer first, so that the older run's files get the later times; their
    ``last.ckpt`` times are then also set apart by ten seconds (``os.utime``), so that the order cannot tie on a
    coarse clock: the file times say the opposite of what the runs recorded."""
    experiment = to / "lightning_logs" / "fizzbuzz"
    experiment.mkdir(parents=True)
    for run in (newer, older):
        subprocess.run(["cp", "-r", str(run), str(experiment)], check=True)
    last = {run.name: experiment / run.name / "checkpoints" / "last.ckpt" for run in (older, newer)}
    stamp = last[newer.name].stat().st_mtime + 10
    os.utime(last[older.name], (stamp, stamp))
    assert last[older.name].stat().st_mtime > last[newer.name].stat().st_mtime  # the copy's times reversed
    shutil.copy(root / "fizzbuzz.yaml", to)
    return experiment


def checkpoint_line(out: str) -> str:
    return re.search(r"^Checkpoint: (.*)$", out, flags=re.MULTILINE)[1]


def test_ckpt_path_last_picks_the_same_run_in_a_copy_and_says_nothing_of_the_old_place(two, tmp_path):
    root, older, newer = two
    experiment = copy_reversed(root, older, newer, tmp_path)
    picked = typed(root, "test", "--ckpt_path", "last")
    assert checkpoint_line(picked.stdout) == str(newer / "checkpoints" / "last.ckpt")
    in_copy = typed(tmp_path, "test", "--ckpt_path", "last")
    assert checkpoint_line(in_copy.stdout) == str(experiment / newer.name / "checkpoints" / "last.ckpt")
    assert MOVED not in in_copy.stderr, in_copy.stderr
    from_elsewhere = typed(tmp_path.parent, "test", "--ckpt_path", "last", "--trainer.default_root_dir", str(tmp_path))
    assert checkpoint_line(from_elsewhere.stdout) == str(experiment / newer.name / "checkpoints" / "last.ckpt")
    assert MOVED not in from_elsewhere.stderr, from_elsewhere.stderr
    # a resume: the newer run in the copy, as in the original, and a word of neither's logs' old place
    for where, run in ((tmp_path, experiment / newer.name), (root, newer)):
        resumed = typed(where, "fit", "--ckpt_path", "last", "--trainer.max_epochs", "3")
        assert (run / "fit-config-2.yaml").is_file(), resumed.stdout
        assert MOVED not in resumed.stderr, resumed.stderr
    assert not (experiment / older.name / "fit-config-2.yaml").exists() and not (older / "fit-config-2.yaml").exists()


def test_a_checkpoint_that_records_no_save_time_falls_back_to_its_file_time(tmp_path):
    """0.2.0's checkpoints record no ``saved_at``: their file's time orders them, as before."""
    assert "saved_at" not in torch.load(FIXTURE, weights_only=True).get("fizzlightning", {})
    old = tmp_path / "a" / "checkpoints" / "last.ckpt"
    old.parent.mkdir(parents=True)
    shutil.copy(FIXTURE, old)
    os.utime(old, (1e9, 1e9))
    assert layout.saved_at(old) == 1e9
    new = tmp_path / "b" / "checkpoints" / "last.ckpt"
    new.parent.mkdir(parents=True)
    checkpoint = torch.load(FIXTURE, weights_only=True)
    checkpoint["fizzlightning"] = {**checkpoint.get("fizzlightning", {}), "saved_at": 2e9}
    torch.save(checkpoint, new)
    os.utime(new, (1e8, 1e8))  # an older file time than the 0.2.0 one: what it records wins
    assert layout.newest_last([old, new]) == new


@pytest.mark.parametrize("logger", ["TensorBoardLogger", "CSVLogger", "WandbLogger"])
def test_a_copied_runs_recorded_logger_place_is_no_setting_to_warn_about(tmp_path, capsys, logger):
    """What ``loggers.place`` recorded for a run (its ``fit-config.yaml``), read back for a copy of that run under
    another root, says nothing; a ``save_dir`` of the user's own still gets its line."""
    from fizzlightning.runs import loggers

    run = tmp_path / "original" / "lightning_logs" / "fizzbuzz" / "20260101-000000-1"
    copy = tmp_path / "copy" / "lightning_logs" / "fizzbuzz" / run.name
    recorded = loggers.place({"class_path": f"lightning.pytorch.loggers.{logger}", "init_args": {}}, run)
    placed = loggers.place(recorded, copy)
    assert capsys.readouterr().err == ""
    assert str(placed["init_args"]["save_dir"]).startswith(str(tmp_path / "copy"))
    own = {"class_path": f"lightning.pytorch.loggers.{logger}", "init_args": {"save_dir": "mylogs"}}
    loggers.place(own, copy)
    assert f"writes into the run directory {copy}, not mylogs" in capsys.readouterr().err
