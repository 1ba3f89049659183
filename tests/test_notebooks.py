"""The teaching notebooks run top to bottom without errors or warnings, and teach.

The source of truth is the Jupytext percent-format `notebooks/*.py`; each is executed by
nbclient in a fresh kernel of this interpreter, with smaller settings injected as a cell right
after the one tagged `parameters` (as papermill does), so a student's first "Run all" and this
test exercise the same code. The paired `.ipynb` must hold the same cells and no outputs, and
every notebook must state learning goals and offer exercises with folded solutions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
jupytext = pytest.importorskip("jupytext")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL_NAME = "sendsim-test-python"
TIMEOUT = 300  # seconds per cell; a hung kernel fails the test instead of stalling the suite
SMALL = {
    "01_quickstart.py": {"SCALE": 0.02, "END": "2027-08"},
    "02_old_vs_new.py": {"SCALE": 0.02, "END": "2030-08", "REPLICATES": 2},
    "03_what_drives_the_result.py": {"SCALE": 0.02, "END": "2030-08", "TRAJECTORIES": 2, "REPLICATES": 2},
}


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory) -> str:
    """A kernel spec that starts this very interpreter (whatever `python3` means elsewhere)."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "sendsim tests", "language": "python",
    }))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(root))
    mp.setenv("MPLBACKEND", "Agg")
    yield KERNEL_NAME
    mp.undo()


def with_parameters(notebook, values: dict):
    """Insert an assignment cell after the cell tagged `parameters`."""
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = "injected-parameters"
    notebook.cells.insert(index + 1, cell)
    return notebook


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_top_to_bottom_without_warnings(name, kernel_name, tmp_path):
    notebook = with_parameters(jupytext.read(NOTEBOOK_DIR / name), SMALL[name])
    client = nbclient.NotebookClient(notebook, kernel_name=kernel_name, timeout=TIMEOUT,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the failing cell and traceback, on any error
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    stderr = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr")
    assert "Warning" not in stderr, f"{name} printed a warning:\n{stderr}"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_paired_ipynb_matches_its_jupytext_source_and_has_no_outputs(name):
    source = jupytext.read(NOTEBOOK_DIR / name)
    paired = nbformat.read(NOTEBOOK_DIR / name.replace(".py", ".ipynb"), as_version=4)
    assert [(c.cell_type, c.source) for c in paired.cells] == [(c.cell_type, c.source) for c in source.cells], \
        f"notebooks/{name} and its .ipynb differ: run `jupytext --sync notebooks/{name}`"
    for cell in paired.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_teaches_goals_exercises_and_folded_solutions(name):
    cells = jupytext.read(NOTEBOOK_DIR / name).cells
    assert "**Learning goals.**" in cells[0].source
    exercises = [c for c in cells if "## Exercise" in c.source or "exercise" in c.metadata.get("tags", [])]
    solutions = [c for c in cells if "solution" in c.metadata.get("tags", [])]
    assert exercises and solutions
    for cell in solutions:
        assert cell.cell_type == "markdown" and cell.source.lstrip().startswith("<details><summary>Solution")
        assert cell.source.rstrip().endswith("</details>")
    # every exercise that changes a lever runs in the test above (it is a code cell tagged `exercise`)
    assert all(c.cell_type == "code" for c in cells if "exercise" in c.metadata.get("tags", []))
