"""Writing a run directory atomically: a crash never leaves a half-written run that looks complete.

Everything is written into a hidden temporary directory next to the destination, then renamed
into place; an earlier run at the destination is replaced only once the new one is complete.
"""

from __future__ import annotations

import json
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

MANIFEST = "manifest.json"


@contextmanager
def atomic_directory(destination: Path) -> Iterator[Path]:
    """Yield a temporary directory; on success it becomes `destination`, on error it vanishes."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists() and not (destination / MANIFEST).is_file() and any(destination.iterdir()):
        raise FileExistsError(f"{destination} exists and is not a sendsim run directory (no {MANIFEST}); refusing to replace it")
    tmp = destination.parent / f".{destination.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    trash = None
    if destination.exists():
        trash = destination.parent / f".{destination.name}.old-{uuid.uuid4().hex[:8]}"
        destination.rename(trash)
    tmp.rename(destination)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def write_manifest(directory: Path, manifest: dict) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
