"""Every option, drawn from its declared type and from just outside it: a command runs, or ends in one line.

The options come from the classes themselves: ``inspect.signature`` of Lightning's ``Trainer``, of the models and
datamodules the shipped configs name, and the app's own options (``fizzlightning fit --help``'s ``--experiment``,
``--seed_everything``, ``--ckpt_path``; ``export``'s and ``serve``'s parsers). A new argument of any of them is drawn
without a line here. Values come from the annotation (``int``, ``float``, ``bool``, ``str``, paths, ``Literal``,
unions, lists and tuples of them) and from just outside it: negative, zero, huge, NaN and infinity, the wrong type,
a string that is not UTF-8, one longer than a file name may be, a path that cannot be written.

Each example is a command as a user types it (``--KEY=VALUE``: a value that starts with ``-`` is a value, not an
option), in a subprocess, in a folder that holds a finished run. It either
exits 0 or prints exactly one line, ``fizzlightning: error: ...`` naming the setting, with a non-zero exit and no
traceback; and no file of the finished run changed.

CI runs a fixed number of examples, derandomized (the ``ci`` profile). ``FIZZLIGHTNING_FUZZ=1 pytest -m fuzz
tests/commands/test_options.py`` runs the ``fuzz`` profile: many more examples, with Hypothesis's own random seed.
"""

import inspect
import os
import re
import signal
import subprocess
import time
import types
import typing
from pathlib import Path

import httpx
import lightning as L
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from benchmarks import launch
from fizzlightning.commands.main import catalog, shipped_configs
from fizzlightning.data.base import WIDTHS
from fizzlightning.deploy import export, serve
from tests.deploy.test_serve import free_port
from tests.helpers import FIZZBUZZ, clean_env, digests, fit_in

FUZZ = os.environ.get("FIZZLIGHTNING_FUZZ") == "1"
COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each example is a command of seconds
}
settings.register_profile("ci", max_examples=12, derandomize=True, **COMMON)
settings.register_profile("fuzz", max_examples=int(os.environ.get("FIZZLIGHTNING_FUZZ_EXAMPLES", "200")), **COMMON)
PROFILE = settings.get_profile("fuzz" if FUZZ else "ci")
TIMEOUT = 120  # seconds for one command; a bounded fit (max_time below) takes a few

HUGE = [2**31, 2**63, 10**30]
WRONG = ["abc", "", "[1, 2]", "{a: 1}", "true", "1e400", "-0", "0x10"]
NOT_UTF8 = "caf\udce9"  # the Latin-1 bytes of "café": the argument reaches the command as b"caf\xe9"
LONG = "x" * 300  # longer than a file name may be (255 bytes)
PATHS = ["/proc/nope/dir", "/dev/null/x", "/", "", "../outside", LONG, NOT_UTF8, "/sys/x"]


def junk() -> st.SearchStrategy[str]:
    """Values of no declared type: wrong types, not UTF-8, too long."""
    return st.sampled_from([*WRONG, NOT_UTF8, LONG])


def integers() -> st.SearchStrategy[str]:
    return st.one_of(st.integers(-3, 5).map(str), st.sampled_from([str(-n) for n in HUGE] + [str(n) for n in HUGE]))


def floats() -> st.SearchStrategy[str]:
    return st.one_of(
        st.floats(-2.0, 2.0).map(repr), st.sampled_from(["nan", "inf", "-inf", "1e308", "-1e-320", "0.0", "-0.5"])
    )


def values(annotation: typing.Any) -> st.SearchStrategy[str] | None:
    """Command-line values for an argument of type ``annotation``, inside and just outside it; None: not drawn."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is bool:
        return st.sampled_from(["true", "false", "1", "maybe"])
    if annotation is int:
        return integers()
    if annotation is float:
        return st.one_of(floats(), integers())
    if annotation is str:
        return st.one_of(st.text(max_size=8), st.sampled_from(PATHS))
    if annotation is type(None):
        return st.just("null")
    if annotation in (Path, os.PathLike) or (inspect.isclass(annotation) and issubclass(annotation, os.PathLike)):
        return st.sampled_from(PATHS)
    if origin is typing.Literal:
        return st.sampled_from([str(arg) for arg in args])
    if origin in (typing.Union, types.UnionType):
        drawn = [each for each in map(values, args) if each is not None]
        return st.one_of(drawn) if drawn else None
    if origin in (list, tuple):
        item = values(args[0]) if args else None
        if item is None:
            return None
        size = (len(args), len(args)) if origin is tuple and args[-1] is not Ellipsis else (0, 3)
        return st.lists(item, min_size=max(size[0] - 1, 0), max_size=size[1] + 1).map(lambda v: f"[{', '.join(v)}]")
    return None


def arguments(cls: type, prefix: str, skip: tuple[str, ...] = ()) -> dict[str, st.SearchStrategy[str]]:
    """``--PREFIX.NAME`` -> the values drawn for it, for each argument of ``cls.__init__`` whose type is drawn."""
    hints = typing.get_type_hints(cls.__init__)
    found = {}
    for name in inspect.signature(cls.__init__).parameters:
        drawn = values(hints[name]) if name in hints and name not in skip else None
        if drawn is not None:
            found[f"--{prefix}.{name}"] = st.one_of(drawn, junk())
    return found


def config_classes() -> dict[str, tuple[type, type]]:
    """The model and datamodule classes of each shipped config that stands alone: ``config -> (model, data)``."""
    import importlib

    import yaml

    found = {}
    for name, base, _ in catalog():
        config = yaml.safe_load((shipped_configs() / f"{name}.yaml").read_text())
        if base is None and {"model", "data"} <= config.keys():
            classes = []
            for key in ("model", "data"):
                module, _, attribute = config[key]["class_path"].rpartition(".")
                classes.append(getattr(importlib.import_module(module), attribute))
            found[name] = tuple(classes)
    return found


CLASSES = config_classes()
# Lightning's own: a run's length is bounded by the budget below, so the values that end the run are drawn too
TRAINER = arguments(L.Trainer, "trainer", skip=("default_root_dir",))  # drawn on its own, as a path: APP below
APP = {
    "--seed_everything": st.one_of(integers(), st.sampled_from(["true", "false"]), junk()),
    "--experiment": st.one_of(st.text(min_size=1, max_size=8), st.sampled_from(PATHS), junk()),
    "--ckpt_path": st.one_of(st.sampled_from(["/dev/null", "/", "nope.ckpt", "fizzbuzz.yaml"]), st.sampled_from(PATHS)),
    "--trainer.default_root_dir": st.sampled_from(PATHS),
    "--optimizer.lr": st.one_of(floats(), junk()),
}
# What fit runs unless the drawn option is one of them: a second or so of training, never minutes
BUDGET = {
    "--trainer.max_epochs": "1",
    "--trainer.limit_train_batches": "2",
    "--trainer.limit_val_batches": "1",
    "--trainer.max_time": "00:00:00:10",
    "--trainer.enable_progress_bar": "false",
}


def one_line_or_success(result: subprocess.CompletedProcess, key: str) -> None:
    err = result.stderr
    assert "Traceback" not in err, err[-3000:]
    if result.returncode == 0:
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fizzlightning: error: "), err[-3000:]
    name = key.lstrip("-").rsplit(".", 1)[-1]
    assert name.lower() in lines[0].lower(), f"the line does not name {name}: {lines[0]}"


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).text == "ok"
    except httpx.HTTPError:
        return False


def command(root: Path, args: list[str]) -> subprocess.CompletedProcess:
    """``fizzlightning ARGS`` in ``root``, to its end; a server is stopped (SIGTERM) once it answers ``/health``, and
    then must exit 0."""
    with (root / "out.txt").open("w+") as out, (root / "err.txt").open("w+", errors="replace") as err:
        process = launch.start(args, root, clean_env(), stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            serving = re.match(r"Serving .* at (http://\S+)/predict ", Path(out.name).read_text(errors="replace"))
            if serving and answers(serving[1] + "/health"):
                process.send_signal(signal.SIGTERM)  # a served server stops cleanly: exit 0
                process.wait(timeout=60)
                break
            time.sleep(0.2)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(f"fizzlightning {' '.join(args)} still ran after {TIMEOUT} s")
        out.seek(0), err.seek(0)
        return subprocess.CompletedProcess(args, process.returncode, out.read(), err.read())


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, dict]:
    """A folder with a finished run of the tiny FizzBuzz config, and its files' digests."""
    root = tmp_path_factory.mktemp("options")
    fit_in(root, "fizzbuzz.yaml", FIZZBUZZ)
    return root, digests(root / "lightning_logs")


def assert_unchanged(finished: tuple[Path, dict]) -> None:
    """No file of the finished run changed (new runs beside it are the commands' own)."""
    root, before = finished
    after = digests(root / "lightning_logs")
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    assert not changed, f"files of the earlier run changed: {changed}"
    assert not (root.parent / "outside").exists() and not (root / "outside").exists()


def fit_options() -> st.SearchStrategy[tuple[str, list[str], str, str]]:
    """A shipped config, one of its options (Trainer's, its model's, its datamodule's, the app's) and a value."""

    @st.composite
    def draw(draw) -> tuple[str, list[str], str, str]:
        config = draw(st.sampled_from(sorted(CLASSES)))
        model, data = CLASSES[config]
        options = {
            **TRAINER,
            **APP,
            **arguments(model, "model.init_args", skip=(*WIDTHS, "optimizer", "lr_scheduler")),
            **arguments(data, "data.init_args"),
        }
        key = draw(st.sampled_from(sorted(options)))
        return config, [], key, draw(options[key])

    return draw()


@pytest.mark.fuzz
@settings(parent=PROFILE)
@given(case=fit_options())
# what earlier runs found, kept: a value Lightning quotes as repr, one that is not UTF-8, a network or data too large
@example(case=("regressor_adam", [], "--trainer.max_time", "\xa5\U000f36cf\x86"))
@example(case=("fizzbuzz", [], "--trainer.max_time", "1:2"))
@example(case=("regressor", [], "--model.init_args.loss", NOT_UTF8))
@example(case=("fizzbuzz", [], "--model.init_args.hidden", "[2147483648, 3]"))
@example(case=("regressor_adam", [], "--data.init_args.d_in", "2147483648"))
@example(case=("fizzbuzz", [], "--trainer.accumulate_grad_batches", "0"))
def test_fit_with_any_value_of_any_option_runs_or_names_it_in_one_line(finished, case):
    config, _, key, value = case
    budget = [arg for name, default in BUDGET.items() if name != key for arg in (name, default)]
    result = command(finished[0], ["fit", "--config", config, *budget, *data_budget(config, key), f"{key}={value}"])
    one_line_or_success(result, key)
    assert_unchanged(finished)


def data_budget(config: str, key: str) -> list[str]:
    """The data's own size options, smallest that still trains, unless drawn: every config trains in a second."""
    _, data = CLASSES[config]
    small = {"steps_per_epoch": "2", "eval_paintings": "10", "num_points": "64"}
    parameters = inspect.signature(data.__init__).parameters
    return [
        arg
        for name, value in small.items()
        if name in parameters and f"--data.init_args.{name}" != key
        for arg in (f"--data.init_args.{name}", value)
    ]


# export's and serve's own options, from their parsers: each option's type (argparse's type= or choices)
def parser_options(parser) -> dict[str, st.SearchStrategy[str]]:
    found = {}
    for action in parser._actions:  # argparse has no public list of a parser's options
        flags = [flag for flag in action.option_strings if flag.startswith("--")]
        if not flags or flags[0] in ("--help", "--config"):
            continue
        if action.choices:
            drawn = st.sampled_from(sorted(map(str, action.choices)))
        elif action.type in (int, float):
            drawn = values(action.type)
        else:
            drawn = st.sampled_from(PATHS)
        found[flags[0]] = st.one_of(drawn, junk())
    return found


OWN = {"export": parser_options(export.build_parser()), "serve": parser_options(serve.build_parser())}


@pytest.mark.fuzz
@settings(parent=PROFILE)
@given(data=st.data())
def test_export_and_serve_with_any_value_of_their_options_run_or_name_it_in_one_line(finished, data):
    name = data.draw(st.sampled_from(sorted(OWN)), label="command")
    key = data.draw(st.sampled_from(sorted(OWN[name])), label="option")
    value = data.draw(OWN[name][key], label="value")
    port = ["--port", str(free_port())] if name == "serve" and key != "--port" else []
    result = command(finished[0], [name, "--config", "fizzbuzz.yaml", *port, f"{key}={value}"])
    one_line_or_success(result, key)
    assert_unchanged(finished)
