"""``fizzlightning runs`` as a user types it, on a lightning_logs of real runs: finished and tested, resumed, logged
as CSV, running then killed with SIGKILL, and one written by 0.2.0 (``tests/fixtures/fizzbuzz-0.2.0-run``: the
small files of a run that 0.2.0's ``fit`` and ``test`` wrote, its checkpoints and exports left out)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fizzlightning.commands.main import main
from fizzlightning.runs import layout
from tests.helpers import FIZZBUZZ, INTERRUPTIBLE, REGRESSOR, clean_env, fizzlightning, start

OLD_RUN = Path(__file__).parent.parent / "fixtures" / "fizzbuzz-0.2.0-run"


def in_process(directory: Path, *args: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        main(list(args))


def listed(directory: Path, *args: str) -> list[dict]:
    return json.loads(fizzlightning(directory, "runs", "--json", *args))


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict:
    """A folder of runs in every state, and what ``runs --json`` said of the killed run while it ran."""
    directory = tmp_path_factory.mktemp("runs")
    for name, text in (("fizzbuzz.yaml", FIZZBUZZ), ("regressor.yaml", REGRESSOR), ("long.yaml", INTERRUPTIBLE)):
        (directory / name).write_text(text)
    in_process(directory, "fit", "--config", "fizzbuzz.yaml")
    smaller = ["--config", "fizzbuzz.yaml", "--model.init_args.hidden", "[6]"]
    in_process(directory, "fit", *smaller, "--optimizer.lr", "0.5")
    in_process(directory, "test", *smaller)
    in_process(directory, "fit", "--config", "regressor.yaml")
    in_process(directory, "fit", "--config", "regressor.yaml", "--ckpt_path", "last", "--trainer.max_epochs", "3")
    csv = ["--config", "fizzbuzz.yaml", "--experiment", "csvlogged", "--trainer.logger", "CSVLogger"]
    in_process(directory, "fit", *csv)
    in_process(directory, "test", *csv)
    old = directory / "lightning_logs" / "fizzbuzz_020" / OLD_RUN.name
    shutil.copytree(OLD_RUN, old)
    long = ["fit", "--config", "long.yaml", "--trainer.max_epochs", "1000"]
    first = kill_when(directory, long, lambda: list(directory.glob("lightning_logs/long/*/checkpoints/last.ckpt")))
    killed = listed(directory, "--experiment", "long")
    (run,) = directory.glob("lightning_logs/long/*")
    last = run / "checkpoints" / "last.ckpt"
    written = last.stat().st_mtime_ns
    kill_when(directory, [*long, "--ckpt_path", "last"], lambda: last.stat().st_mtime_ns != written)  # resumed
    return {"directory": directory, "while_running": first, "killed": killed}


def kill_when(directory: Path, args: list[str], ready, experiment: str = "long") -> list[dict]:
    """Start ``fizzlightning ARGS``, wait until ``ready()``, list the runs of its experiment, then kill it with
    SIGKILL; returns that listing."""
    process = start(directory, *args)
    while not ready():
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    running = listed(directory, "--experiment", experiment)
    process.send_signal(signal.SIGKILL)
    process.communicate()  # reaped: its process id no longer answers
    return running


def record(directory: Path, run: dict) -> dict:
    return json.loads((Path(run["path"]) / layout.FINISHED).read_text())


def test_every_run_is_listed_newest_first_with_what_its_files_record(logs):
    directory = logs["directory"]
    runs = listed(directory)
    found = {(Path(run["path"]).parent.name, Path(run["path"]).name) for run in runs}
    assert found == {(run.parent.name, run.name) for run in layout.fit_runs(directory)}  # layout's one rule
    assert [run["started"] for run in runs] == sorted((run["started"] for run in runs), reverse=True)
    for run in runs:
        path = Path(run["path"])
        saved = yaml.safe_load(layout.fit_configs(path)[-1].read_text())
        assert run["seed"] == saved["seed_everything"]
        where = [v for v in run["settings"].values() if "lightning_logs" in v or run["run"] in v or str(directory) in v]
        assert not where, where  # where a run lives is no setting of how it trains (the 0.2.0 run was made elsewhere)
        if run["state"] == "finished":
            fit = record(directory, run)
            assert (run["epochs"], run["seconds"], run["best"], run["monitor"]) == (
                fit["epochs"], fit["seconds"], fit["best_score"], fit["monitor"],
            )  # fmt: skip
    by = {run["experiment"]: run for run in runs}
    assert by["regressor"]["fits"] == 2 and by["regressor"]["epochs"] == 3  # resumed to 3 epochs
    assert by["fizzbuzz_020"]["test"] == {"test/acc": pytest.approx(0.53)}  # 0.2.0's own test printed 53/100
    assert by["fizzbuzz_020"]["settings"]["model"] == "FizzBuzzClassifier"  # its flat module paths, by class name
    assert set(by["csvlogged"]["test"]) == {"test/acc"}  # from the test's own csv/version_1/metrics.csv
    untested = [run for run in runs if run["experiment"] == "fizzbuzz"][-1]  # the older fizzbuzz run
    assert untested["test"] == {}


def test_a_run_is_running_then_interrupted_by_a_kill_then_unfinished_after_a_killed_resume(logs):
    (running,) = logs["while_running"]
    assert running["state"] == "running" and running["seconds"] is None  # no fit.json yet
    (killed,) = logs["killed"]
    assert killed["state"] == "interrupted" and killed["seconds"] is None
    assert killed["monitor"] == "val/acc" and 0 <= killed["best"] <= 1  # the last validation logged
    assert killed["epochs"] >= running["epochs"]
    (resumed,) = listed(logs["directory"], "--experiment", "long")
    assert resumed["state"] == "unfinished" and resumed["fits"] == 2
    # what its logs hold: TensorBoard's writer queues a few events, which a SIGKILL may lose
    assert resumed["epochs"] >= killed["epochs"]


def test_the_table_shows_the_settings_that_differ_within_an_experiment(logs):
    out = fizzlightning(logs["directory"], "runs")
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["experiment", "run", "started", "state"]
    fizzbuzz = [row for row in rows if row.startswith("fizzbuzz ")]
    assert len(fizzbuzz) == 2
    assert "model.hidden=[6]" in fizzbuzz[0] and "optimizer.lr=0.5" in fizzbuzz[0]  # the newer run first
    assert "model.hidden=[8]" in fizzbuzz[1] and "optimizer.lr=0.1" in fizzbuzz[1]
    assert "test/acc" in fizzbuzz[0] and "(last)" in next(row for row in rows if row.startswith("long "))
    assert "finished, 1 resume" in next(row for row in rows if row.startswith("regressor "))


def test_two_runs_side_by_side(logs):
    directory = logs["directory"]
    newer, older = [run for run in listed(directory) if run["experiment"] == "fizzbuzz"]
    out = fizzlightning(directory, "runs", older["run"], f"fizzbuzz/{newer['run']}")
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert lines["run"] == [f"fizzbuzz/{older['run']}", f"fizzbuzz/{newer['run']}"]
    assert lines["optimizer.lr"] == ["0.1", "0.5"] and lines["model.hidden"] == ["[8]", "[6]"]
    compared = json.loads(fizzlightning(directory, "runs", "--json", newer["path"], older["run"]))
    assert compared["differing"] == ["model.hidden", "optimizer.lr"]
    assert [run["run"] for run in compared["runs"]] == [newer["run"], older["run"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchrun"], "nosuchrun is not a run under lightning_logs/: `fizzlightning runs` lists them."),
        (["--experiment", "nosuch"], "--experiment nosuch: no runs of that experiment under lightning_logs/"),
        (["--root", "nowhere"], "No runs: nowhere/lightning_logs does not exist."),
        (["--bogus"], "fizzlightning runs: unrecognized arguments: --bogus"),
    ],
)
def test_a_wrong_argument_is_one_line_and_exit_2(logs, args, message):
    process = start(logs["directory"], "runs", *args)
    out, err = process.communicate()
    assert process.returncode == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"fizzlightning: error: {message}"), err


def test_it_imports_no_torch(logs):
    # nor numpy, which TensorBoard's own event readers import: runs reads the few scalars it shows itself
    script = (
        "import sys; from fizzlightning.commands.main import main; main(['runs']); "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning', 'numpy')], 'imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=logs["directory"], env=clean_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + len(layout.fit_runs(logs["directory"]))


def test_no_runs_yet_says_how_to_start_one(tmp_path):
    (tmp_path / "lightning_logs").mkdir()
    assert fizzlightning(tmp_path, "runs").strip() == (
        "No runs under lightning_logs/: fizzlightning fit --config fizzbuzz starts one."
    )
    assert os.listdir(tmp_path / "lightning_logs") == []


def test_a_run_whose_records_were_spoiled_by_hand_is_still_listed(tmp_path):
    run = tmp_path / "lightning_logs" / "spoiled" / OLD_RUN.name
    shutil.copytree(OLD_RUN, run)
    (run / layout.FIT_CONFIG).write_text("- a list, not settings\n")
    (run / layout.FINISHED).write_text("{cut short")
    (listed_run,) = listed(tmp_path)
    assert (listed_run["state"], listed_run["seed"], listed_run["epochs"]) == ("finished", None, None)
    assert listed_run["test"] == {"test/acc": pytest.approx(0.53)}  # the logs still say what test scored


def test_the_listed_runs_validation_curves_are_drawn_from_their_logs(logs):
    directory = logs["directory"]
    out = fizzlightning(directory, "runs", "--experiment", "fizzbuzz", "--experiment", "long", "--plot", "curves.png")
    runs = listed(directory, "--experiment", "fizzbuzz", "--experiment", "long")
    counts = ", ".join(str(run["epochs"]) for run in runs)  # a validation each epoch, across the long run's two fits
    assert out.splitlines()[-1] == f"Validation curves of 3 of 3 runs ({counts} validations): curves.png"
    assert (directory / "curves.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_a_finished_run_whose_resume_was_killed_is_unfinished_not_finished(tmp_path):
    (tmp_path / "fizzbuzz.yaml").write_text(FIZZBUZZ)
    in_process(tmp_path, "fit", "--config", "fizzbuzz.yaml")
    (finished,) = listed(tmp_path)
    last = Path(finished["path"]) / "checkpoints" / "last.ckpt"
    written = last.stat().st_mtime_ns
    resume = ["fit", "--config", "fizzbuzz.yaml", "--trainer.max_epochs", "100000", "--ckpt_path", "last"]
    kill_when(tmp_path, resume, lambda: last.stat().st_mtime_ns != written, experiment="fizzbuzz")
    (killed,) = listed(tmp_path)
    assert finished["state"] == "finished" and (killed["state"], killed["fits"]) == ("unfinished", 2)
    assert killed["seconds"] is None  # the fit.json left from before the resume is not this state's record
    assert killed["epochs"] >= finished["epochs"]
