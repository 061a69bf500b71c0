"""The run is the unit: after ``fit``, the commands need no config, a checkpoint's path alone is enough from any
directory, and a command scores a checkpoint in its own run, with the network its run recorded.

Each command runs in its own process as typed; the refusals, which end before anything is built, run in-process.
"""

import ast
import inspect
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import typing

import pytest
import torch
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from benchmarks import launch
from fizzlightning.data import FizzBuzzDataModule
from fizzlightning.data.base import WIDTHS
from fizzlightning.errors import ConfigError
from fizzlightning.models.classifier import FizzBuzzClassifier
from fizzlightning.runs import layout
from tests.commands.test_options import FUZZ, PROFILE, arguments
from tests.helpers import FIZZBUZZ, clean_env, digests, fizzlightning, only_run, write

SCORE = re.compile(r"Score on 1\.\.100: .*")
TAKEN = socket.socket()  # a port serve cannot listen on: it ends after the run rule judged, instead of serving
TAKEN.bind(("127.0.0.1", 0))
TAKEN.listen()


def typed(cwd, *args: str) -> tuple[int, str, str]:
    """``fizzlightning ARGS`` in ``cwd`` as a user types it: exit status, stdout, stderr."""
    process = launch.start(list(args), cwd, clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A directory where ``fit --config fizzbuzz.yaml`` finished one run."""
    home = tmp_path_factory.mktemp("home")
    write(home, "fizzbuzz.yaml", FIZZBUZZ)
    out = fizzlightning(home, "fit", "--config", "fizzbuzz.yaml")
    assert "Next: fizzlightning test\n" in out, out
    return home


def configs(run, command: str) -> list:
    return sorted(run.glob(f"{command}-config*.yaml"))


def test_after_fit_test_and_predict_work_bare_on_its_run(home):
    run = only_run(home)
    bare, configured = fizzlightning(home, "test"), fizzlightning(home, "test", "--config", "fizzbuzz.yaml")
    assert SCORE.search(bare)[0] == SCORE.search(configured)[0]
    out = fizzlightning(home, "predict", "--data.predict_range", "[1, 15]")  # how it runs: the user's to choose
    assert f"Written to {run / 'predictions.csv'}" in out
    assert len((run / "predictions.csv").read_text().splitlines()) == 1 + 15
    assert only_run(home) == run  # every command wrote into the run fit made


@pytest.fixture(scope="module")
def restarted(home, tmp_path_factory):
    """A copy of ``home`` with a second, newer run of another experiment that was fit from the first run's
    checkpoint: its config records that ``ckpt_path``. Made by copying the first run and writing what such a fit
    records (a real fit from a checkpoint that reached ``max_epochs`` trains no further and keeps its best)."""
    two = tmp_path_factory.mktemp("two")
    shutil.copytree(home / "lightning_logs", two / "lightning_logs")
    first = only_run(two)
    second = two / "lightning_logs" / "again" / first.name
    shutil.copytree(first, second)
    config = yaml.safe_load((second / layout.FIT_CONFIG).read_text())
    config |= {"experiment": "again", "ckpt_path": str(first / "checkpoints" / "best.ckpt")}
    (second / layout.FIT_CONFIG).write_text(yaml.safe_dump(config))
    fit = layout.read_fit(second) | {"best_checkpoint": str(second / "checkpoints" / "best.ckpt")}
    fit["finished_at"] = time.time()  # finished now: the newest finished run
    (second / layout.FINISHED).write_text(json.dumps(fit))
    return two, first, second


def test_a_bare_command_scores_the_newest_run_not_the_checkpoint_it_started_from(restarted):
    two, first, second = restarted
    before = {run: configs(run, "test") for run in (first, second)}
    fizzlightning(two, "test")
    assert configs(first, "test") == before[first]  # nothing written into the run it started from
    (new,) = set(configs(second, "test")) - set(before[second])
    assert yaml.safe_load(new.read_text())["ckpt_path"] == str(second / "checkpoints" / "best.ckpt")
    (second / "model.pt").unlink(missing_ok=True)
    code = "import sys\nfrom fizzlightning.commands.main import main\ntry:\n    main()\nfinally:\n    print(sys.argv)"
    out = subprocess.run(
        [sys.executable, "-c", code, "export", "--format", "pt"], cwd=two, env=clean_env(), capture_output=True,
        text=True, check=True, timeout=300,
    ).stdout  # fmt: skip
    best = second / "checkpoints" / "best.ckpt"
    assert f"Wrote {second / 'model.pt'} from {best}" in out  # export picks test's checkpoint
    argv = ast.literal_eval(out.splitlines()[-1])  # what a launcher restarts the command with: the run pinned
    assert argv[1:] == [
        "export",
        "--config",
        str(second / layout.FIT_CONFIG),
        "--format",
        "pt",
        "--ckpt_path",
        str(best),
    ]
    named = fizzlightning(
        two, "export", "--experiment", "fizzbuzz", "--trainer.default_root_dir", str(two), "--format", "pt"
    )
    assert f"Wrote {first / 'model.pt'} from {first / 'checkpoints' / 'best.ckpt'}" in named


def test_a_copied_root_is_scored_in_the_copy_with_its_newest_fit_config(restarted, tmp_path):
    two, _, second = restarted
    shutil.copytree(two / "lightning_logs", tmp_path / "lightning_logs")
    copy = tmp_path / "lightning_logs" / "again" / second.name
    copied = configs(copy, "test")
    config = yaml.safe_load((copy / layout.FIT_CONFIG).read_text())
    config["data"]["init_args"]["batch_size"] = 7  # as a resume that changed how it runs records it
    (copy / "fit-config-2.yaml").write_text(yaml.safe_dump(config))
    before = digests(two)
    fizzlightning(tmp_path, "test")
    assert digests(two) == before  # the run it was copied from is untouched
    (new,) = set(configs(copy, "test")) - set(copied)
    recorded = yaml.safe_load(new.read_text())
    assert recorded["ckpt_path"] == str(copy / "checkpoints" / "best.ckpt")
    assert recorded["trainer"]["default_root_dir"] == str(tmp_path)
    assert recorded["data"]["init_args"]["batch_size"] == 7


def test_a_checkpoint_path_alone_works_from_another_directory_and_writes_into_its_run(home, tmp_path):
    run = only_run(home)
    best = str(run / "checkpoints" / "best.ckpt")
    before = configs(run, "test")
    elsewhere = fizzlightning(tmp_path, "test", "--ckpt_path", best)
    (new,) = set(configs(run, "test")) - set(before)  # the one it wrote
    assert yaml.safe_load(new.read_text())["ckpt_path"] == best  # the checkpoint's run holds its record
    assert SCORE.search(elsewhere)[0] == SCORE.search(fizzlightning(home, "test", "--config", "fizzbuzz.yaml"))[0]
    assert list(tmp_path.iterdir()) == []  # nothing written where the command ran
    (run / "model.pt").unlink(missing_ok=True)
    assert f"Wrote {run / 'model.pt'} from {best}" in fizzlightning(
        tmp_path, "export", "--ckpt_path", best, "--format", "pt"
    )
    alone = torch.load(run / "model.pt", weights_only=True)
    fizzlightning(home, "export", "--config", "fizzbuzz.yaml", "--ckpt_path", best, "--format", "pt")
    assert all(torch.equal(alone[key], value) for key, value in torch.load(run / "model.pt").items())
    assert list(tmp_path.iterdir()) == []


def test_fit_beside_other_finished_runs_names_its_checkpoint_and_a_copy_scores_the_same_run(home, tmp_path):
    shutil.copytree(home / "lightning_logs", tmp_path / "lightning_logs")
    shutil.copy(home / "fizzbuzz.yaml", tmp_path)
    out = fizzlightning(tmp_path, "fit", "--config", "fizzbuzz.yaml", "--experiment", "again")
    (run,) = (tmp_path / "lightning_logs" / "again").iterdir()
    assert f"Next: fizzlightning test --ckpt_path {run / 'checkpoints' / 'best.ckpt'}\n" in out, out
    scored = fizzlightning(tmp_path, "test")
    assert f"Checkpoint: {run / 'checkpoints' / 'best.ckpt'}\n" in scored  # the newest finished run
    # A copy that keeps no file times (cp -r), made in the order that dates the older run's files last
    copy = tmp_path / "copy" / "lightning_logs"
    copy.mkdir(parents=True)
    for experiment in ("again", "fizzbuzz"):
        subprocess.run(["cp", "-r", str(tmp_path / "lightning_logs" / experiment), str(copy)], check=True)
    older = copy / "fizzbuzz" / only_run(home).name / layout.FINISHED
    assert older.stat().st_mtime > (copy / "again" / run.name / layout.FINISHED).stat().st_mtime
    in_copy = fizzlightning(copy.parent, "test")
    assert f"Checkpoint: {copy / 'again' / run.name / 'checkpoints' / 'best.ckpt'}\n" in in_copy
    assert SCORE.search(in_copy)[0] == SCORE.search(scored)[0]


def recorded_network(run) -> dict[str, object]:
    """Every setting of the run's model and data in its recorded config, but how a command scores it: its value."""
    config = yaml.safe_load((run / layout.FIT_CONFIG).read_text())
    return {
        f"--{part}.init_args.{key}": value
        for part in ("model", "data")
        for key, value in config[part]["init_args"].items()
        if key not in layout.HOW_IT_SCORES
    }


def another(value, annotation):
    """A valid value of ``annotation`` other than ``value``: the next choice, number or width."""
    if typing.get_origin(annotation) is typing.Literal:
        return next(choice for choice in typing.get_args(annotation) if choice != value)
    if value is None:  # an optional seed: one given
        return 1
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 if value else 1
    return [another(item, int) for item in value]


def typed_value(value) -> str:
    """A value as typed on the command line: a string bare, anything else as JSON (``[8]``, ``null``)."""
    return value if isinstance(value, str) else json.dumps(value)


def network(model) -> tuple[str, list]:
    """What a model's network is, seen from outside: its ``net`` as it prints and its weights' shapes."""
    return repr(model.net), [(key, tuple(value.shape)) for key, value in model.state_dict().items()]


def test_a_change_to_the_network_is_refused_in_one_line(home, tmp_path, cli, capfd):
    run = only_run(home)
    shutil.copytree(home / "lightning_logs", tmp_path / "lightning_logs")
    before = sorted(tmp_path.rglob("*"))
    settings, copied = recorded_network(run), tmp_path / "lightning_logs" / run.parent.name / run.name
    assert "--data.init_args.num_digits" in settings and "--model.init_args.hidden" in settings
    model, data = FizzBuzzClassifier, FizzBuzzDataModule
    model_args = {k.rsplit(".", 1)[-1]: v for k, v in settings.items() if k.startswith("--model")}
    for setting, value in settings.items():
        cls = model if setting.startswith("--model") else data
        name = setting.rsplit(".", 1)[-1]
        other = another(value, typing.get_type_hints(cls.__init__)[name])
        if cls is model and network(model(**model_args)) == network(model(**{**model_args, name: other})):
            continue  # the same network (a dashboard's period): how it runs, test_the_bare_and_config_paths_agree
        for command in ("test", "validate", "predict", "export", "serve"):
            assert cli(command, setting, typed_value(other)) == 2, (command, setting)
            err = capfd.readouterr().err
            assert err.count("\n") == 1, err
            assert f"error: {setting[2:]} = {other!r} changes the network or its data: {copied}/" in err, err
            assert f"was trained with {value!r}. A command on a trained run takes both from the run" in err, err
    assert sorted(tmp_path.rglob("*")) == before


@pytest.fixture(scope="module")
def agreeing(home, tmp_path_factory):
    """A copy of ``home``'s finished run, its best checkpoint and the config it was fit with."""
    root = tmp_path_factory.mktemp("agree")
    shutil.copytree(home / "lightning_logs", root / "lightning_logs")
    shutil.copy(home / "fizzbuzz.yaml", root)
    run = only_run(root)
    return root, run, layout.best_checkpoint(run)


def drawn_options():
    """A command after fit and one ``--model``/``--data`` option of the run's classes, drawn from its declared type:
    the run's own value, or any value of the type (the ways a user may repeat or change it)."""
    options = {
        **arguments(FizzBuzzClassifier, "model.init_args", skip=(*WIDTHS, "optimizer", "lr_scheduler")),
        **arguments(FizzBuzzDataModule, "data.init_args"),
    }
    own = yaml.safe_load(FIZZBUZZ)

    @st.composite
    def draw(draw):
        key = draw(st.sampled_from(sorted(options)))
        part, _, name = key[2:].partition(".init_args.")
        cls = FizzBuzzClassifier if part == "model" else FizzBuzzDataModule
        recorded = own[part]["init_args"].get(name, inspect.signature(cls).parameters[name].default)
        value = draw(st.one_of(st.just(typed_value(recorded)), options[key]))
        return draw(st.sampled_from(["test", "validate", "predict", "export", "serve"])), key, value

    return draw()


@pytest.mark.fuzz
@settings(parent=PROFILE, max_examples=PROFILE.max_examples if FUZZ else 6)
@given(case=drawn_options())
@example(case=("test", "--model.init_args.hidden", "[8]"))  # the run's own: passes
@example(case=("export", "--model.init_args.hidden", "[16]"))  # another network
@example(case=("validate", "--data.init_args.num_digits", "9"))  # another input width
@example(case=("predict", "--data.init_args.val_fraction", "0.25"))  # another validation split
@example(case=("test", "--model.init_args.board_every_n_epochs", "3"))  # a dashboard's period: how it runs
@example(case=("serve", "--data.init_args.batch_size", "7"))  # how it runs
@example(case=("validate", "--model.init_args.hidden", "[2147483648, 2147483648]"))  # a layer torch cannot size
def test_the_bare_and_config_paths_agree_on_every_network_option(agreeing, cli, capfd, case):
    """One rule on values: a command on the run found bare and the same command with ``--config`` and the run's
    checkpoint end alike, for an option drawn from the model's and the data's declared arguments: both pass, or
    both are refused in the same one line, exit 2. ``serve`` is given a port that is taken, so that it ends
    after the rule has judged instead of serving (exit 2, the port's line, on both paths when the rule passes)."""
    root, _, best = agreeing
    command, key, value = case
    where = ["--trainer.default_root_dir", str(root)] if command not in ("export", "serve") else []
    extra = {"export": ["--format", "pt"], "serve": ["--port", str(TAKEN.getsockname()[1])]}.get(command, [])
    ends = []
    for path in ([], ["--config", str(root / "fizzbuzz.yaml"), "--ckpt_path", str(best)]):
        cwd = os.getcwd()
        os.chdir(root)  # the bare path finds the run under the working directory (export and serve as the others)
        try:
            code = cli(command, *path, *where, *extra, f"{key}={value}")
        finally:
            os.chdir(cwd)
        err = capfd.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("fizzlightning: error: ")]
        assert "Traceback" not in err, err[-3000:]
        assert code == 0 or (code == 2 and len(lines) == 1), (code, err[-3000:])
        ends.append((code, lines))
    assert ends[0] == ends[1], (case, ends)
    (code, lines) = ends[0]
    if lines and " changes the network or its data: " in lines[0]:
        assert lines[0].startswith(f"fizzlightning: error: {key[2:]} = ") and f"{best} was trained with " in lines[0]


def test_without_a_run_or_its_config_each_command_says_what_to_pass(home, tmp_path, cli, capfd):
    fixture = layout.Path(__file__).parent.parent / "fixtures" / "fizzbuzz-0.2.0-last.ckpt"
    cases = [
        (["test"], "No trained run to test: found none under"),
        (["export", "--ckpt_path", "last"], "(looked for */*/checkpoints/last.ckpt)"),
        (["test", "--ckpt_path", "missing.ckpt"], "Checkpoint missing.ckpt does not exist"),
        (["predict", "--ckpt_path", str(fixture)], f"the loose checkpoint {fixture} has no recorded"),
        (["fit"], "fizzlightning fit needs a config: --config lightning_configs/fizzbuzz.yaml"),
    ]
    for args, fragment in cases:
        assert cli(*args) == 2, args
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and fragment in err, (args, err)
    run = tmp_path / "lightning_logs" / "fizzbuzz" / only_run(home).name
    shutil.copytree(only_run(home), run)
    (run / layout.FIT_CONFIG).unlink()  # a run copied without its config
    for args in (["test"], ["export", "--ckpt_path", str(run / "checkpoints" / "best.ckpt")]):
        assert cli(*args) == 2, args
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and f"the run {run} has no recorded fit-config.yaml: pass the config" in err, err
    resumes = []
    for experiment, pid in (("a", 2**31 - 1), ("b", os.getppid())):  # b's process (pytest's) still runs
        resumes.append(tmp_path / "lightning_logs" / experiment / f"20260101-000000-{pid}")
        shutil.copytree(only_run(home), resumes[-1])
        (resumes[-1] / layout.FINISHED).unlink()  # interrupted
        (resumes[-1] / layout.LOCK).unlink()  # by an earlier version: its process is the one its name holds
    shutil.copytree(resumes[0], tmp_path / "lightning_logs" / "c" / resumes[0].name)
    assert cli("fit", "--ckpt_path", "last") == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "interrupted runs of 2 experiments could resume (a, c): name one with" in err, err
    shutil.rmtree(tmp_path / "lightning_logs" / "c")
    shutil.rmtree(resumes[0])  # left: a finished run and one that runs
    assert cli("fit", "--ckpt_path", "last") == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "No trained run to fit" in err and "finished and running ones excluded" in err


def test_a_resume_running_elsewhere_is_never_resumed_twice(tmp_path):
    """A real resume holds its run's lock while it trains: a second bare resume started meanwhile does not take that
    run, a fit into it is refused in one line, and the lock dies with the process (``kill -9``)."""
    write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    fizzlightning(tmp_path, "fit", "--config", "fizzbuzz.yaml")
    run = only_run(tmp_path)
    (run / layout.FINISHED).unlink()  # interrupted, as a fit killed before its end leaves it
    assert layout.resumable(run)
    first = launch.start(["fit", "--ckpt_path", "last", "--trainer.max_epochs", "100000"], tmp_path, clean_env())
    try:
        deadline = time.monotonic() + 240
        while not (layout.running(run) and (run / "fit-config-2.yaml").is_file()):  # it holds the run and trains
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        before = sorted(p.name for p in run.glob("fit-config*.yaml"))
        code, out, err = typed(tmp_path, "fit", "--ckpt_path", "last")
        assert code == 2 and err.count("\n") == 1, (out, err)
        assert "No trained run to fit" in err and "finished and running ones excluded" in err, err
        assert sorted(p.name for p in run.glob("fit-config*.yaml")) == before  # the second fit wrote nothing there
        with pytest.raises(ConfigError, match=f"{re.escape(str(run))} is being trained by another fit right now"):
            layout.hold(run)  # what rank 0 of any fit into that run meets
        (listed,) = json.loads(fizzlightning(tmp_path, "runs", "--json"))
        assert listed["state"] == "running" and listed["fits"] == 2, listed  # a resume, not the run's first pid
    finally:
        first.kill()  # kill -9
        first.communicate()
    assert not layout.running(run) and layout.resumable(run)  # the lock died with its process
    (listed,) = json.loads(fizzlightning(tmp_path, "runs", "--json"))
    assert listed["state"] == "unfinished", listed


@pytest.mark.parametrize("before", [False, True], ids=["after --config", "before --config"])
def test_export_and_serve_read_options_as_fit_does(agreeing, cli, capfd, before):
    """``export`` and ``serve`` read ``--config`` and the ``--model``/``--data`` options with fit's own parser, as
    ``test`` does: a data class by its short name is judged (another network is refused in the same line), and
    options apply left to right (one before ``--config`` meets no model class yet: the same parse error)."""
    root, _, best = agreeing
    options = ["--data", "FizzBuzzDataModule", "--model.init_args.hidden", "[16]"]
    config = ["--config", str(root / "fizzbuzz.yaml")]
    given = [*options, *config] if before else [*config, *options]
    extra = {"export": ["--format", "pt"], "serve": ["--port", str(TAKEN.getsockname()[1])]}
    ends = []
    for command in ("test", "export", "serve"):
        code = cli(command, *given, "--ckpt_path", str(best), *extra.get(command, []))
        err = capfd.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("fizzlightning")]
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, (command, code, err[-3000:])
        ends.append(lines[0].replace(f"fizzlightning {command}", "fizzlightning"))
    assert ends[0] == ends[1] == ends[2], ends
    changed = "fizzlightning: error: model.init_args.hidden = [16] changes the network or its data: "
    assert ends[0].startswith("fizzlightning: error: ") and (before or ends[0].startswith(changed)), ends
