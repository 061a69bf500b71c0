"""A model added the way docs/development.md says, in one module and a config, runs every command.

The module and the config are the document's own blocks (those after the comments that name ``toy.py`` and
``toy.yaml``), written to a fresh directory; nothing in the package lists the model.
"""

import re
import shutil

import httpx
import pytest

from benchmarks import launch
from tests.deploy.test_serve import Server
from tests.helpers import ROOT, clean_env

DOC = ROOT / "docs" / "development.md"


def document_block(name: str) -> str:
    """The fenced block right after the comment that names it in the document: ``<!-- skip: next "NAME: ..." -->``
    for the Python block (Sybil would run it otherwise), ``<!-- NAME: ... -->`` for the YAML block."""
    pattern = rf'<!-- (?:skip: next ")?{re.escape(name)}:[^>]*-->\n```\w+\n(.*?)\n```'
    (block,) = re.findall(pattern, DOC.read_text(), flags=re.S)
    return block + "\n"


def run(cwd, *args: str) -> str:
    done = launch.run(list(args), cwd, clean_env(), timeout=300)
    return done.stdout


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    directory = tmp_path_factory.mktemp("toy")
    (directory / "toy.py").write_text(document_block("toy.py"))
    (directory / "toy.yaml").write_text(document_block("toy.yaml"))
    out = run(directory, "fit", "--config", "toy.yaml")
    assert "Next: fizzlightning test" in out, out
    return directory


def test_fit_test_validate_predict_and_export_run_on_it(toy):
    out = run(toy, "test", "--config", "toy.yaml")
    loss = float(re.search(r"test/loss = (\S+)", out)[1])
    assert loss < 0.01, out  # the line was learned: the noise's variance is 1e-4
    assert "val/loss" in run(toy, "validate", "--config", "toy.yaml")
    out = run(toy, "predict", "--config", "toy.yaml")
    assert "5 predictions: sample, output_0" in out and "predictions.csv" in out, out
    out = run(toy, "export", "--config", "toy.yaml", "--format", "pt2")
    assert "model.pt2" in out and "differ from it by at most" in out, out


def test_serve_answers_with_the_model_its_api_names(toy):
    server = Server(toy, "--config", "toy.yaml")
    try:
        answer = server.post(json={"inputs": [[0.5], [-1.0]]})
        assert answer.status_code == 200, answer.text
        (high,), (low,) = answer.json()["outputs"]
        assert abs(high - 0.5) < 0.1 and abs(low + 4.0) < 0.1  # 3x - 1 at 0.5 and -1
        assert server.post(json={"inputs": [[1, 2]]}).status_code == 422  # d_in is 1: the API checks the width
    finally:
        assert server.stop() == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.url}/health", timeout=2)


@pytest.mark.parametrize("returned", ["loss.mean()", "{'loss': loss.mean()}", "loss"])
def test_test_takes_what_lightning_lets_test_step_return(toy, tmp_path, returned):
    # the same trained run, its test_step returning a loss as Lightning allows: a tensor, {"loss": ...}
    shutil.copytree(toy, tmp_path, dirs_exist_ok=True)
    code = (tmp_path / "toy.py").read_text()
    logged = '        self.log("test/loss", self.test_loss)\n'
    assert logged in code
    returns = f"        loss = (self(x) - y).pow(2).flatten()\n        return {returned}\n"
    (tmp_path / "toy.py").write_text(code.replace(logged, logged + returns))
    out = run(tmp_path, "test", "--config", "toy.yaml")
    assert re.search(r"test/loss = \S+", out), out
