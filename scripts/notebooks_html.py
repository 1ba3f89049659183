"""Execute the teaching notebooks (Jupytext sources in notebooks/) and write HTML to docs/notebooks/.

Why: readers without a Python environment should see what each notebook shows, with its
figures, at the notebook's own default settings. Each notebook runs in a fresh kernel of this
interpreter, in a temporary folder, so nothing is written beside the sources.

    python scripts/notebooks_html.py [NAME.py ...]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import jupytext
import nbclient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks"
OUT = ROOT / "docs" / "notebooks"
KERNEL = "sendsim-notebooks-html"


def kernel_dir(root: Path) -> None:
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "sendsim", "language": "python"}))


def render(source: Path, workdir: Path) -> Path:
    notebook = jupytext.read(source)
    nbclient.NotebookClient(notebook, kernel_name=KERNEL, timeout=1800,
                            resources={"metadata": {"path": str(workdir)}}).execute()
    body, _ = HTMLExporter().from_notebook_node(notebook)
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"{source.stem}.html"
    target.write_text(body)
    return target


def main(names: list[str]) -> None:
    sources = [SOURCES / n for n in names] if names else sorted(SOURCES.glob("[0-9]*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        kernel_dir(Path(tmp) / "jupyter")
        os.environ["JUPYTER_PATH"] = str(Path(tmp) / "jupyter")
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        for source in sources:
            print(f"executing {source.name} ...", flush=True)
            print(f"wrote {render(source, Path(tmp)).relative_to(ROOT)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
