"""Every launcher a cluster uses, on CPU with gloo, started as Lightning's own tests simulate a cluster: one process
per rank on 127.0.0.1 with the variables the launcher sets. SLURM's ``srun`` is simulated by its variables (no
SLURM here), its ``scontrol`` by a stand-in script on ``PATH``; torchrun is the real one.

Each unseeded run must make one run directory and train the same weights, to the bit, as Lightning's own launcher
with the seed the run recorded: every rank used rank 0's seed, and so its data split and shuffle order.
"""

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fsspec.registry import known_implementations

from benchmarks import launch
from fizzlightning.errors import ConfigError
from fizzlightning.runs import layout, ranks
from tests.helpers import (
    DDP_CPU,
    FIZZBUZZ,
    INTERRUPTIBLE,
    ROOT,
    assert_bit_identical,
    final_state,
    first_checkpoints,
    fizzlightning,
    free_port,
    run_together,
    runs,
    state_dict,
    write,
)

CONFIG = "fizzbuzz.yaml"
UNSEEDED = FIZZBUZZ.replace("seed_everything: 0", "seed_everything: false")
FIZZ = [sys.executable, "-m", "fizzlightning"]
Command = tuple[list[str], dict[str, str]]


def srun(nodes: int, tasks_per_node: int, job: str = "4242") -> Callable[[int, list[str]], list[Command]]:
    """``srun`` with ``--nodes`` and ``--ntasks-per-node``: every task started with SLURM's variables."""
    tasks = nodes * tasks_per_node

    def commands(port: int, args: list[str]) -> list[Command]:
        shape = ["--trainer.num_nodes", str(nodes), "--trainer.devices", str(tasks_per_node)]
        return [
            (
                [*FIZZ, *args, *DDP_CPU, *shape],
                {
                    **slurm_job(job, port),
                    "SLURM_NTASKS": str(tasks),
                    "SLURM_NTASKS_PER_NODE": str(tasks_per_node),
                    "SLURM_NNODES": str(nodes),
                    "SLURM_PROCID": str(rank),
                    "SLURM_LOCALID": str(rank % tasks_per_node),
                    "SLURM_NODEID": str(rank // tasks_per_node),
                },
            )
            for rank in range(tasks)
        ]

    return commands


def slurm_job(job: str, port: int) -> dict[str, str]:
    return {
        "SLURM_JOB_NAME": "fizz",
        "SLURM_JOB_ID": job,
        "SLURM_NODELIST": "127.0.0.1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }


def per_node(nodes: int) -> Callable[[int, list[str]], list[Command]]:
    """Lightning's launch on a general-purpose cluster: one command per node, with ``NODE_RANK``, ``MASTER_ADDR``,
    ``MASTER_PORT`` and ``WORLD_SIZE``, one device each."""

    def commands(port: int, args: list[str]) -> list[Command]:
        shape = ["--trainer.num_nodes", str(nodes), "--trainer.devices", "1"]
        env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(nodes)}
        return [([*FIZZ, *args, *DDP_CPU, *shape], {**env, "NODE_RANK": str(node)}) for node in range(nodes)]

    return commands


def torchrun(nodes: int) -> Callable[[int, list[str]], list[Command]]:
    """``torchrun --nnodes N --nproc-per-node 1``, once per node rank, as on N machines."""

    def commands(port: int, args: list[str]) -> list[Command]:
        shape = ["--trainer.num_nodes", str(nodes), "--trainer.devices", "1"]
        run = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nodes), "--nproc-per-node", "1"]
        run += ["--master-addr", "127.0.0.1", "--master-port", str(port)]
        return [
            ([*run, "--node-rank", str(node), "-m", "fizzlightning", *args, *DDP_CPU, *shape], {})
            for node in range(nodes)
        ]

    return commands


# name: (processes, how they are started)
LAUNCHERS = {
    "srun, 1 node x 2 tasks": (2, srun(1, 2)),
    "srun, 2 nodes x 1 task": (2, srun(2, 1)),
    "srun, 3 tasks": (3, srun(1, 3)),
    "one command per node": (2, per_node(2)),
    "torchrun on 2 node ranks": (2, torchrun(2)),
}


LAUNCH_VARIABLES = ("SLURM_", "MASTER_", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "RANK", "GROUP_RANK", "TORCHELASTIC")


def clear_launch(patch: pytest.MonkeyPatch) -> None:
    """This process as started by no launcher (the test itself may run under one)."""
    for key in [key for key in os.environ if key.startswith((*LAUNCH_VARIABLES, ranks.ENV_PREFIX))]:
        patch.delenv(key)


@pytest.mark.parametrize("launcher", [name for name in LAUNCHERS if "torchrun" not in name])  # its agent sets them
def test_each_process_knows_its_place_among_the_others_before_anything_is_built(launcher):
    processes, commands = LAUNCHERS[launcher]
    found = []
    for command, env in commands(29999, ["fit"]):
        with pytest.MonkeyPatch.context() as patch:
            clear_launch(patch)
            for key, value in env.items():
                patch.setenv(key, value)
            nodes, devices = (command[command.index(f"--trainer.{key}") + 1] for key in ("num_nodes", "devices"))
            found.append(ranks.peers(int(nodes), devices, "cpu", seeded=False))
    assert [peers.rank for peers in found] == list(range(processes))
    assert {(peers.world_size, peers.address, peers.port) for peers in found} == {(processes, "127.0.0.1", 29999)}


def test_a_process_lightnings_launcher_started_takes_rank_0s_plan_and_joins_nothing(monkeypatch):
    clear_launch(monkeypatch)
    plan = layout.Plan(Path("e"), Path("e/r"), None, 7)
    monkeypatch.setenv(ranks.PLAN_KEY, ranks._plan_text(plan))
    monkeypatch.setenv("LOCAL_RANK", "1")  # and devices "auto" on GPUs, which says no number
    assert ranks.peers(1, "auto", "gpu", seeded=False) is None
    assert ranks.agreed_plan(lambda: pytest.fail("only rank 0 plans"), None) == plan


@pytest.mark.parametrize(("devices", "accelerator"), [("auto", "gpu"), (-1, "gpu"), ("0,1", "gpu")])
def test_processes_started_outside_lightning_need_a_number_of_devices(monkeypatch, devices, accelerator):
    # LOCAL_RANK set by the user's own launcher: without a count, ranks cannot be numbered, so no shared plan
    clear_launch(monkeypatch)
    for key, value in {"LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "12910"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=f"--trainer.devices {devices} does not say how many run on each node"):
        ranks.peers(2, devices, accelerator, seeded=False)
    assert ranks.peers(2, "2", accelerator, seeded=False) == ranks.Peers(0, 4, "127.0.0.1", 12910)


def lightnings_launcher(cwd: Path, processes: int, seed: int, config: str = CONFIG) -> Path:
    """The same fit with Lightning's own launcher and the seed given: the reference; its run directory."""
    before = set(runs(cwd, config))
    fizzlightning(
        cwd, "fit", "--config", config, *DDP_CPU, "--trainer.devices", str(processes), "--seed_everything", str(seed)
    )
    (run,) = set(runs(cwd, config)) - before
    return run


def recorded_seed(run: Path) -> int:
    seed = json.loads((run / layout.FINISHED).read_text())["seed"]
    assert type(seed) is int
    return seed


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_an_unseeded_run_is_one_run_with_rank_0s_seed_whatever_started_it(tmp_path, launcher):
    processes, commands = LAUNCHERS[launcher]
    write(tmp_path, CONFIG, UNSEEDED)
    outputs = run_together(tmp_path, commands(free_port(), ["fit", "--config", CONFIG]))
    assert sum(out.count("Trained ") for out in outputs) == 1  # rank 0 alone prints the summary
    (run,) = runs(tmp_path, CONFIG)  # one run directory for every rank
    seed = recorded_seed(run)
    reference = lightnings_launcher(tmp_path, processes, seed)
    assert_bit_identical(
        state_dict(run / "checkpoints" / "last.ckpt"), state_dict(reference / "checkpoints" / "last.ckpt")
    )


def test_one_command_per_node_with_several_devices_each_refuses_an_unseeded_run(tmp_path):
    # Lightning's launcher starts a node's other processes after the plan, when nodes cannot share one any more
    write(tmp_path, CONFIG, UNSEEDED)
    env = launch.environment([ROOT], MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), NODE_RANK="1")
    args = ["fit", "--config", CONFIG, *DDP_CPU, "--trainer.num_nodes", "2", "--trainer.devices", "2"]
    process = launch.start(args, tmp_path, env)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    (line,) = err.strip().splitlines()
    assert "--seed_everything" in line and "srun, torchrun" in line
    assert not (tmp_path / "lightning_logs").exists()


@pytest.mark.parametrize("typed", ["3", "0", "true", "false"])
def test_a_seed_as_the_parser_hands_it_is_a_seed_and_only_then_may_nodes_plan_alone(monkeypatch, typed):
    # jsonargparse hands --seed_everything 3 as its Seed type, an int subclass: that is a seed given, and one
    # command per node with several devices each may then go ahead; true (draw one) or false is unseeded
    from jsonargparse import ArgumentParser

    from fizzlightning.commands.cli import SEED

    parser = ArgumentParser()
    parser.add_argument("--seed_everything", type=bool | SEED)
    value = parser.parse_args(["--seed_everything", typed]).seed_everything
    seeded = typed not in ("true", "false")
    assert layout.is_seed(value) is seeded
    for key in ("LOCAL_RANK", ranks.PLAN_KEY, "SLURM_NTASKS", "SLURM_JOB_NAME", "TORCHELASTIC_RUN_ID", "GROUP_RANK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NODE_RANK", "1")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    if seeded:
        assert ranks.peers(2, 2, "cpu", layout.is_seed(value)) is None  # Lightning's launcher starts the node
    else:
        with pytest.raises(ConfigError, match="--seed_everything"):
            ranks.peers(2, 2, "cpu", layout.is_seed(value))


def stand_in_scontrol(directory: Path) -> dict[str, str]:
    """A ``scontrol`` on ``PATH`` that logs its arguments to ``directory/scontrol.log``: the environment to use."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    script = bin_dir / "scontrol"
    script.write_text(f'#!/bin/sh\necho "$@" >> {directory / "scontrol.log"}\n')
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_slurms_requeue_signal_stops_requeues_and_the_same_command_finishes_the_same_run(tmp_path):
    # srun with 2 tasks; SLURM sends --signal=SIGUSR1@90 to every task; the requeued job runs the same command
    # with the same job id (and SLURM_RESTART_COUNT=1). The signal is real, sent once the first epoch is saved.
    config = write(tmp_path, "long.yaml", INTERRUPTIBLE.replace("seed_everything: 3", "seed_everything: false"))
    commands = srun(1, 2)(free_port(), ["fit", "--config", config])
    scontrol = stand_in_scontrol(tmp_path)
    env = [{**launch.environment([ROOT]), **extra, **scontrol} for _, extra in commands]
    tasks = [launch.start(command[3:], tmp_path, task_env) for (command, _), task_env in zip(commands, env)]
    deadline = time.monotonic() + 180
    while not first_checkpoints(tmp_path):
        assert time.monotonic() < deadline and all(task.poll() is None for task in tasks), [
            t.communicate() for t in tasks
        ]
        time.sleep(0.02)
    for task in tasks:
        task.send_signal(signal.SIGUSR1)
    finished = [task.communicate(timeout=180) for task in tasks]
    assert [task.returncode for task in tasks] == [128 + signal.SIGUSR1] * 2, finished
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"  # rank 0 alone requeued the job
    assert "Requeued SLURM job 4242" in finished[0][0]
    (run,) = runs(tmp_path, config)
    stopped = final_state(run / "checkpoints" / "last.ckpt")["position"]

    requeued = [(command, {**extra, **scontrol, "SLURM_RESTART_COUNT": "1"}) for command, extra in commands]
    run_together(tmp_path, requeued)
    assert runs(tmp_path, config) == [run]  # the same run, finished
    assert (run / layout.FINISHED).is_file()
    assert final_state(run / "checkpoints" / "last.ckpt")["position"] > stopped
    assert not list(tmp_path.rglob("hpc_ckpt_*"))  # Lightning's own requeue checkpoint is not written
    reference = lightnings_launcher(tmp_path, 2, recorded_seed(run), config)
    assert_bit_identical(
        final_state(run / "checkpoints" / "last.ckpt"), final_state(reference / "checkpoints" / "last.ckpt")
    )


def test_a_requeued_job_whose_run_another_fit_holds_stops_every_task_in_one_line(tmp_path):
    """Rank 0 takes the run's lock as part of the plan it broadcasts, so a refusal reaches every task through the
    process group: no task is left waiting there for a rank 0 that has gone."""
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    scontrol = stand_in_scontrol(tmp_path)
    commands = srun(1, 2)(free_port(), ["fit", "--config", config])
    run_together(tmp_path, [(command, {**extra, **scontrol}) for command, extra in commands])
    (run,) = runs(tmp_path, config)
    (run / layout.FINISHED).unlink()  # interrupted, as a job's end leaves it
    layout.hold(run)  # another fit trains it now (this process, as a resume in another terminal would)
    requeued = srun(1, 2)(free_port(), ["fit", "--config", config])
    env = [{**launch.environment([ROOT]), **extra, **scontrol, "SLURM_RESTART_COUNT": "1"} for _, extra in requeued]
    tasks = [launch.start(command[3:], tmp_path, task_env) for (command, _), task_env in zip(requeued, env)]
    try:
        finished = [task.communicate(timeout=240) for task in tasks]  # a task left in the process group times out
    finally:
        layout.release()
        for task in tasks:
            task.kill()
    assert [task.returncode for task in tasks] == [2, 2], finished
    for _, err in finished:
        *note, line = err.strip().splitlines()  # the requeue's note ("resuming its run ..."), then the refusal
        assert line.startswith(f"fizzlightning: error: {run} is being trained by another fit right now"), err
        assert len(note) <= 1 and "Traceback" not in err, err
    assert sorted(p.name for p in run.glob("fit-config*.yaml")) == ["fit-config.yaml"]  # nothing written into it


def test_a_new_slurm_job_refuses_lightnings_leftover_hpc_checkpoint_in_one_line(tmp_path):
    # Lightning's Trainer would restore it into the new run (and fail on it): the file is an older version's
    write(tmp_path, CONFIG, FIZZBUZZ)
    (tmp_path / "hpc_ckpt_1.ckpt").write_bytes(b"")
    env = launch.environment([ROOT], **slurm_job("4243", free_port()), SLURM_NTASKS="1", SLURM_PROCID="0")
    process = launch.start(["fit", "--config", CONFIG], tmp_path, env)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    (line,) = err.strip().splitlines()
    assert "hpc_ckpt_1.ckpt" in line and "move it out" in line
    assert not list(tmp_path.glob("lightning_logs/*/*/checkpoints"))


@pytest.mark.parametrize("protocol", sorted(set(known_implementations) - {"file", "local"}))
def test_a_root_with_a_url_scheme_is_refused_not_made_a_local_folder(protocol):
    with pytest.raises(ConfigError, match=f"not to {protocol}:// storage"):
        layout.local_root(f"{protocol}://bucket/runs")


@pytest.mark.parametrize("option", ["--trainer.default_root_dir", "--trainer.logger.save_dir"])
def test_fit_into_a_bucket_is_one_line_before_anything_trains(tmp_path, option):
    write(tmp_path, CONFIG, FIZZBUZZ)
    logger = ["--trainer.logger", "CSVLogger"] if "logger" in option else []
    process = launch.start(
        ["fit", "--config", CONFIG, *logger, option, "s3://bucket/runs"], tmp_path, launch.environment([ROOT])
    )
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"fizzlightning: error: {option} s3://bucket/runs:")
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG]  # no folder named s3:, no run
