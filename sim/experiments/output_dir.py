"""Where a run writes: checked before simulating, locked while in use, never deleting others' files.

Why: an output directory is often a place where a researcher keeps their own work next to the
results (a notebook, notes). A rerun must replace exactly the files the previous run wrote —
listed in its manifest under `written_files` — and nothing else; a directory that sendsim did not
write (no manifest, or a manifest of another kind such as an experiment store), a file, a
symbolic link, the file-system root or an unwritable place is refused before an hour of
simulation, not after it. Two runs into the same directory cannot interleave: the first holds a
lock file (`.<name>.lock` beside it, holding its process id) until it has finished writing.

The write itself (`stage_and_commit`) builds the whole run in a hidden sibling directory first, so
an error mid-write (a full disk, a permission problem) leaves the previous results intact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sim.errors import UserError

MANIFEST = "manifest.json"
WRITTEN_FILES = "written_files"  # manifest key: every file of the run directory, relative paths
# manifests of the result directories sendsim's commands write (run, compare, decompose, and
# their ensemble forms): a rerun may replace the files such a manifest lists
RUN_KINDS = ("sendsim-run", "paired_comparison", "decomposition", "family_channel_decomposition",
             "ensemble_run", "ensemble_paired_comparison")
MAX_NAME_BYTES = 255  # one path component (Linux, macOS, Windows)
MAX_PATH_BYTES = 4000  # a whole path (Linux PATH_MAX is 4096)
DEFAULT_NAME_CHARS = 100  # a scenario name used as a default directory name is cut to this

_held: set[Path] = set()  # locks this process holds (taking one twice is allowed)


class OutputError(UserError):
    """The output directory cannot be used; nothing was written."""


def default_name(name: str) -> str:
    """A scenario name made safe as one directory name under results/ (no '/', '..', absolute paths)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._")
    return safe[:DEFAULT_NAME_CHARS] or "scenario"


def check_destination(out: str | Path) -> Path:
    """Refuse (OutputError, nothing written) a destination a run must not write to; return it.

    Allowed: a path that does not exist yet (in a writable place), an empty directory, or a
    directory holding a manifest that `sendsim run` or `sendsim compare` wrote.
    """
    out = Path(out)
    text = str(out)
    if "\x00" in text:
        raise OutputError(f"--out {text!r} contains a NUL character")
    absolute = Path(os.path.abspath(out))
    if len(os.fsencode(str(absolute))) > MAX_PATH_BYTES or any(len(os.fsencode(p)) > MAX_NAME_BYTES for p in absolute.parts):
        raise OutputError(f"--out {_short(text)}: the path or one of its names is too long for the file system; choose a shorter --out")
    if absolute == Path(absolute.anchor):
        raise OutputError(f"--out {text}: refusing to write into the root of the file system; choose a directory such as results/<name>")
    if out.is_symlink():
        raise OutputError(f"--out {text} is a symbolic link; refusing to write through it — give the real directory")
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {text} exists and is a file, not a directory; choose another --out")
    if out.is_dir():
        _check_own_directory(out)
    ancestor = _nearest_existing(absolute.parent)
    if not ancestor.is_dir():
        raise OutputError(f"--out {text}: {ancestor} is a file, so the directory cannot be created; choose another --out")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"--out {text}: {ancestor} is not writable; choose another --out")
    return out


def _check_own_directory(out: Path) -> None:
    entries = list(out.iterdir())
    if not entries:
        return
    manifest = read_manifest(out)
    if manifest is None:
        names = sorted(p.name for p in entries)[:5]
        raise OutputError(f"--out {out} exists, is not empty and was not written by `sendsim run` or `compare` "
                          f"(no {MANIFEST}; it holds {names}); refusing to touch it — choose another --out")
    if not is_run_manifest(manifest):
        kind = manifest.get("kind") if isinstance(manifest, dict) else None
        raise OutputError(f"--out {out} holds a {MANIFEST} written by something else"
                          f"{f' (kind {kind!r})' if kind else ''}, not by `sendsim run`, `compare` or `decompose`; "
                          f"refusing to touch it — choose another --out")


def read_manifest(directory: Path) -> Any | None:
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def is_run_manifest(manifest: Any) -> bool:
    """A manifest `run` or `compare` wrote: its kind, or (older runs) a sendsim version and a scenario."""
    if not isinstance(manifest, dict):
        return False
    kind = manifest.get("kind")
    if kind is not None:
        return kind in RUN_KINDS
    return "sendsim_version" in manifest and ("scenario" in manifest or "config_sha256" in manifest)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# ---- lock ------------------------------------------------------------------------------------
@contextmanager
def output_lock(out: str | Path) -> Iterator[None]:
    """Hold `.<name>.lock` (with this process id) beside `out`; refuse if a live process holds it."""
    out = Path(os.path.abspath(out))
    lock = out.parent / f".{out.name}.lock"
    if lock in _held:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(lock)
            if holder is not None and _alive(holder) and attempt == 0:
                raise OutputError(f"--out {out} is being written by another sendsim (process {holder}); "
                                  f"wait for it to finish or choose another --out") from None
            lock.unlink(missing_ok=True)  # left by a process that no longer runs
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        break
    else:
        raise OutputError(f"--out {out}: cannot take the lock {lock}; another sendsim may be starting — try again")
    _held.add(lock)
    try:
        yield
    finally:
        _held.discard(lock)
        if _lock_holder(lock) == os.getpid():
            lock.unlink(missing_ok=True)


def _lock_holder(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- writing -----------------------------------------------------------------------------------
class Staging(type(Path())):  # type: ignore[misc] - a concrete Path class of this platform
    """The hidden directory a run is written into; `.destination` is where it ended up."""

    destination: Path


@contextmanager
def staged_directory(destination: str | Path, notify: Callable[[str], None] | None = None) -> Iterator[Staging]:
    """Yield an empty hidden directory; on success its files replace the previous run's at
    `destination` (only files that run listed), on error it vanishes and nothing changes."""
    destination = Path(destination)
    notify = notify or (lambda message: print(message, file=sys.stderr))
    with output_lock(destination):
        check_destination(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = Staging(destination.parent / f".{destination.name}.tmp-{uuid.uuid4().hex[:8]}")
        tmp.destination = destination
        tmp.mkdir()
        try:
            yield tmp
            tmp.destination = _commit(tmp, destination, notify)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _commit(tmp: Path, destination: Path, notify: Callable[[str], None]) -> Path:
    new = _files(tmp)
    manifest_path = tmp / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest.setdefault("kind", RUN_KINDS[0])
        manifest[WRITTEN_FILES] = new
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str), encoding="utf-8")
    if not destination.exists():
        os.rename(tmp, destination)
        return destination
    old_manifest = read_manifest(destination)
    present = set(_files(destination))
    if isinstance(old_manifest, dict) and isinstance(old_manifest.get(WRITTEN_FILES), list):
        ours = {str(p) for p in old_manifest[WRITTEN_FILES]} & present
    else:  # a run from before manifests listed their files: its files are the ones a run writes
        ours = {p for p in new if p in present} | ({MANIFEST} & present)
    clash = sorted(p for p in new if p in present and p not in ours)
    if clash:
        sibling = _free_sibling(destination)
        os.rename(tmp, sibling)
        notify(f"{destination} holds files this run did not write but would overwrite ({', '.join(clash[:5])}); "
               f"wrote this run to {sibling} instead")
        return sibling
    _swap(tmp, destination, sorted(ours), new)
    return destination


def _swap(tmp: Path, destination: Path, old: list[str], new: list[str]) -> None:
    """Move the previous run's files aside, the new ones in (manifest last), then drop the old;
    on any error put everything back as it was."""
    backup = destination.parent / f".{destination.name}.old-{uuid.uuid4().hex[:8]}"
    backup.mkdir()
    moved_old: list[str] = []
    moved_new: list[str] = []
    order = sorted(new, key=lambda p: p == MANIFEST)
    try:
        for rel in sorted(old, key=lambda p: p != MANIFEST):  # the old manifest goes first
            (backup / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(destination / rel, backup / rel)
            moved_old.append(rel)
        for rel in order:
            (destination / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, destination / rel)
            moved_new.append(rel)
    except BaseException:
        for rel in reversed(moved_new):
            os.replace(destination / rel, tmp / rel)
        for rel in reversed(moved_old):
            os.replace(backup / rel, destination / rel)
        shutil.rmtree(backup, ignore_errors=True)
        raise
    shutil.rmtree(backup, ignore_errors=True)
    for rel in old:  # directories the previous run made and that are now empty
        parent = (destination / rel).parent
        while parent != destination and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _free_sibling(destination: Path) -> Path:
    for number in range(2, 10_000):
        candidate = destination.with_name(f"{destination.name}-{number}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise OutputError(f"no free directory name next to {destination}; choose another --out")


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:40] + "..." + text[-30:]
