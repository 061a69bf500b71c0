"""notebooks/fizzbuzz.ipynb runs top to bottom in a fresh kernel and prints what its text says it prints.

The kernel is this interpreter's (jupyter_client starts ``python3`` kernels with ``sys.executable``), its
working directory a temporary one, so the runs the notebook makes stay out of the repository.
"""

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "fizzbuzz.ipynb"
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
