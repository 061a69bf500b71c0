"""A resume is exact after a stop anywhere: `fit --trainer.max_steps M1`, inside an epoch or at its end, then
`fit --ckpt_path last` with more steps or with epochs instead, ends with the weights, optimizer, scheduler and position
of one uninterrupted fit, to the bit, as users type the commands."""

import itertools
import json
from pathlib import Path

import pytest
import torch

from fizzlightning.commands.main import main
from fizzlightning.data.batches import TensorBatches
from fizzlightning.models.base import EPOCH_STEPS
from tests.helpers import CONFIGS as CONFIGS_DIR
from tests.helpers import (
    DDP_CPU,
    FIZZBUZZ,
    INTERRUPTIBLE,
    REGRESSOR,
    assert_bit_identical,
    digests,
    final_state,
    fizzlightning,
    only_run,
    write,
)

# automatic optimisation (FizzBuzz, momentum and a StepLR), the GAN's manual steps on paintings drawn afresh each
# epoch, and the regressor's hand-written backprop, which steps its scheduler itself at each epoch's end
CONFIGS = {
    "fizzbuzz": (INTERRUPTIBLE, []),
    "gan": (
        (CONFIGS_DIR / "gan.yaml").read_text(),
        ["--data.init_args.steps_per_epoch", "8", "--data.init_args.eval_paintings", "50"],
    ),
    "regressor": (
        REGRESSOR,
        ["--lr_scheduler", "torch.optim.lr_scheduler.StepLR", "--lr_scheduler.step_size", "1",
         "--lr_scheduler.gamma", "0.9"],
    ),
}  # fmt: skip
LONG = ["--trainer.max_epochs", "100"]


def fit_run(directory: Path, name: str, *args: str) -> Path:
    """``fizzlightning fit --config NAME.yaml ARGS`` as typed in ``directory``; its one run."""
    directory.mkdir(exist_ok=True)
    text, options = CONFIGS[name]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        main(["fit", "--config", write(directory, f"{name}.yaml", text), *options, *args])
    return only_run(directory)


def last(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


# where the first fit stops: inside its second epoch, or at its first epoch's end; then how the resume goes on:
# to a number of steps inside a later epoch, or to a number of epochs (max_steps no longer given)
STOPS = ["inside an epoch", "at an epoch's end"]
GOES_ON = ["max_steps", "max_epochs"]


@pytest.mark.parametrize(("name", "stop", "goes_on"), list(itertools.product(CONFIGS, STOPS, GOES_ON)))
def test_a_resume_after_a_max_steps_stop_is_exact(tmp_path, name, stop, goes_on):
    per_epoch = last(fit_run(tmp_path / "probe", name, "--trainer.max_epochs", "1"))["global_step"]
    assert per_epoch >= 3
    first = per_epoch + per_epoch // 2 if stop == "inside an epoch" else per_epoch
    on = (
        ["--trainer.max_steps", str(2 * per_epoch + 1), *LONG]
        if goes_on == "max_steps"
        else ["--trainer.max_epochs", "3"]
    )
    run = fit_run(tmp_path / "resumed", name, "--trainer.max_steps", str(first), *LONG)
    assert last(run)["global_step"] == first
    assert fit_run(tmp_path / "resumed", name, *on, "--ckpt_path", "last") == run
    reference = fit_run(tmp_path / "uninterrupted", name, *on)
    assert_bit_identical(
        final_state(run / "checkpoints" / "last.ckpt"), final_state(reference / "checkpoints" / "last.ckpt")
    )
    for chosen in ("checkpoints/best.ckpt", "model.pt"):  # the run's choice, and what it exports
        a, b = (torch.load(r / chosen, map_location="cpu", weights_only=True) for r in (run, reference))
        assert_bit_identical(a.get("state_dict", a), b.get("state_dict", b))


def test_training_batches_resume_after_the_last_one_handed_out():
    """The state Lightning keeps of a training loader: a new loader given it hands out the rest of that epoch, in
    that epoch's order, then whole epochs again."""
    x = torch.arange(50.0)
    make = lambda: TensorBatches(x, batch_size=8, shuffle=True, seed=5)  # noqa: E731
    loader = make()
    loader.set_epoch(3)
    whole = [b[0] for b in loader]
    loader = make()
    loader.set_epoch(3)
    handed = list(itertools.islice(iter(loader), 2))
    state = loader.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    resumed.set_epoch(3)
    rest = [b[0] for b in resumed]
    assert all(torch.equal(a, b) for a, b in zip([h[0] for h in handed] + rest, whole, strict=True))
    resumed.set_epoch(4)  # the next epoch: whole
    assert sum(len(b[0]) for b in resumed) == 50
    other = make()
    other.load_state_dict(state)  # a state of another epoch than the one that runs: a whole pass
    other.set_epoch(4)
    assert sum(len(b[0]) for b in other) == 50


def test_a_resume_of_a_run_that_reached_its_max_steps_changes_nothing(tmp_path, capfd):
    run = fit_run(tmp_path, "fizzbuzz", "--trainer.max_steps", "7")
    assert last(run)["global_step"] == 7 and last(run)["callbacks"]  # stopped inside its first epoch
    record = json.loads((run / "fit.json").read_text())
    assert (record["epochs"], record["global_step"]) == (0, 7)  # the epochs it finished, and its steps
    before = digests(run)
    capfd.readouterr()
    assert fit_run(tmp_path, "fizzbuzz", "--trainer.max_steps", "7", "--ckpt_path", "last") == run
    (line,) = capfd.readouterr().out.strip().splitlines()
    assert f"{run} is finished (it has trained its 7 steps)" in line and "--trainer.max_steps 8 or more" in line
    assert digests(run) == before


def test_a_ddp_resume_after_a_max_steps_stop_inside_an_epoch_is_exact(tmp_path):
    """Two CPU processes (3 steps an epoch each): the checkpoint's loader state is rank 0's, and every rank resumes
    its own shard at the same batch."""
    ddp = [*DDP_CPU, "--trainer.devices", "2", "--trainer.max_epochs", "20"]
    for side in ("resumed", "uninterrupted"):
        (tmp_path / side).mkdir()
        write(tmp_path / side, "fizzbuzz.yaml", FIZZBUZZ)
    fizzlightning(tmp_path / "resumed", "fit", "--config", "fizzbuzz.yaml", *ddp, "--trainer.max_steps", "5")
    run = only_run(tmp_path / "resumed")
    assert last(run)["global_step"] == 5 and last(run)["epoch"] == 1  # inside the second epoch
    stopped = last(run)[EPOCH_STEPS]["losses"]  # each rank's steps of that epoch so far: its own shard's losses
    assert stopped.shape == (2, 3) and stopped[:, :2].isfinite().all() and not torch.equal(stopped[0], stopped[1])
    resume = ["fit", "--config", "fizzbuzz.yaml", *ddp, "--ckpt_path", "last"]
    fizzlightning(tmp_path / "resumed", *resume, "--trainer.max_steps", "6")  # the epoch's end
    assert last(run)["global_step"] == 6 and torch.equal(last(run)[EPOCH_STEPS]["losses"][:, :2], stopped[:, :2])
    fizzlightning(
        tmp_path / "resumed",
        "fit",
        "--config",
        "fizzbuzz.yaml",
        *ddp,
        "--trainer.max_steps",
        "11",
        "--ckpt_path",
        "last",
    )
    fizzlightning(tmp_path / "uninterrupted", "fit", "--config", "fizzbuzz.yaml", *ddp, "--trainer.max_steps", "11")
    reference = only_run(tmp_path / "uninterrupted")
    assert_bit_identical(
        final_state(run / "checkpoints" / "last.ckpt"), final_state(reference / "checkpoints" / "last.ckpt")
    )
