"""Run directories and checkpoint resolution: pure functions of the files on disk."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from fizzlightning import errors
from fizzlightning.runs import layout


def make_run(experiment: Path, name: str, seed: int | None = 0, finished: bool = True, last: bool = True) -> Path:
    run = experiment / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.ckpt").write_bytes(b"")
    if last:
        (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    if seed is not None:
        (run / layout.FIT_CONFIG).write_text(f"seed_everything: {seed}\n")
    if finished:
        (run / layout.FINISHED).write_text(json.dumps({"best_checkpoint": str(run / "checkpoints" / "best.ckpt")}))
    return run


def test_experiment_is_named_by_the_setting_else_the_last_config_file_else_the_model(tmp_path):
    assert layout.experiment_name("mine", ["a.yaml", "dir/b.yaml"], "x.Y") == "mine"  # a saved fit-config.yaml's
    assert layout.experiment_name(None, ["a.yaml", "dir/b.yaml"], "x.Y") == "b"
    assert layout.experiment_name(None, [], "fizzlightning.models.gan.GAN") == "gan"
    assert layout.experiment_dir(tmp_path, "b") == tmp_path / "lightning_logs" / "b"


def test_test_uses_the_newest_finished_run_with_its_seed(tmp_path):
    make_run(tmp_path, "20260101-000000-1", seed=5)
    newest = make_run(tmp_path, "20260102-000000-1", seed=7)
    make_run(tmp_path, "20260103-000000-1", seed=9, finished=False)  # interrupted: not scored
    start = layout.find_start("test", tmp_path, None, "fizzlightning fit --config c.yaml")
    assert start == layout.Start(str(newest / "checkpoints" / "best.ckpt"), newest, 7)


DEAD = 2**31 - 1  # above any pid_max: no process has this id


def test_fit_resumes_the_newest_last_checkpoint_in_its_own_run(tmp_path):
    interrupted = make_run(tmp_path, f"20260103-000000-{DEAD}", seed=9, finished=False)
    start = layout.find_start("fit", tmp_path, "last", "unused")
    assert start == layout.Start(str(interrupted / "checkpoints" / "last.ckpt"), interrupted, 9)
    assert layout.find_start("fit", tmp_path, None, "unused") == layout.Start()


def test_fit_resumes_an_interrupted_run_before_a_finished_one_and_never_one_that_runs(tmp_path):
    interrupted = make_run(tmp_path, f"20260101-000000-{DEAD}", seed=9, finished=False)
    finished = make_run(tmp_path, f"20260102-000000-{DEAD}", seed=7)
    running = make_run(tmp_path, f"20260103-000000-{os.getppid()}", seed=5, finished=False)  # a live process's run
    for i, run in enumerate((interrupted, finished, running)):
        os.utime(run / "checkpoints" / "last.ckpt", (i + 1, i + 1))  # the running run's last.ckpt is the newest
    assert layout.find_start("fit", tmp_path, "last", "unused").run == interrupted
    shutil.rmtree(interrupted)
    assert layout.find_start("fit", tmp_path, "last", "unused").run == finished  # train a finished run on


def test_an_explicit_checkpoint_is_scored_in_its_run_and_fit_from_it_in_a_new_run(tmp_path):
    run = make_run(tmp_path, "r", seed=11)
    start = layout.find_start("predict", tmp_path, str(run / "checkpoints" / "best.ckpt"), "unused")
    assert start == layout.Start(str(run / "checkpoints" / "best.ckpt"), run, 11)
    start = layout.find_start("fit", tmp_path, str(run / "checkpoints" / "best.ckpt"), "unused")
    assert start == layout.Start(str(run / "checkpoints" / "best.ckpt"), None, 11)
    loose = tmp_path / "loose.ckpt"
    assert layout.find_start("test", tmp_path, str(loose), "unused") == layout.Start(str(loose), None, None)


@pytest.mark.parametrize("subcommand", ["test", "validate", "predict", "serve", "export"])
def test_lightnings_best_and_last_work_for_every_command_after_fit(tmp_path, subcommand):
    finished = make_run(tmp_path, "20260102-000000-1", seed=7)
    interrupted = make_run(tmp_path, "20260103-000000-1", seed=9, finished=False)
    os.utime(finished / "checkpoints" / "last.ckpt", (1, 1))
    os.utime(interrupted / "checkpoints" / "last.ckpt", (2, 2))  # the newest last.ckpt: its run, its seed
    best = layout.find_start(subcommand, tmp_path, "best", "unused")
    assert best == layout.find_start(subcommand, tmp_path, None, "unused")
    assert best == layout.Start(str(finished / "checkpoints" / "best.ckpt"), finished, 7)
    last = layout.find_start(subcommand, tmp_path, "last", "unused")
    assert last == layout.Start(str(interrupted / "checkpoints" / "last.ckpt"), interrupted, 9)


@pytest.mark.parametrize(
    "subcommand, ckpt_path, fragment",
    [
        ("fit", "best", "fit resumes a run from its last.ckpt (--ckpt_path last)"),
        ("test", "hpc", "does not keep Lightning's hpc checkpoints. Pass best, last or the path"),
        ("fit", "registry:model:latest", "does not keep Lightning's registry checkpoints"),
    ],
)
def test_lightnings_other_names_are_one_line(tmp_path, subcommand, ckpt_path, fragment):
    make_run(tmp_path, "r")
    with pytest.raises(errors.CheckpointError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        layout.find_start(subcommand, tmp_path, ckpt_path, "unused")


@pytest.mark.parametrize(
    "subcommand, ckpt_path, fragment",
    [
        ("test", None, "No trained checkpoint to test"),
        ("test", "best", "No trained checkpoint to test"),
        ("predict", "last", "no last.ckpt"),
    ],
)
def test_nothing_to_start_from_says_where_it_looked(tmp_path, subcommand, ckpt_path, fragment):
    make_run(tmp_path, "r", finished=False, last=False)
    with pytest.raises(errors.CheckpointError, match=fragment) as error:
        layout.find_start(subcommand, tmp_path, ckpt_path, "fizzlightning fit --config c.yaml")
    assert str(tmp_path) in str(error.value)


def test_fit_ckpt_path_last_with_nothing_to_resume_starts_a_new_run_and_says_so(tmp_path, capsys):
    # Lightning's rule for "last": one job script command starts a run the first time and resumes it later
    make_run(tmp_path, "r", finished=False, last=False)
    plan = layout.plan("fit", tmp_path, "last", 3, "fit", name_run=lambda _: "new")
    assert plan == layout.Plan(tmp_path, tmp_path / "new", None, 3)
    (line,) = capsys.readouterr().err.splitlines()
    assert "no last.ckpt" in line and str(tmp_path) in line and "a new run" in line


def test_a_slurm_job_resumes_its_own_run_and_a_new_job_starts_one(tmp_path):
    mine = make_run(tmp_path, "r1", finished=False, seed=5)
    other = make_run(tmp_path, "r2", finished=False, seed=6)
    (mine / layout.SLURM_JOB).write_text("4242\n")
    (other / layout.SLURM_JOB).write_text("4243\n")
    requeued = layout.find_start("fit", tmp_path, None, "fit", job="4242")
    assert (requeued.ckpt_path, requeued.run, requeued.seed) == (str(mine / "checkpoints" / "last.ckpt"), mine, 5)
    assert layout.find_start("fit", tmp_path, None, "fit", job="4244") == layout.Start()  # a new job: a new run
    (mine / "checkpoints" / "last.ckpt").unlink()  # requeued before its first epoch ended: the run starts over
    assert layout.find_start("fit", tmp_path, None, "fit", job="4242") == layout.Start(
        None, mine, 5, f"SLURM job 4242 was requeued: starting over its run {mine}."
    )


def test_a_job_that_ran_several_fits_resumes_the_newest_of_them(tmp_path):
    # a job script that fits twice, then is requeued: the run it was in when the signal came is its newest
    older, newer = (
        make_run(tmp_path, name, finished=False, seed=1) for name in ("20261203-080000-1", "20261203-090000-2")
    )
    for run in (older, newer):
        (run / layout.SLURM_JOB).write_text("4242\n")
    assert layout.find_start("fit", tmp_path, None, "fit", job="4242").run == newer


@pytest.mark.parametrize(("count", "requeued"), [(None, False), ("0", False), ("1", True), ("12", True), ("x", False)])
def test_only_a_requeued_job_resumes_its_run(monkeypatch, count, requeued):
    # SLURM counts a job's restarts: a job's first start (or a second fit in it) starts a new run
    from fizzlightning.runs import slurm

    if count is None:
        monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    else:
        monkeypatch.setenv("SLURM_RESTART_COUNT", count)
    assert slurm.requeued() is requeued


def test_plan_keeps_a_runs_seed_else_the_configured_one_else_draws_one(tmp_path):
    def plan(subcommand, ckpt_path, seed):
        return layout.plan(subcommand, tmp_path, ckpt_path, seed, "fit", name_run=lambda _: "new", draw_seed=lambda: 42)

    assert plan("fit", None, 3) == layout.Plan(tmp_path, tmp_path / "new", None, 3)
    for unseeded in (None, True, False):
        assert plan("fit", None, unseeded).seed == 42
    run = make_run(tmp_path, "20260101-000000-1", seed=5)
    assert plan("test", None, 3) == layout.Plan(tmp_path, run, str(run / "checkpoints" / "best.ckpt"), 5)
    assert plan("fit", "last", None) == layout.Plan(tmp_path, run, str(run / "checkpoints" / "last.ckpt"), 5)


def test_command_args_drop_the_checkpoint_in_both_spellings():
    argv = ["fit", "--config", "a b.yaml", "--ckpt_path", "last", "--ckpt_path=x", "--trainer.max_epochs", "3"]
    assert layout.command_args(argv, "fit") == "--config 'a b.yaml' --trainer.max_epochs 3"


def test_new_run_names_never_repeat_within_a_second(tmp_path, monkeypatch):
    monkeypatch.setattr(layout.time, "strftime", lambda _: "20260101-000000")
    first = layout.new_run_name(tmp_path)
    (tmp_path / first).mkdir()
    assert layout.new_run_name(tmp_path) == f"{first}-1"


def test_fit_runs_are_the_run_directories_with_a_fit_config_of_every_experiment(tmp_path):
    logs = tmp_path / "lightning_logs"
    finished = make_run(logs / "a", "20260101-000000-1")
    interrupted = make_run(logs / "b", "20260102-000000-1", finished=False)
    make_run(logs / "version_0", "checkpoints", seed=None, finished=False)  # a plain Trainer's: no fit-config.yaml
    assert layout.fit_runs(tmp_path) == [finished, interrupted]
    assert layout.finished_runs(tmp_path) == [finished]
    assert layout.fit_runs(tmp_path / "elsewhere") == []


def test_fit_configs_are_the_first_fits_then_each_resumes(tmp_path):
    run = make_run(tmp_path, "20260101-000000-1")
    assert layout.fit_configs(run) == [run / layout.FIT_CONFIG]
    for _ in range(2):
        layout.command_config(run, "fit").write_text("seed_everything: 0\n")  # what a resume saves
    assert layout.fit_configs(run) == [run / "fit-config.yaml", run / "fit-config-2.yaml", run / "fit-config-3.yaml"]


def test_a_run_name_says_when_and_by_which_process_it_started(tmp_path):
    assert layout.run_start(layout.new_run_name(tmp_path))[1] == os.getpid()
    assert layout.run_start("20260101-000000-7-2") == (time.strptime("20260101-000000", "%Y%m%d-%H%M%S"), 7)
    for other in ("version_0", "mine", "2026-x-1", "20261399-000000-1"):
        assert layout.run_start(other) is None


def test_a_file_system_without_locks_trains_unlocked_and_reads_the_runs_process(tmp_path, monkeypatch):
    # Injected: no lock-less file system (Lustre without flock, a FUSE mount) can be mounted here, so flock fails
    # as it fails there.
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    run = tmp_path / "lightning_logs" / "x" / f"20260101-000000-{os.getpid()}"
    layout.hold(run)  # no error: the run is trained unlocked
    assert (run / layout.LOCK).is_file() and run.absolute() not in layout._HELD
    assert not layout.running(run)  # its process is this one
    dead = tmp_path / "lightning_logs" / "x" / "20260101-000000-999999999"
    dead.mkdir(parents=True)
    (dead / layout.LOCK).touch()
    assert not layout.running(dead)  # started by a process that is gone
