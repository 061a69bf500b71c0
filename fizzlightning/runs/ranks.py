"""One decision for all the processes of a run: rank 0 decides, the others receive its answer.

A run's name and an unseeded run's seed must be the same on every rank, and they are needed before
the process group exists (the run directory and the data split are made first). Two launchers:

- Lightning's own DDP launcher starts rank 0 first, which starts the other ranks with a copy of its
  environment: rank 0's answer travels as an environment variable.
- torchrun (or ``torchrun --nnodes N`` on several machines) starts every rank independently. Its
  workers share the agent's key-value store at ``MASTER_ADDR:MASTER_PORT``, which ``init_process_group``
  uses later anyway: rank 0 writes the answer there and the others wait for it.
"""

import os
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from torch.distributed import TCPStore

from fizzlightning.runs.layout import new_run_name

ENV_PREFIX = "FIZZLIGHTNING_AGREED_"  # rank 0's answers, for the ranks Lightning starts
STORE_TIMEOUT = timedelta(minutes=10)  # the other ranks wait this long for rank 0 to reach the same point


def forget_decisions() -> None:
    """A new command, not a worker of one: decide everything anew (one process may run several commands)."""
    if "LOCAL_RANK" not in os.environ:
        for key in [key for key in os.environ if key.startswith(ENV_PREFIX)]:
            del os.environ[key]


def _torchrun_store() -> TCPStore | None:
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    return TCPStore(host, port, is_master=False, timeout=STORE_TIMEOUT)


def agree(name: str, decide: Callable[[], str]) -> str:
    """``decide()`` on rank 0, the same answer on every other rank of the run."""
    env_key = f"{ENV_PREFIX}{name.upper()}"
    if env_key not in os.environ:
        store = _torchrun_store()
        if store is None:
            value = decide()
        else:
            # a torchrun restart (--max-restarts) is a new attempt that decides anew
            key = f"fizzlightning/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/{name}"
            if int(os.environ["RANK"]) == 0:
                value = decide()
                store.set(key, value)
            else:
                value = store.get(key).decode()  # blocks until rank 0 has set it
        os.environ[env_key] = value  # Lightning's launcher passes it to the ranks it starts
    return os.environ[env_key]


def agreed_run_name(experiment: Path) -> str:
    """A new run's name (``runs.new_run_name``), the same on every rank."""
    return agree("run", lambda: new_run_name(experiment))


def agreed_seed() -> int:
    """An unseeded run's seed, drawn once, the same on every rank."""
    return int(agree("seed", lambda: str(random.SystemRandom().randrange(2**31))))
