"""Imports live at module top; one inside a function says why it is there.

A function-level import hides a dependency from the reader and from the layer checker's quick
glance, so it is allowed only for a stated reason: the command line must start fast, an optional
extra may be missing, an import cycle would otherwise occur, or a worker process must import late.
The reason is a comment on the import's line or the line above; an import directly below an
explained one (the same block) shares its comment.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SIM = Path(__file__).resolve().parent.parent / "sim"

# what `sendsim --help` must not load: each costs a noticeable part of a second at startup, or is an optional extra
HEAVY_FOR_STARTUP = ("mesa", "scipy", "matplotlib", "SALib", "solara", "dask", "optuna", "playwright", "IPython")


def unexplained_imports(source: str) -> list[tuple[int, str]]:
    """(line, text) of every import inside a function with no comment on its line or the line
    above, and not continuing a block of imports whose first line is explained."""
    lines = source.splitlines()
    tree = ast.parse(source)
    imports = sorted({(node.lineno, node.end_lineno) for function in ast.walk(tree)
                      if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                      for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))})
    explained_ends: set[int] = set()
    missing = []
    for start, end in imports:
        line = lines[start - 1]
        above = lines[start - 2].strip() if start > 1 else ""
        if "#" in line or above.startswith("#") or (start - 1) in explained_ends:
            explained_ends.add(end)
        else:
            missing.append((start, line.strip()))
    return missing


def test_every_function_level_import_in_sim_says_why() -> None:
    missing = [f"{path.relative_to(SIM.parent)}:{line}: {text}" for path in sorted(SIM.rglob("*.py"))
               for line, text in unexplained_imports(path.read_text())]
    assert not missing, ("move these imports to module top, or say why they are late (fast startup, optional extra, "
                         "import cycle, worker process) in a comment:\n" + "\n".join(missing))


def test_the_checker_catches_an_unexplained_import_and_accepts_an_explained_block() -> None:
    source = (
        "def late():\n"
        "    import json\n"
        "\n"
        "def explained():\n"
        "    # optional extra: dask\n"
        "    import dask\n"
        "    import dask.distributed\n"
        "    x = 1\n"
        "    import os  # cycle: os imports this module\n"
        "    import re\n"
        "    y = 2\n"
        "    import csv\n"
    )
    assert unexplained_imports(source) == [(2, "import json"), (12, "import csv")]


def test_sendsim_help_does_not_load_the_simulation_or_optional_extras() -> None:
    """The lazy imports in the command line are there for this: `sendsim --help` and a mistyped
    command answer without loading the model, the report's plotting or an optional extra."""
    probe = f"import sys, sim.cli; print(' '.join(m for m in {HEAVY_FOR_STARTUP!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=SIM.parent).stdout.split()
    assert loaded == []
