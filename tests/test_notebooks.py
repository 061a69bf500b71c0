"""notebooks/fizzbuzz.ipynb runs top to bottom in a fresh kernel and prints what its text says it prints.

The kernel is this interpreter's (jupyter_client starts ``python3`` kernels with ``sys.executable``), its
working directory a temporary one, so the runs the notebook makes stay out of the repository.
"""

import ast
import os
import re
import sys
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
import tomllib
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "fizzbuzz.ipynb"
OPEN = re.compile(r"pip install -e '\.\[(\w+)\]' && jupyter lab (\S+\.ipynb)")  # the line each README gives
PLAYED = [*range(1, 31), 101, 333, 1000, 2025, 4095]  # the numbers the last cell asks the exported net to play


def stdout(cell) -> str:
    return "".join(out["text"] for out in cell.get("outputs", []) if out.get("name") == "stdout")


def cell_with(notebook, text: str):
    """The only code cell whose source contains ``text``."""
    (cell,) = [cell for cell in notebook.cells if cell.cell_type == "code" and text in cell.source]
    return cell


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def distribution(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_each_readme_opens_the_notebook_with_an_extra_that_installs_every_package_its_cells_import():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for readme in sorted(ROOT.glob("README*.md")):
        (found,) = {match.groups() for match in OPEN.finditer(readme.read_text())}
        extra, notebook = found
        assert (ROOT / notebook).resolve() == NOTEBOOK, readme
        installed = {distribution(r) for r in [*project["dependencies"], *project["optional-dependencies"][extra]]}
        assert {"jupyterlab", "ipykernel"} <= installed
        imported = set()
        for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
            if cell.cell_type == "code":  # a line of the shell (!) or a magic (%) is not Python
                code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("!", "%")))
                for node in ast.walk(ast.parse(code)):
                    if isinstance(node, ast.Import):
                        imported |= {alias.name.split(".")[0] for alias in node.names}
                    elif isinstance(node, ast.ImportFrom) and node.level == 0:
                        imported.add(node.module.split(".")[0])
        providers = metadata.packages_distributions()
        for module in sorted(imported - set(sys.stdlib_module_names) - {"fizzlightning"}):
            assert {distribution(name) for name in providers[module]} & installed, f"{readme.name}: {module}"


@pytest.mark.slow
def test_notebook_runs(tmp_path, monkeypatch):
    # the shell cell runs `fizzlightning`: the console script beside this interpreter, whether or not the venv is
    # activated; the board is drawn by the kernel's inline backend, whatever MPLBACKEND says
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    in_tmp = {"metadata": {"path": str(tmp_path)}}  # the kernel's working directory
    NotebookClient(notebook, kernel_name="python3", timeout=300, resources=in_tmp).execute()

    lesson = re.search(r"Lesson loop, score on 1\.\.100: (\d+)/100", stdout(cell_with(notebook, "SGD")))
    assert lesson and 0 <= int(lesson[1]) <= 100

    lightning = re.search(r"test/acc on 1\.\.100: ([0-9.]+)", stdout(cell_with(notebook, "trainer.test")))
    assert lightning and 0.0 <= float(lightning[1]) <= 1.0

    board = cell_with(notebook, "render_board(")
    assert any("image/png" in out.get("data", {}) for out in board.outputs)

    assert list(tmp_path.glob("lightning_logs/fizzbuzz/*/fit.json")), "fizzlightning fit ran in the kernel's cwd"
    answers = re.findall(r"^ *(\d+)  (\S+)$", stdout(cell_with(notebook, "model.pt2")), flags=re.MULTILINE)
    assert [int(number) for number, _ in answers] == PLAYED
    for number, answer in answers:
        assert answer in (number, "fizz", "buzz", "fizzbuzz")
    print(f"notebook: lesson {lesson[1]}/100, Lightning test/acc {lightning[1]}")
