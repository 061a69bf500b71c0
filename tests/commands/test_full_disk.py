"""A real full disk: a small tmpfs, filled to the last byte at a chosen point of a command (``helpers.FillDisk``).

The kernel's ENOSPC reaches each file where it really arrives (inside torch's, TensorBoard's or our own write), and
each ends in one line and exit 1; the files written before are intact; once there is space again, the printed
command finishes the run. ``model.pt2`` and ``fit.json`` follow other writes of the same moment, so there the disk is
filled by wrapping the write before them: the ENOSPC is still the kernel's.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from fizzlightning.deploy import export
from tests.helpers import FIZZBUZZ, assert_kept, digests, fill, runs, write

CONFIG = "fizzbuzz.yaml"
FILL = "--trainer.callbacks+=tests.helpers.FillDisk"


@pytest.fixture
def disk(tmp_path):
    """A 16 MB tmpfs at ``tmp_path/disk`` (root only, as in CI), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def written_before_the_fill(disk: Path) -> dict[str, list]:
    return json.loads((disk.parent / "filled.json").read_text())


def one_error_line(err: str) -> str:
    assert "Traceback" not in err and "Exception in thread" not in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("fizzlightning: error:")]
    return line


def filled_at(hook: str, mount: Path, epoch: int = 0, event: bool = False) -> list[str]:
    """The test's filler as a callback of the command: at ``hook``, and then a TensorBoard event if ``event``."""
    return (
        [FILL, "--trainer.callbacks.hook", hook, "--trainer.callbacks.epoch", str(epoch)]
        + (["--trainer.callbacks.directory", str(mount)] if hook == "init" else [])
        + (["--trainer.callbacks.event", "true"] if event else [])
    )


def start(tmp_path: Path, mount: Path) -> list[str]:
    config = write(tmp_path, CONFIG, FIZZBUZZ)
    return ["--config", config, "--trainer.default_root_dir", str(mount)]


@pytest.mark.parametrize(
    "hook, epoch, failed, resumable",
    [
        ("init", 0, "fit-config.yaml", False),  # before the command has written a file
        ("on_train_start", 0, None, False),  # TensorBoard's events (an event written then): it names no file
        ("on_validation_end", 1, "checkpoints/best.ckpt", True),  # epoch 1's checkpoints; epoch 0's are kept
        ("on_fit_end", 0, "model.pt", True),  # after training, the first of the run's files
    ],
    ids=["saved config", "TensorBoard events", "checkpoint", "model.pt"],
)
def test_fit_on_a_full_disk_is_one_line_and_the_printed_command_finishes(
    cli, tmp_path, capfd, disk, hook, epoch, failed, resumable
):
    args = start(tmp_path, disk)
    filler = filled_at(hook, disk, epoch, event=failed is None)
    assert cli("fit", *args, *filler) == 1
    (run,) = runs(disk, CONFIG)
    line = one_error_line(capfd.readouterr().err)
    where = run / failed if failed else f"into {run}"
    assert line.startswith(f"fizzlightning: error: Could not write {where}: the disk is full. The run's earlier files")
    if resumable:
        typed = " ".join([*args, *filler])
        assert line.endswith(f"Free some space, then resume with: fizzlightning fit {typed} --ckpt_path last")
    else:
        assert "Free some space, then run it again: fizzlightning fit " in line
    before = written_before_the_fill(disk)
    assert_kept(before, disk)
    assert not (run / "fit.json").exists()

    (disk / "filler").unlink()  # space again: the printed command, less the test's filler
    assert cli("fit", *args, *(["--ckpt_path", "last"] if resumable else [])) == 0
    assert_kept(before, disk, but=("checkpoints",))  # a resume moves its checkpoints on
    finished = [r for r in runs(disk, CONFIG) if (r / "fit.json").is_file()]
    assert finished == ([run] if resumable else [runs(disk, CONFIG)[-1]])
    assert cli("test", *args) == 0
    assert "Score on 1..100: " in capfd.readouterr().out


@pytest.mark.parametrize("after, failed", [("export_state_dict", "model.pt2"), ("export_program", "fit.json")])
def test_the_files_after_training_on_a_full_disk(cli, tmp_path, capfd, disk, monkeypatch, after, failed):
    args = start(tmp_path, disk)
    original = getattr(export, after)  # finish.py calls export.export_state_dict, then export.export_program

    def then_fill(*given):
        result = original(*given)
        fill(disk)
        return result

    with monkeypatch.context() as patch:
        patch.setattr(export, after, then_fill)
        assert cli("fit", *args) == 1
    (run,) = runs(disk, CONFIG)
    line = one_error_line(capfd.readouterr().err)
    assert line.startswith(f"fizzlightning: error: Could not write {run / failed}: the disk is full.")
    assert line.endswith("--ckpt_path last")
    before = written_before_the_fill(disk)
    assert_kept(before, disk)
    assert str(run.relative_to(disk) / "model.pt") in before  # written before the disk filled, and kept

    (disk / "filler").unlink()
    assert cli("fit", *args, "--ckpt_path", "last") == 0  # trains nothing more and writes the run's files
    assert_kept(before, disk)
    assert json.loads((run / "fit.json").read_text())["epochs"] == 2


@pytest.mark.parametrize(
    "command, hook, failed",
    [
        ("test", "init", "test-config.yaml"),
        ("test", "on_test_start", None),  # the test's TensorBoard events
        ("predict", "init", "predict-config.yaml"),
        ("predict", "on_predict_start", "predictions.csv"),
    ],
)
def test_test_and_predict_on_a_full_disk_keep_the_run(cli, tmp_path, capfd, disk, command, hook, failed):
    args = start(tmp_path, disk)
    assert cli("fit", *args) == 0
    (run,) = runs(disk, CONFIG)
    capfd.readouterr()
    before = digests(disk)
    assert cli(command, *args, *filled_at(hook, disk, event=failed is None)) == 1
    line = one_error_line(capfd.readouterr().err)
    where = run / failed if failed else f"into {run}"
    assert line.startswith(f"fizzlightning: error: Could not write {where}: the disk is full.")
    assert f"Free some space, then run it again: fizzlightning {command} " in line
    assert_kept(before, disk)

    (disk / "filler").unlink()
    assert cli(command, *args) == 0
    assert_kept(before, disk)


def test_a_disk_full_before_fit_starts_is_said_before_anything_runs(cli, tmp_path, capfd, disk):
    args = start(tmp_path, disk)
    fill(disk)
    assert cli("fit", *args) == 2
    line = one_error_line(capfd.readouterr().err)
    assert line.startswith("fizzlightning: error: Cannot write to ")
    assert line.endswith("the disk is full. Free some space first.")


def test_lightnings_own_checkpoint_save_spoils_the_previous_file_on_a_full_disk_and_ours_keeps_it(disk):
    """Why ``AtomicCheckpointIO`` replaces Lightning's ``TorchCheckpointIO``: Lightning writes the new file in the
    system's temporary directory and moves it over the old one, which across disks is a copy into the old file.
    Should this start failing for Lightning's, its own save has become whole-or-nothing and ours can go."""
    import torch
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    from fizzlightning.errors import WriteError
    from fizzlightning.runs.checkpoints import AtomicCheckpointIO

    path = disk / "last.ckpt"
    for io, refused, whole in [(TorchCheckpointIO(), OSError, False), (AtomicCheckpointIO(), WriteError, True)]:
        io.save_checkpoint({"w": torch.ones(1_000_000)}, path)  # 4 MB of the disk's 16
        with pytest.raises(refused):
            io.save_checkpoint({"w": torch.ones(5_000_000)}, path)  # 20 MB: more than the disk holds
        try:
            kept = torch.load(path, weights_only=True)["w"].numel() == 1_000_000
        except RuntimeError:  # torch's "PytorchStreamReader failed reading zip archive"
            kept = False
        assert kept is whole, type(io).__name__
        path.unlink()
