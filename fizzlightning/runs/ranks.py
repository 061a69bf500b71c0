"""One plan for all the processes of a run: rank 0 makes it, every other rank receives it.

A command's plan (``layout.Plan``: the run directory, the checkpoint it starts from, an unseeded run's seed) must be
the same on every rank, and it is needed before anything is built: the seed makes the weights and the data split.
How rank 0's plan reaches the other ranks depends on what started them:

- Lightning's own launcher starts rank 0 first, which starts the other ranks of its node with a copy of its
  environment: the plan travels as an environment variable.
- Every launcher that starts each process itself (SLURM's ``srun``, torchrun, LSF, MPI, one command per
  node with ``NODE_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` and one device each, or ``LOCAL_RANK`` set by a
  launcher of your own): each process joins the process group at once, at the address and port of the cluster
  environment Lightning detects, and rank 0 broadcasts its plan over it. Lightning then finds the group made and
  trains in it.
- Lightning's launcher on several nodes with several devices each starts a node's other processes itself, after the
  plan: node 0 cannot reach the other nodes then. An unseeded run there stops with one line; a seeded run needs only
  rank 0's run directory, the only one written to.
"""

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.environments import (
    ClusterEnvironment,
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
        for key in [key for key in os.environ if key.startswith(ENV_PREFIX)]:
            del os.environ[key]


@dataclass(frozen=True)
class Peers:
    """This process's place among the processes a launcher started, and where they meet."""

    rank: int
    world_size: int
    address: str
    port: int


def _device_count(devices: Any, accelerator: Any) -> int | None:
    """``--trainer.devices`` as a number of processes per node, where it says one; None for ``auto`` on a GPU."""
    if isinstance(devices, int) or (isinstance(devices, str) and devices.isdigit()):
        return int(devices)
    if isinstance(devices, list | tuple):
        return len(devices)
    return 1 if devices == "auto" and str(accelerator) == "cpu" else None


def peers(num_nodes: int, devices: Any, accelerator: Any, seeded: bool) -> Peers | None:
    """The processes started alongside this one that must share its plan, or None when this process plans alone:
    it is the only one, or Lightning's launcher starts the others from it."""
    if PLAN_KEY in os.environ:  # started by Lightning's launcher, with rank 0's plan
        return None
    environment: ClusterEnvironment | None = next((env for env in EXTERNAL if env.detect()), None)
    if environment is SLURMEnvironment:
        environment = SLURMEnvironment(auto_requeue=False)  # only read here; cli.py sets the Trainer's
    elif environment is not None:
        environment = environment()
    if environment is not None:
        rank, world_size = environment.global_rank(), environment.world_size()
    else:
        environment = LightningEnvironment()
        per_node, node = _device_count(devices, accelerator), environment.node_rank()
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
    if world_size <= 1:
        return None
    return Peers(rank, world_size, environment.main_address, environment.main_port)


def _backend(accelerator: Any) -> str:
    """The backend Lightning's DDP would choose (``PL_TORCH_DISTRIBUTED_BACKEND``, else gloo on CPUs, NCCL on
    GPUs); with GPUs, gloo beside it for the plan's broadcast, which travels as a CPU tensor."""
    if os.environ.get("PL_TORCH_DISTRIBUTED_BACKEND"):
        return os.environ["PL_TORCH_DISTRIBUTED_BACKEND"]
    return "gloo" if str(accelerator) == "cpu" or not torch.cuda.is_available() else "cpu:gloo,cuda:nccl"


def join(where: Peers, accelerator: Any) -> None:
    """Join the process group now, as Lightning would later (``MASTER_ADDR``/``MASTER_PORT``, then ``env://``, which
    under torchrun uses its agent's store); Lightning then skips its own ``init_process_group``."""
    if torch.distributed.is_initialized():
        return
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = where.address, str(where.port)
    # the timeout of Lightning's DDP strategies (30 minutes), also for NCCL, whose own default is shorter
    torch.distributed.init_process_group(
        _backend(accelerator), rank=where.rank, world_size=where.world_size, timeout=default_pg_timeout
    )


def _plan_text(plan: Plan) -> str:
    return json.dumps([str(plan.experiment), str(plan.run_dir), plan.ckpt_path, plan.seed])


def _plan_of(text: str) -> Plan:
    experiment, run_dir, ckpt_path, seed = json.loads(text)
    return Plan(Path(experiment), Path(run_dir), ckpt_path, seed)


def agreed_plan(decide: Callable[[], Plan], where: Peers | None, accelerator: Any = "cpu") -> Plan:
    """``decide()`` on rank 0, its plan (or the mistake it raised) on every other rank of the run."""
    if PLAN_KEY in os.environ:  # a process Lightning's launcher started: rank 0's plan
        return _plan_of(os.environ[PLAN_KEY])
    if where is None:
        plan = decide()
    else:
        join(where, accelerator)
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
