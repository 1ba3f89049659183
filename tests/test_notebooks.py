"""The teaching notebooks run top to bottom without errors (notebooks/*.ipynb).

Each notebook is executed by nbclient in a fresh kernel of this interpreter, with smaller
settings injected as a cell right after the one tagged `parameters` (as papermill does), so a
student's first "Run all" and this test exercise the same code. The committed notebooks must
also carry no outputs and match `notebooks/build_notebooks.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL_NAME = "sendsim-test-python"
TIMEOUT = 300  # seconds per cell; a hung kernel fails the test instead of stalling the suite
SMALL = {
    "01_quickstart.ipynb": {"SCALE": 0.02, "END": "2027-08"},
    "02_old_vs_new.ipynb": {"SCALE": 0.02, "END": "2030-08", "REPLICATES": 2},
    "03_what_drives_the_result.ipynb": {"SCALE": 0.02, "END": "2030-08", "TRAJECTORIES": 2, "REPLICATES": 2},
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
def test_notebook_runs_top_to_bottom(name, kernel_name, tmp_path):
    notebook = with_parameters(nbformat.read(NOTEBOOK_DIR / name, as_version=4), SMALL[name])
    client = nbclient.NotebookClient(notebook, kernel_name=kernel_name, timeout=TIMEOUT,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the failing cell and traceback, on any error
    errors = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("name", sorted(SMALL))
def test_committed_notebooks_are_built_by_the_generator_and_have_no_outputs(name, tmp_path):
    sys.path.insert(0, str(NOTEBOOK_DIR))
    try:
        import build_notebooks
    finally:
        sys.path.remove(str(NOTEBOOK_DIR))
    build_notebooks.build(tmp_path)
    committed = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in nbformat.read(tmp_path / name, as_version=4).cells]
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
