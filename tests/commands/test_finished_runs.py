"""A finished run stays finished, and only a real run is one: what later commands pick, as users type them."""

import json

import pytest

from tests.helpers import FIZZBUZZ, assert_kept, digests, fit_in, runs

CONFIG = "fizzbuzz.yaml"


@pytest.fixture
def finished(tmp_path):
    """A finished 2-epoch run of the tiny config in ``tmp_path``."""
    fit_in(tmp_path, CONFIG, FIZZBUZZ)
    (run,) = runs(tmp_path, CONFIG)
    return run


# every form of a smoke test Lightning takes: true, or a number of batches
SMOKE = ["true", "1", "3"]


@pytest.mark.parametrize("smoke", SMOKE)
def test_a_smoke_test_is_never_the_run_later_commands_pick(cli, capsys, finished, smoke):
    before = digests(finished.parent.parent)
    assert cli("fit", "--config", CONFIG, "--trainer.fast_dev_run", smoke) == 0
    assert "--trainer.fast_dev_run is a smoke test: it keeps no checkpoint" in capsys.readouterr().out
    real, smoke_run = runs(finished.parent.parent.parent, CONFIG)
    assert real == finished and sorted(p.name for p in smoke_run.iterdir()) == ["fit-config.yaml"]
    assert_kept(before, finished.parent.parent)
    for command in ("test", "predict"):  # the newest finished run
        assert cli(command, "--config", CONFIG) == 0
        assert f"Checkpoint: {finished / 'checkpoints' / 'best.ckpt'}" in capsys.readouterr().out
    assert (
        cli("fit", "--config", CONFIG, "--ckpt_path", "last", "--trainer.max_epochs", "3") == 0
    )  # the newest last.ckpt
    assert "Trained 3 epochs" in capsys.readouterr().out
    assert json.loads((finished / "fit.json").read_text())["epochs"] == 3
