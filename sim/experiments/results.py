"""Writing a run directory atomically: a crash never leaves a half-written run that looks complete.

Everything is written into a hidden temporary directory next to the destination, then moved
into place; an earlier run at the destination is replaced only once the new one is complete, and
only the files it wrote (files a user added to the directory are kept).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sim.experiments.output_dir import staged_directory

MANIFEST = "manifest.json"


@contextmanager
def atomic_directory(destination: Path) -> Iterator[Path]:
    """Yield a temporary directory; on success its files become the run at `destination`, on error
    it vanishes. Only files the previous run listed in its manifest are replaced (see
    `sim.experiments.output_dir`); `.destination` of the yielded path is where the run ended up."""
    with staged_directory(destination) as tmp:
        yield tmp


def write_manifest(directory: Path, manifest: dict) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
