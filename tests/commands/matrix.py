"""Every shipped config through every command: the cases come from ``fizzlightning configs``' own list.

``main.catalog()`` is what ``fizzlightning configs`` prints: each config, and the one it goes on top of. A config
added to ``lightning_configs/`` joins the matrix without a line here. The configs are dealt round-robin to the
``test_matrix_*.py`` files (one shard each), so that pytest-xdist's ``--dist loadfile`` runs the shards side by
side. Each config is fit once per shard file (a module-scoped fixture, a few steps), and every other command then
runs on that run: ``validate``, ``test``, ``predict``, ``export`` to each format, ``serve`` answering one request.
The commands run in-process through ``main()`` (a traceback is an exception here) except ``serve``, which is a
server in a subprocess, asked over HTTP.
"""

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from fizzlightning.commands.main import catalog, main
from fizzlightning.deploy.apis import SERVED
from fizzlightning.deploy.export import FILES
from fizzlightning.runs.checkpoints import load_checkpoint, rebuild_model
from tests.helpers import FEW_STEPS, only_run

SHARDS = 3  # the test_matrix_*.py files


def combinations() -> list[tuple[str, ...]]:
    """Each shipped config as ``fizzlightning configs`` says to use it: alone, or after the config it goes on top of."""
    return [(base, name) if base else (name,) for name, base, _ in catalog()]


def shard(index: int) -> list[tuple[str, ...]]:
    return combinations()[index::SHARDS]


def config_args(configs: tuple[str, ...]) -> list[str]:
    return [arg for name in configs for arg in ("--config", name)]


def run_command(root: Path, *args: str) -> tuple[int, str, str]:
    """``fizzlightning ARGS`` in ``root`` through the real entry point: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        patch.chdir(root)
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue(), err.getvalue()


class Fitted:
    """A config's one fit, shared by its commands: where it ran, what it printed, and the command line to reuse."""

    def __init__(self, root: Path, configs: tuple[str, ...], code: int, err: str) -> None:
        self.root, self.configs, self.code, self.err = root, configs, code, err
        self.args = [*config_args(configs), *FEW_STEPS]

    @property
    def run(self) -> Path:
        return only_run(self.root)


def fit_once(request, tmp_path_factory) -> Fitted:
    """The module-scoped fixture of a shard: ``fit`` of one config (``request.param``), a few steps."""
    configs = request.param
    root = tmp_path_factory.mktemp("matrix-" + configs[-1].replace("/", "-"))
    code, _, err = run_command(root, "fit", *config_args(configs), *FEW_STEPS)
    return Fitted(root, configs, code, err)


def one_error_line(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("fizzlightning: error: ")]


def test_fit_writes_the_runs_files(fitted):
    assert fitted.code == 0, fitted.err
    run = fitted.run
    assert run.parent.name == Path(fitted.configs[-1]).name
    assert list(run.glob("events.out.tfevents.*"))
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    summary = json.loads((run / "fit.json").read_text())
    assert Path(summary["best_checkpoint"]) == run / "checkpoints" / "best.ckpt"
    assert "max_epochs: 1" in (run / "fit-config.yaml").read_text()  # the config as run, overrides included
    for name in ("model.pt", "model.pt2"):  # fit's own exports
        assert (run / name).stat().st_size > 0


@pytest.mark.parametrize("command", ["validate", "test", "predict"])
def test_scoring_commands_run_on_the_fit(fitted, command):
    assert fitted.code == 0, fitted.err
    run = fitted.run
    code, out, err = run_command(fitted.root, command, *fitted.args)
    assert code == 0, err
    assert "Traceback" not in err
    assert only_run(fitted.root) == run  # the command worked in the run fit made, no sibling run
    if command == "predict":
        assert (run / "predictions.csv").stat().st_size > 0
    if command != "validate":  # validate prints Lightning's table, without the checkpoint
        assert f"Checkpoint: {run / 'checkpoints' / 'best.ckpt'}" in out


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_export_writes_each_format(fitted, fmt):
    assert fitted.code == 0, fitted.err
    code, out, err = run_command(fitted.root, "export", *config_args(fitted.configs), "--format", fmt)
    assert code == 0, err
    exported = fitted.run / FILES[fmt]
    assert f"Wrote {exported}" in out
    assert exported.stat().st_size > 0


def one_request(ckpt_path: str) -> tuple[dict, int]:
    """A request the checkpoint's serving API takes (its example, else one row of its width of 0.5s), and how many
    answers it asks for."""
    model = rebuild_model(load_checkpoint(ckpt_path), ckpt_path)
    api = next(SERVED[cls] for cls in type(model).__mro__ if cls in SERVED)
    try:
        body = json.loads(api.example)
    except json.JSONDecodeError:  # '{"inputs": [[...d_in numbers], ...]}': a row of the model's width
        body = {api.key: [[0.5] * model.hparams[api.width_key]]}
    return body, len(body[api.key])


def test_serve_answers_one_request(fitted):
    from tests.deploy.test_serve import Server

    assert fitted.code == 0, fitted.err
    ckpt_path = json.loads((fitted.run / "fit.json").read_text())["best_checkpoint"]
    body, answers = one_request(ckpt_path)
    server = Server(fitted.root, *config_args(fitted.configs), name="matrix-serve")
    try:
        response = server.post(json=body)
    finally:
        assert server.stop() == 0, server.err.read_text()
    assert response.status_code == 200, response.text
    (values,) = [value for value in response.json().values() if isinstance(value, list)][:1]
    assert len(values) == answers
    assert "Traceback" not in server.err.read_text()


@pytest.mark.parametrize("name", [name for name, base, _ in catalog() if base])
def test_a_layered_config_alone_runs_or_says_what_it_needs_in_one_line(tmp_path, name):
    """A config meant to go on top of another, given alone: it runs, or one line and exit 2."""
    code, _, err = run_command(tmp_path, "fit", "--config", name, *FEW_STEPS)
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert len(one_error_line(err)) == 1 and len(err.strip().splitlines()) == 1, err
