"""One plan for all the processes of a run: rank 0 makes it (``layout.Plan``: the run directory, the checkpoint it
starts from, an unseeded run's seed), every other rank receives it before anything is built. docs/distributed.md
("One run for all ranks") says how it travels for each launcher: in the environment of the ranks Lightning's own
launcher starts, over a process group joined at once under every launcher that starts each process itself.
"""

import json
import os
import random
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.environments import (
    LightningEnvironment,
    LSFEnvironment,
    MPIEnvironment,
    SLURMEnvironment,
    TorchElasticEnvironment,
)
from torch.distributed.constants import default_pg_timeout

from fizzlightning.errors import ConfigError
from fizzlightning.runs.layout import Plan

ENV_PREFIX = "FIZZLIGHTNING_AGREED_"  # rank 0's answers, for the ranks Lightning starts
PLAN_KEY = f"{ENV_PREFIX}PLAN"
# Lightning's order of detection (its accelerator connector); LightningEnvironment when none is detected
EXTERNAL = (TorchElasticEnvironment, SLURMEnvironment, LSFEnvironment, MPIEnvironment)


def forget_decisions() -> None:
    """A new command, not a worker of one: decide everything anew (one process may run several commands)."""
    if "LOCAL_RANK" not in os.environ:
        os.environ.pop(PLAN_KEY, None)


@dataclass(frozen=True)
class Peers:
    """This process's place among the processes a launcher started, and where they meet."""

    rank: int
    world_size: int
    address: str
    port: int


def peers(num_nodes: int, devices: Any, accelerator: Any, seeded: bool) -> Peers | None:
    """The processes started alongside this one that must share its plan, or None when this process plans alone:
    it is the only one, or Lightning's launcher starts the others from it (or started this one, with the plan)."""
    if PLAN_KEY in os.environ:
        return None
    # only read here: cli.py gives the Trainer SLURM's environment without Lightning's requeue
    environment = next((env() for env in EXTERNAL if env.detect()), None)
    if environment is not None:
        rank, world_size = environment.global_rank(), environment.world_size()
    else:
        environment = LightningEnvironment()
        node = environment.node_rank()
        if isinstance(devices, list | tuple):  # --trainer.devices as processes per node; None: auto on a GPU
            per_node = len(devices)
        elif str(devices).isdigit():
            per_node = int(devices)
        else:
            per_node = 1 if devices == "auto" and str(accelerator) == "cpu" else None
        if "LOCAL_RANK" in os.environ:  # every process started by hand or by a launcher of the user's
            if per_node is None:
                raise ConfigError(
                    f"LOCAL_RANK is set, so every process was started outside Lightning, but --trainer.devices "
                    f"{devices} does not say how many run on each node: pass the number."
                )
            rank, world_size = node * per_node + environment.local_rank(), num_nodes * per_node
        elif num_nodes > 1 and per_node == 1:  # one command per node, one process each
            rank, world_size = node, num_nodes
        elif num_nodes > 1 and not seeded:
            raise ConfigError(
                f"An unseeded run on {num_nodes} nodes started one command per node with --trainer.devices {devices}: "
                "each node would draw its own seed, and so its own data split. Pass --seed_everything N, or start "
                "every process with its own launcher (srun, torchrun), which shares one seed."
            )
        else:
            return None
    return Peers(rank, world_size, environment.main_address, environment.main_port) if world_size > 1 else None


def _plan_text(plan: Plan) -> str:
    return json.dumps(astuple(plan), default=str)


def agreed_plan(decide: Callable[[], Plan], where: Peers | None, accelerator: Any = "cpu") -> Plan:
    """``decide()`` on rank 0, its plan (or the mistake it raised) on every other rank of the run."""
    if PLAN_KEY in os.environ:  # a process Lightning's launcher started: rank 0's plan
        experiment, run_dir, ckpt_path, seed = json.loads(os.environ[PLAN_KEY])
        return Plan(Path(experiment), Path(run_dir), ckpt_path, seed)
    if where is None:
        plan = decide()
    else:
        if not torch.distributed.is_initialized():
            # Join now as Lightning would later (env://: under torchrun, its agent's store), with Lightning's backend
            # (gloo beside NCCL for this CPU broadcast) and DDP timeout (30 minutes; NCCL's own is shorter).
            os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = where.address, str(where.port)
            cpu = str(accelerator) == "cpu" or not torch.cuda.is_available()
            backend = os.environ.get("PL_TORCH_DISTRIBUTED_BACKEND") or ("gloo" if cpu else "cpu:gloo,cuda:nccl")
            torch.distributed.init_process_group(
                backend, rank=where.rank, world_size=where.world_size, timeout=default_pg_timeout
            )
        answer: list[Any] = [None]
        if where.rank == 0:
            try:
                answer = [decide()]
            except Exception as error:  # the others would wait for a plan that never comes
                answer = [error]
        torch.distributed.broadcast_object_list(answer, src=0, device=torch.device("cpu"))
        if isinstance(answer[0], Exception):
            raise answer[0]
        plan = answer[0]
    os.environ[PLAN_KEY] = _plan_text(plan)  # Lightning's launcher passes it to the ranks it starts
    return plan


def draw_seed() -> int:
    """An unseeded run's seed (rank 0 draws it: ``agreed_plan``)."""
    return random.SystemRandom().randrange(2**31)
