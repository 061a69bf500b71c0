"""Lesson 004's GAN through the same commands as every model: its data, its judge, fit/test/predict, resume."""

import csv
import signal

import pytest
import torch

from fizzlightning.data import ArtistDataModule
from fizzlightning.data.batches import ArtistBatches
from fizzlightning.lessons.artist import artist_works, judge, ks_to_uniform
from tests.helpers import CONFIGS, DDP_CPU, assert_bit_identical, fizzlightning, runs

POINTS = torch.linspace(-1, 1, 15)
TINY = [
    "--config", str(CONFIGS / "gan.yaml"),
    "--trainer.max_epochs", "3",
    "--data.init_args.steps_per_epoch", "20",
    "--data.init_args.eval_paintings", "50",
]  # fmt: skip


def test_the_artist_paints_parabolas_of_its_family_between_the_bounds():
    batches = ArtistBatches(POINTS, batch_size=64, n_ideas=5, steps=3, seed=0, rank=0)
    (real, ideas), *_ = list(batches)
    assert real.shape == (64, 15) and ideas.shape == (64, 5)
    a, rms, inside = judge(real, POINTS)
    assert ((a >= 1) & (a <= 2)).all() and rms.max() < 1e-5 and inside.all()
    batches.set_epoch(1)
    assert not torch.equal(next(iter(batches))[0], real)  # each epoch draws anew, from (seed, epoch)


def test_the_judge_on_known_paintings():
    a = torch.linspace(1, 2, 1001)
    assert ks_to_uniform(a) < 0.002  # evenly spread over [1, 2]: the artist's own distribution
    assert ks_to_uniform(torch.full((100,), 1.5)) == pytest.approx(0.5)  # one a for every painting: collapse
    fitted, rms, inside = judge(artist_works(a, POINTS), POINTS)
    assert torch.allclose(fitted, a, atol=1e-5) and inside.all()
    flat = judge(torch.zeros(1, 15), POINTS)  # y = 0 leaves the band wherever x**2 > 0.05
    assert flat.inside[0] == 0 and flat.rms[0] > 0.1
    assert judge((2 * POINTS**2 + 1.2)[None], POINTS).inside[0] == 0  # above the upper bound by more than 0.05


def test_fit_test_predict_through_the_cli(cli, tmp_path, capsys):
    assert cli("fit", *TINY) == 0
    assert "Best val/ks = " in capsys.readouterr().out
    (run,) = runs(tmp_path, "gan.yaml")
    assert (run / "model.pt").is_file() and (run / "fit.json").is_file()
    assert cli("test", *TINY) == 0
    out = capsys.readouterr().out
    assert "Paintings judged: 50" in out and "KS distance to U(1, 2)" in out and "D score" in out
    assert cli("predict", *TINY) == 0
    *lines, written = capsys.readouterr().out.strip().splitlines()[-6:]
    assert all(line.startswith("a = ") and len(line.split(": ")[1].split(", ")) == 15 for line in lines)
    assert written == f"Written to {run / 'predictions.csv'}"
    with (run / "predictions.csv").open() as table:
        header, *rows = list(csv.reader(table))
    assert header[:2] == ["painting", "y(-1.00)"] and header[-3:] == ["a", "rms", "inside"] and len(header) == 19
    assert len(rows) == 5
    for line, row in zip(lines, rows):  # what predict printed is what it wrote, painting by painting
        assert line.startswith(f"a = {float(row[16]):.3f}")


def test_exported_generator_loads_into_the_lessons_plain_sequential(cli, tmp_path):
    assert cli("fit", *TINY) == 0
    (run,) = runs(tmp_path, "gan.yaml")
    state = torch.load(run / "model.pt", weights_only=True)
    generator = torch.nn.Sequential(torch.nn.Linear(5, 128), torch.nn.ReLU(), torch.nn.Linear(128, 15))
    generator.load_state_dict({k.removeprefix("generator."): v for k, v in state.items() if k.startswith("generator.")})
    assert generator(torch.randn(2, 5)).shape == (2, 15)


def test_the_networks_widths_come_from_the_data(cli, tmp_path):
    assert cli("fit", *TINY, "--data.init_args.art_components", "10", "--data.init_args.n_ideas", "3") == 0
    (run,) = runs(tmp_path, "gan.yaml")
    program = torch.export.load(run / "model.pt2").module()  # the generator: 3 ideas -> a painting of 10 points
    assert program(torch.randn(7, 3)).shape == (7, 10)


def test_an_interrupted_gan_resumes_to_the_bit(cli, tmp_path):
    def final(run) -> dict:
        saved = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        return {"weights": saved["state_dict"], "optimizers": [o["state"] for o in saved["optimizer_states"]]}

    assert cli("fit", *TINY) == 0
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:  # SIGTERM during epoch 1: stop at its end, write last.ckpt
        stopped = cli("fit", *TINY, "--trainer.callbacks+=tests.helpers.SignalAtEpoch", "--trainer.callbacks.epoch=1")
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert stopped == 128 + signal.SIGTERM
    plain, interrupted = runs(tmp_path, "gan.yaml")
    assert torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1
    assert cli("fit", *TINY, "--ckpt_path", "last") == 0
    assert_bit_identical(final(interrupted), final(plain))


def test_the_test_judges_paintings_validation_never_saw():
    data = ArtistDataModule(seed=0)
    assert data.val_set[0].shape == data.test_set[0].shape == (1000, 5)
    assert not torch.isclose(data.val_set[0][:, None], data.test_set[0][None]).all(dim=2).any()  # no shared ideas


def test_the_gan_trains_and_tests_under_ddp_as_in_one_process(tmp_path, capsys):
    # One backward per step: DDP reduces each gradient once (two backward passes through D would fail here).
    fizzlightning(tmp_path, "fit", *TINY, *DDP_CPU, "--trainer.devices", "2")
    (run,) = runs(tmp_path, "gan.yaml")
    assert (run / "fit.json").is_file()
    ddp = fizzlightning(tmp_path, "test", *TINY, *DDP_CPU, "--trainer.devices", "3")
    single = fizzlightning(tmp_path, "test", *TINY)
    assert ddp[ddp.index("Checkpoint:") :] == single[single.index("Checkpoint:") :]


def images(run, tag: str) -> list[tuple[int, bytes]]:
    """Every (step, PNG) that the run's TensorBoard events hold for ``tag``, file by file in the order written."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found = []
    for events in sorted(run.glob("events.out.tfevents.*"), key=lambda path: path.stat().st_mtime_ns):
        accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
        accumulator.Reload()
        if tag in accumulator.Tags()["images"]:
            found += [(event.step, event.encoded_image_string) for event in accumulator.Images(tag)]
    return found


def test_validate_after_fit_draws_the_paintings_of_the_epoch_it_validates(cli, tmp_path):
    # validate's first picture needs the module's judged paintings; fit's needs this epoch's, not the previous
    # epoch's (Lightning calls the callbacks' on_validation_epoch_end before the module's)
    tiny = [*TINY[:2], "--trainer.max_epochs", "1", "--data.init_args.steps_per_epoch", "20"]
    assert cli("fit", *tiny, "--data.init_args.eval_paintings", "50") == 0
    assert cli("validate", *tiny, "--data.init_args.eval_paintings", "50") == 0
    (run,) = runs(tmp_path, "gan.yaml")
    (fit_step, fit_picture), (validate_step, validate_picture) = images(run, "gan/paintings")
    # one epoch: best.ckpt is that epoch, so validate judges the very paintings fit's validation did
    assert fit_step == 20  # after the epoch's 20 steps; the sanity check draws nothing
    assert fit_picture == validate_picture


def test_the_lr_scheduler_moves_both_networks_rates(cli, tmp_path):
    # manual optimisation: Lightning leaves the scheduler's step to the module
    assert (
        cli("fit", *TINY, "--lr_scheduler", "StepLR", "--lr_scheduler.step_size", "1", "--lr_scheduler.gamma", "0.5")
        == 0
    )
    (run,) = runs(tmp_path, "gan.yaml")
    saved = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert [group["lr"] for group in saved["optimizer_states"][0]["param_groups"]] == pytest.approx([1e-4 / 8] * 2)


def test_a_plateau_scheduler_waits_for_an_epoch_with_validation(cli, tmp_path):
    args = ["--lr_scheduler", "ReduceLROnPlateau", "--lr_scheduler.monitor", "val/ks"]
    assert cli("fit", *TINY, *args, "--trainer.check_val_every_n_epoch", "2") == 0  # the first epoch has no val/ks
