"""Every private name in ``fizzlightning/internals.py`` still exists and does what the package assumes of it."""

import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import lightning as L
import pytest
from lightning.fabric.plugins.environments import LightningEnvironment
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel

from fizzlightning import internals


def test_every_private_name_is_still_there():
    from lightning.pytorch.cli import LightningCLI

    for owner, name in [
        (LightningCLI, "_parse_ckpt_path"),
        (LightningCLI, "_set_seed"),
        (LightningCLI, "_prepare_subcommand_parser"),
        (LightningCLI, "_parser"),
    ]:
        assert callable(getattr(owner, name, None)), f"{owner.__name__}.{name} is gone"


class Recorded(internals.CLIHooks):
    def plan_run(self) -> None:
        self.calls.append("plan_run")
        super().plan_run()

    def seed_run(self) -> None:
        self.calls.append("seed_run")
        super().seed_run()

    def subcommand_parser_built(self, parser, subcommand):
        self.calls.append(f"parser {subcommand}")
        return parser


def test_the_cli_hooks_are_called_in_lightnings_order_and_the_parser_dumps_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Recorded.calls = []
    monkeypatch.setattr(sys, "argv", ["fizzlightning"])
    cli = Recorded(BoringModel, BoringDataModule, args=["fit", "--trainer.fast_dev_run", "1", "--seed_everything", "7"])
    assert Recorded.calls.index("parser fit") < Recorded.calls.index("plan_run") < Recorded.calls.index("seed_run")
    assert "seed_everything: 7" in cli.subcommand_parser("fit").dump(cli.config["fit"])


def test_emptying_the_launchers_list_ends_its_observer_without_killing_a_process():
    import inspect

    from lightning.fabric.strategies.launchers.subprocess_script import _ChildProcessObserver
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    assert "_launch_process_observer(self.procs)" in inspect.getsource(_SubprocessScriptLauncher.launch)  # same list
    launcher = _SubprocessScriptLauncher(LightningEnvironment(), num_processes=2, num_nodes=1)
    launcher.procs.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
    (child,) = launcher.procs
    trainer = SimpleNamespace(strategy=SimpleNamespace(launcher=launcher))
    try:
        observer = _ChildProcessObserver(main_pid=os.getpid(), child_processes=launcher.procs, sleep_period=0.05)
        observer.start()
        threading.Event().wait(0.2)  # a few polls: a live child keeps it watching
        assert observer.is_alive() and internals.launched_processes(trainer) == [child]
        internals.stop_process_observer(trainer)
        observer.join(timeout=5)
        assert not observer.is_alive() and child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_litserve_still_has_the_worker_monitor_switch():
    litserve = pytest.importorskip("litserve")
    import inspect

    server = litserve.LitServer(litserve.test_examples.SimpleLitAPI(), accelerator="cpu", devices=1)
    assert server._monitor_workers is True and "if self._monitor_workers" in inspect.getsource(type(server))
    internals.without_worker_monitor(server)
    assert server._monitor_workers is False


def test_argparse_lists_a_parsers_options():
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    assert [action.option_strings for action in internals.parser_actions(parser)] == [["-h", "--help"], ["--config"]]


def test_trainer_without_a_launcher_has_no_launched_processes():
    assert internals.launched_processes(L.Trainer(accelerator="cpu", devices=1, logger=False)) == []
