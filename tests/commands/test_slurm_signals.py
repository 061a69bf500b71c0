"""SLURM's requeue signal (``sbatch --signal=SIGUSR1@90``) whenever it comes in a ``fit`` of a job, not only while
training: in the set-up the fit stops before training and requeues the job, whose same command starts the run over;
in the final exports the run's files are finished and the job is not requeued. Python's default for SIGUSR1 would
end the process at once in both.

The tasks are ``srun``'s, simulated by SLURM's variables and a stand-in ``scontrol`` (as in test_launchers.py); the
signal is real (``os.kill``), sent at a moment the test observes, never after a sleep: the set-up's once the kernel
reports the process catching SIGUSR1 (``/proc/PID/status``), which ``fit`` does before it imports torch, seconds
before training can begin; the exports' once ``model.pt``, the first file written after training, is there.
"""

import json
import os
import signal
import time
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel

from benchmarks import launch
from fizzlightning.commands.main import main
from fizzlightning.deploy.export import FILES
from fizzlightning.runs import layout, slurm
from fizzlightning.runs.run_checkpoint import RunCheckpoint
from tests.commands.test_launchers import srun, stand_in_scontrol
from tests.helpers import FIZZBUZZ, ROOT, first_checkpoints, free_port, run_together, runs, write

CONFIG = "fizzbuzz.yaml"
STOPPED = 128 + signal.SIGUSR1


def catches(pid: int, signum: int = signal.SIGUSR1) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` now: the kernel's mask of caught signals."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (signum - 1) & 1)


def wait_until(ready, tasks, what: str, timeout: float = 180.0) -> None:
    """Poll ``ready()`` while every task runs; a task that ends first, or the timeout, fails the test."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline or any(task.poll() is not None for task in tasks):
            for task in tasks:
                task.kill()
            pytest.fail(f"never saw {what}: {[task.communicate() for task in tasks]}")
        time.sleep(0.002)


def start_job(tmp_path: Path, tasks: int):
    """The job's ``srun`` tasks of ``fit --config CONFIG``, started, with a stand-in ``scontrol``; with them, the
    commands and their SLURM variables, for the requeued job."""
    commands = srun(1, tasks)(free_port(), ["fit", "--config", CONFIG])
    scontrol = stand_in_scontrol(tmp_path)
    env = [{**launch.environment([ROOT]), **extra, **scontrol} for _, extra in commands]
    return [launch.start(command[3:], tmp_path, task_env) for (command, _), task_env in zip(commands, env)], commands


def listed(tmp_path: Path) -> list[dict]:
    """``fizzlightning runs --json``: every run and its state."""
    process = launch.start(["runs", "--root", str(tmp_path), "--json"], tmp_path, launch.environment([ROOT]))
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out)


def requeued(tmp_path: Path, commands) -> list[str]:
    """The requeued job: the same tasks with the same job id, ``SLURM_RESTART_COUNT=1``; their stdouts."""
    scontrol = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    return run_together(tmp_path, [(c, {**extra, **scontrol, "SLURM_RESTART_COUNT": "1"}) for c, extra in commands])


@pytest.mark.parametrize(
    ("tasks", "signalled"), [(1, [0]), (2, [0, 1]), (2, [1])], ids=["1 task", "srun 2 tasks", "rank 1 first"]
)
def test_the_signal_in_the_set_up_stops_before_training_requeues_and_the_requeued_job_trains_the_run(
    tmp_path, tasks, signalled
):
    # SLURM signals every task of the job; "rank 1 first": rank 0's own signal has not come yet when the ranks
    # decide, and it stops with the others all the same (it never comes here)
    write(tmp_path, CONFIG, FIZZBUZZ)
    running, commands = start_job(tmp_path, tasks)
    wait_until(lambda: all(catches(task.pid) for task in running), running, "SIGUSR1 caught")
    for rank in signalled:  # while they import torch
        os.kill(running[rank].pid, signal.SIGUSR1)
    ended = [task.communicate(timeout=180) for task in running]
    assert [task.returncode for task in running] == [STOPPED] * tasks, ended
    assert all("Traceback" not in err for _, err in ended), ended
    (line,) = ended[0][0].strip().splitlines()  # rank 0 says it, in one line
    assert line.startswith("SIGUSR1 received before training began: stopped without training. Requeued")
    assert all(out == "" for out, _ in ended[1:])
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"  # rank 0 alone requeued the job
    (run,) = runs(tmp_path, CONFIG)  # made, nothing trained in it: the job's run, which its requeue starts over
    assert not list(run.glob("checkpoints/*.ckpt")) and (run / layout.SLURM_JOB).read_text() == "4242\n"
    (state,) = listed(tmp_path)
    assert (state["state"], state["epochs"]) == ("interrupted", None)
    if len(signalled) < tasks:
        return  # the requeued job is the same as when every task had the signal

    requeued(tmp_path, commands)
    assert runs(tmp_path, CONFIG) == [run]  # the same run, trained to its end
    (state,) = listed(tmp_path)
    assert (state["state"], state["epochs"]) == ("finished", 2)
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"  # not requeued again


def test_the_signal_in_the_final_exports_lets_them_finish_and_the_job_is_not_requeued(tmp_path):
    write(tmp_path, CONFIG, FIZZBUZZ)
    running, commands = start_job(tmp_path, 1)
    (task,) = running
    wait_until(lambda: any(tmp_path.glob(f"lightning_logs/*/*/{FILES['pt']}")), running, FILES["pt"])
    os.kill(task.pid, signal.SIGUSR1)  # training is over: model.pt2 and fit.json are being written
    out, err = task.communicate(timeout=180)
    assert task.returncode == 0, err
    assert "Traceback" not in err
    *summary, line = out.strip().splitlines()
    assert (
        line == "SIGUSR1 received after training ended: nothing is left to resume, so SLURM job 4242 is not requeued."
    )
    assert any(text.startswith("Next: fizzlightning test") for text in summary)  # the summary of a finished run
    assert not (tmp_path / "scontrol.log").exists()
    (run,) = runs(tmp_path, CONFIG)
    assert all((run / name).is_file() for name in (FILES["pt"], FILES["pt2"], layout.FINISHED))
    (state,) = listed(tmp_path)
    assert (state["state"], state["epochs"]) == ("finished", 2)

    (again,) = requeued(tmp_path, commands)  # had the job been requeued all the same: nothing to train
    assert f"{run} is finished" in again
    assert runs(tmp_path, CONFIG) == [run] and listed(tmp_path) == [state]


def test_a_signal_caught_while_the_trainer_set_up_stops_the_run_at_the_end_of_its_first_epoch(tmp_path):
    # After fit's check and before the training loop (the Trainer's own set-up), the signal goes to the command's
    # handler; RunCheckpoint takes it over. Sent here to this process, before fit: the same state as then.
    caught = slurm.RequeueSignal()
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert caught.received
        checkpoint = RunCheckpoint(tmp_path, "loss", "min", caught)
        trainer = L.Trainer(
            max_epochs=4, limit_train_batches=2, limit_val_batches=1, logger=False, enable_progress_bar=False,
            callbacks=[checkpoint], enable_model_summary=False,
        )  # fmt: skip
        model = BoringModel()
        model.validation_step = lambda batch, batch_idx: model.log("loss", 1.0)
        trainer.fit(model, BoringDataModule())
        assert signal.getsignal(signal.SIGUSR1).__self__ is caught  # Lightning's teardown gave it back
    finally:
        caught.release()
    assert checkpoint.signal_received == signal.SIGUSR1 and not caught.received
    assert trainer.current_epoch == 1 and (tmp_path / "last.ckpt").is_file()


def test_outside_a_job_of_ours_the_signal_does_what_it_did(tmp_path):
    # fit catches SIGUSR1 wherever SLURM_JOB_ID is set, before Lightning can tell whether the process is a task of
    # the job: an interactive job's shell is not (nor torchrun inside a job). There it lets the signal go again, and
    # one caught meanwhile does what it would have done: Python's default ends the process.
    write(tmp_path, CONFIG, FIZZBUZZ)
    env = launch.environment([ROOT], SLURM_JOB_ID="4245", SLURM_JOB_NAME="interactive", SLURM_NTASKS="1")
    task = launch.start(["fit", "--config", CONFIG], tmp_path, env)
    wait_until(lambda: catches(task.pid), [task], "SIGUSR1 caught")
    os.kill(task.pid, signal.SIGUSR1)
    out, err = task.communicate(timeout=180)
    assert task.returncode == -signal.SIGUSR1, (out, err)
    assert not list(tmp_path.glob("lightning_logs/*/*/fit-config.yaml"))  # ended in its set-up, as it always did


def test_a_fit_run_in_process_in_a_job_gives_the_signal_back_to_its_program(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # a task of a job, as srun starts one, but run inside this program: the handler it had before is its own again
    for key, value in {"SLURM_JOB_ID": "4244", "SLURM_JOB_NAME": "fizz", "SLURM_NTASKS": "1", "SLURM_PROCID": "0",
                       "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "127.0.0.1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    mine = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    try:
        main(["fit", "--config", write(tmp_path, CONFIG, FIZZBUZZ)])
        (run,) = runs(tmp_path, CONFIG)
        assert (run / layout.SLURM_JOB).read_text() == "4244\n"  # a job's fit: it caught the signal
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGUSR1, mine)


JOB = {"SLURM_JOB_ID": "4246", "SLURM_JOB_NAME": "fizz", "SLURM_NTASKS": "1", "SLURM_PROCID": "0",
       "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "127.0.0.1"}  # fmt: skip


def test_a_resume_in_a_job_catches_the_signal_while_it_looks_for_its_run(tmp_path, monkeypatch):
    # A bare ``fit --ckpt_path last`` reads the runs' checkpoints to find the one to resume (seconds with many runs,
    # torch imported): the signal is caught from before that. Observed in-process by wrapping the lookup (injected:
    # the lookup is too short to aim a real signal at), which asks the kernel whether the process catches SIGUSR1.
    monkeypatch.chdir(tmp_path)
    for key, value in JOB.items():
        monkeypatch.setenv(key, value)
    from fizzlightning.commands import main as main_module

    seen = []
    lookup = main_module.with_run_config
    monkeypatch.setattr(main_module, "with_run_config", lambda *a: seen.append(catches(os.getpid())) or lookup(*a))
    mine = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    try:
        main(["fit", "--config", write(tmp_path, CONFIG, FIZZBUZZ), "--trainer.max_epochs", "1"])
        (run,) = runs(tmp_path, CONFIG)
        (run / layout.FINISHED).unlink()  # as a run stopped before its end: one a bare resume takes
        main(["fit", "--ckpt_path", "last", "--trainer.max_epochs", "2"])
    finally:
        signal.signal(signal.SIGUSR1, mine)
    assert seen == [True, True]
    assert layout.read_fit(run)["epochs"] == 2 and runs(tmp_path, CONFIG) == [run]


def test_a_smoke_test_in_a_job_is_no_job_of_ours(tmp_path):
    # --trainer.fast_dev_run keeps no run for a requeued job to resume: SIGUSR1 ends it as Python's default does
    write(tmp_path, CONFIG, FIZZBUZZ)
    env = launch.environment([ROOT], SLURM_RESTART_COUNT="0", **JOB)
    task = launch.start(["fit", "--config", CONFIG, "--trainer.fast_dev_run", "1"], tmp_path, env)
    wait_until(lambda: catches(task.pid), [task], "SIGUSR1 caught")
    os.kill(task.pid, signal.SIGUSR1)
    out, err = task.communicate(timeout=180)
    assert task.returncode == -signal.SIGUSR1, (out, err)
    assert "Requeued" not in out and not list(tmp_path.glob("lightning_logs/*/*/fit-config.yaml"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, slurm.REQUEUE_SIGNAL], ids=lambda signum: signum.name)
def test_a_signal_to_one_rank_in_training_stops_every_rank_alike(tmp_path, signum):
    # The signal comes to rank 1 alone (a node's tasks signalled, the others' not yet): every rank stops as stopped by
    # it, rank 0 says how to resume and requeues the job for SLURM's signal; none writes a finished run's files.
    write(tmp_path, CONFIG, FIZZBUZZ.replace("max_epochs: 2", "max_epochs: 200"))  # still training when signalled
    running, _ = start_job(tmp_path, 2)
    wait_until(lambda: first_checkpoints(tmp_path), running, "last.ckpt")
    os.kill(running[1].pid, signum)
    ended = [task.communicate(timeout=180) for task in running]
    assert [task.returncode for task in running] == [128 + signum] * 2, ended
    assert all("Traceback" not in err for _, err in ended), ended
    assert any(line.startswith("Interrupted. Resume with: ") for line in ended[0][0].splitlines()), ended[0]
    requeues = ["requeue 4242"] * (signum == slurm.REQUEUE_SIGNAL)  # rank 0's, once
    log = tmp_path / "scontrol.log"
    assert (log.read_text().splitlines() if log.exists() else []) == requeues
    (run,) = runs(tmp_path, CONFIG)
    assert not (run / layout.FINISHED).exists() and not (run / FILES["pt"]).exists()
    (state,) = listed(tmp_path)
    assert state["state"] == "interrupted"
