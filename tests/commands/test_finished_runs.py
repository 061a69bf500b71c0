"""A finished run stays finished, and only a real run is one: what later commands pick, as users type them."""

import json
import re

import pytest

from tests.helpers import FIZZBUZZ, digests, fit_in, runs, write

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
    assert "a smoke test of fit ran" in capsys.readouterr().out
    assert runs(finished.parent.parent.parent, CONFIG) == [finished]  # no run directory of its own
    assert digests(finished.parent.parent) == before
    for command in ("test", "predict"):  # the newest finished run
        assert cli(command, "--config", CONFIG) == 0
        assert f"Checkpoint: {finished / 'checkpoints' / 'best.ckpt'}" in capsys.readouterr().out
    assert (
        cli("fit", "--config", CONFIG, "--ckpt_path", "last", "--trainer.max_epochs", "3") == 0
    )  # the newest last.ckpt
    assert "Trained 3 epochs" in capsys.readouterr().out
    assert json.loads((finished / "fit.json").read_text())["epochs"] == 3


# a resume of a finished run that asks for no more epochs: as typed, with the epochs it holds, or none said
NO_MORE = [[], ["--trainer.max_epochs", "2"]]


@pytest.mark.parametrize("more", NO_MORE, ids=["as fit", "max_epochs 2"])
def test_a_resume_of_a_finished_run_changes_nothing_and_says_so(cli, capfd, finished, more):
    before = digests(finished)
    capfd.readouterr()  # the fixture's fit
    assert cli("fit", "--config", CONFIG, "--ckpt_path", "last", *more) == 0
    out, err = capfd.readouterr()
    assert "Traceback" not in err
    (line,) = out.strip().splitlines()
    assert line == (
        f"fizzlightning: {finished} is finished (it has trained its 2 epochs), so --ckpt_path last changes nothing: "
        "to train it on, pass --trainer.max_epochs 3 or more; to train again, run fit without --ckpt_path."
    )
    assert digests(finished) == before  # not a byte of the run rewritten, no config of the resume saved


def test_a_run_stopped_by_its_own_rule_stays_stopped(cli, tmp_path, capfd):
    # a rule every validation meets (val/acc >= 0, once): the run stops after its first epoch of 5
    stopping = [
        "--trainer.callbacks+=fizzlightning.callbacks.stopping.StreakStopping",
        "--trainer.callbacks.threshold", "0", "--trainer.callbacks.streak", "1", "--trainer.max_epochs", "5",
    ]  # fmt: skip
    config = write(tmp_path, CONFIG, FIZZBUZZ)
    assert cli("fit", "--config", config, *stopping) == 0
    (run,) = runs(tmp_path, config)
    assert json.loads((run / "fit.json").read_text())["epochs"] == 1
    before = digests(run)
    capfd.readouterr()
    for more in ([], ["--trainer.max_epochs", "9"]):  # more epochs do not undo the rule's decision
        assert cli("fit", "--config", config, *stopping, *more, "--ckpt_path", "last") == 0
        assert "is finished (it stopped by its own rule after 1 epochs)" in capfd.readouterr().out
        assert digests(run) == before


def test_fit_json_and_the_summary_count_the_whole_run_across_resumes(cli, capsys, finished):
    first = json.loads((finished / "fit.json").read_text())["seconds"]
    capsys.readouterr()  # the fixture's fit
    assert cli("fit", "--config", CONFIG, "--ckpt_path", "last", "--trainer.max_epochs", "4") == 0
    total = json.loads((finished / "fit.json").read_text())["seconds"]
    shown = float(re.search(r"Trained 4 epochs \(20 steps\) in ([\d.]+) s", capsys.readouterr().out)[1])
    assert total > first  # the first fit's two epochs and the resume's two, not the resume's alone
    assert shown == pytest.approx(total, abs=0.05)
