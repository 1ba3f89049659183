"""The results store of an experiment: one parquet per finished task, committed atomically.

Why this shape: experiments run for hours on many machines and get interrupted. Each task is
committed on its own (temp file, fsync, `os.replace`, then a sidecar with the parquet's sha256),
so a crash loses at most the tasks in flight, a rerun skips what is finished, and a damaged file
is detected rather than trusted.

Layout of `<out>/`:
    manifest.json       kind "sendsim-experiment"; experiment file path, text and sha256;
                        resolved scenario configs and hashes; design method and size; seeds;
                        code and package versions; git commit and dirty flag; created time
    design.parquet      point_id + one column per lever/uncertainty (dotted paths)
    runs/scenario=<name>/<task_id>.parquet
                        tidy metrics of one task (date, metric, by, group, value) plus task_id,
                        point_id, replicate, block; `scenario` is the hive partition (it is not
                        stored inside the file: pyarrow refuses a partition column that is also
                        a file column of another string type)
    runs/scenario=<name>/_<task_id>.json
                        sidecar {task_id, sha256, seconds, finished}; written last, so a parquet
                        without a sidecar is unfinished. The leading underscore makes pyarrow skip
                        it (as it skips Spark's `_SUCCESS`), so `pd.read_parquet(out / "runs")`
                        reads every task with `scenario` as a partition column.

`load_metrics` reads only finished tasks (with a sidecar) and pushes filters to pyarrow; a bare
`pd.read_parquet(out / "runs")` also reads a parquet whose sidecar a crash prevented (it is
rewritten, byte for byte the same, when the experiment is resumed).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

from sim import __version__
from sim.errors import UserError
from sim.experiments.design import Task, design_table
from sim.experiments.provenance import git_state, now_iso, package_versions
from sim.experiments.runner import replicate_seed
from sim.experiments.spec import ExperimentSpec

KIND = "sendsim-experiment"
MANIFEST = "manifest.json"
DESIGN = "design.parquet"
RUNS = "runs"
SIDECAR_PREFIX = "_"  # pyarrow ignores files starting with "_" or "."
TASK_COLUMNS = ("task_id", "point_id", "replicate", "block")
EXTRA_PACKAGES = ("SALib", "dask", "distributed")


class StoreError(UserError, RuntimeError):
    """The output directory cannot be used for this experiment; nothing was written."""


@dataclass
class ResultsStore:
    """An opened results directory: knows which tasks are finished and commits new ones."""

    root: Path
    manifest: dict[str, Any]
    finished: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # damaged tasks found on resume (re-run)
    resumed: bool = False

    def task_dir(self, scenario: str) -> Path:
        return self.root / RUNS / f"scenario={scenario}"

    def commit(self, task: Task, frame: pd.DataFrame, seconds: float) -> str:
        """Write one task's metrics atomically, then its sidecar; returns the parquet's sha256."""
        frame = frame.copy()
        for name, value in (("task_id", task.task_id), ("point_id", task.point_id),
                            ("replicate", task.replicate), ("block", task.block)):
            frame[name] = value
        frame["task_id"] = frame["task_id"].astype("string")
        for name in ("point_id", "replicate", "block"):
            frame[name] = frame[name].astype("int64")
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        payload = buffer.getvalue()
        digest = hashlib.sha256(payload).hexdigest()
        directory = self.task_dir(task.scenario)
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(directory / f"{task.task_id}.parquet", payload)
        sidecar = {"task_id": task.task_id, "sha256": digest, "seconds": round(seconds, 3), "finished": now_iso()}
        _atomic_write(sidecar_path(directory / f"{task.task_id}.parquet"), json.dumps(sidecar, indent=1).encode())
        self.finished.add(task.task_id)
        return digest


# ---- opening -----------------------------------------------------------------------------------
def open_store(out: str | Path, spec: ExperimentSpec, design: pd.DataFrame | None = None,
               n_tasks: int | None = None) -> ResultsStore:
    """Create the results directory, or resume it if it holds this same experiment.

    Refuses (StoreError, writes nothing) a directory that is not empty and has no manifest
    (foreign), whose manifest cannot be read (corrupted), or that belongs to another experiment.
    """
    root = Path(out)
    design = design_table(spec) if design is None else design
    if root.is_symlink():
        raise StoreError(f"{root} is a symbolic link; refusing to write through it — give the real directory as --out")
    if root.exists() and not root.is_dir():
        raise StoreError(f"{root} exists and is not a directory; refusing to use it")
    if not root.exists() or not any(root.iterdir()):
        return _create(root, spec, design, n_tasks)
    manifest = _read_existing_manifest(root)
    _check_same_experiment(root, manifest, spec, design)
    store = ResultsStore(root, manifest, resumed=True)
    _scan(store)
    return store


def _create(root: Path, spec: ExperimentSpec, design: pd.DataFrame, n_tasks: int | None) -> ResultsStore:
    """Build manifest and design in a hidden sibling directory, then rename it into place."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        manifest = build_manifest(spec, design, n_tasks)
        buffer = io.BytesIO()
        design.to_parquet(buffer, index=False)
        _atomic_write(tmp / DESIGN, buffer.getvalue())
        (tmp / RUNS).mkdir()
        _atomic_write(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
        if root.exists():
            root.rmdir()  # empty (checked by the caller)
        os.replace(tmp, root)
        _fsync_dir(root.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ResultsStore(root, manifest)


def build_manifest(spec: ExperimentSpec, design: pd.DataFrame, n_tasks: int | None = None) -> dict[str, Any]:
    packages = package_versions()
    for name in EXTRA_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "kind": KIND,
        "name": spec.name,
        "description": spec.description,
        "task": spec.task,
        "experiment_file": str(spec.path),
        "experiment_text": spec.text,
        "experiment_sha256": spec.experiment_sha256,
        "experiment_identity": spec.identity,
        "scenarios": {
            name: {"source": spec.scenario_sources[name], "sha256": spec.scenario_hashes[name], "config": config}
            for name, config in spec.scenarios.items()
        },
        "levers": spec.levers,
        "uncertainties": [{"path": u.path, "low": u.low, "high": u.high, "integer": u.integer} for u in spec.uncertainties],
        "design": {
            "method": spec.design.method, "samples": spec.design.samples, "levels": spec.design.levels,
            "calc_second_order": spec.design.calc_second_order, "points": int(len(design)),
            "replicates": spec.replicates, "tasks": n_tasks,
        },
        "seeds": {"root": spec.seed, "replicates": {str(r): replicate_seed(spec.seed, r) for r in range(spec.replicates)}},
        "overrides": {"population.scale": spec.scale, "run.end": spec.end},
        "councils_per_block": spec.councils_per_block,
        "outputs": list(spec.outputs) if spec.outputs else None,
        "sendsim_version": __version__,
        "packages": packages,
        "git": git_state(),
        "created": now_iso(),
    }


def _read_existing_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        entries = sorted(p.name for p in root.iterdir())[:5]
        raise StoreError(f"{root} is not empty and is not a sendsim experiment directory (no {MANIFEST}; "
                         f"contains {entries}); refusing to write into it — choose another --out")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path} cannot be read ({exc}); the results directory looks corrupted — "
                         f"refusing to touch it (move it aside or choose another --out)") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise StoreError(f"{path} is not a sendsim experiment manifest (no kind: {KIND!r}); refusing to write into {root}")
    return manifest


def _check_same_experiment(root: Path, manifest: dict[str, Any], spec: ExperimentSpec, design: pd.DataFrame) -> None:
    """Resume only the very same experiment: file text, scenario configs and design."""
    if manifest.get("experiment_sha256") != spec.experiment_sha256:
        raise StoreError(f"{root} holds results of a different experiment "
                         f"({manifest.get('experiment_file', '?')}, sha256 {str(manifest.get('experiment_sha256'))[:12]}…) "
                         f"than {spec.path} (sha256 {spec.experiment_sha256[:12]}…); refusing to mix them — "
                         f"choose another --out")
    stored = {name: entry.get("sha256") for name, entry in (manifest.get("scenarios") or {}).items()}
    if stored != spec.scenario_hashes:
        changed = sorted(n for n in set(stored) | set(spec.scenario_hashes) if stored.get(n) != spec.scenario_hashes.get(n))
        raise StoreError(f"{root}: scenario config(s) {changed} changed since these results were made "
                         f"(the experiment file did not); refusing to mix them — choose another --out")
    try:
        existing = pd.read_parquet(root / DESIGN)
    except Exception as exc:  # noqa: BLE001 - any read failure means we cannot trust the directory
        raise StoreError(f"{root / DESIGN} cannot be read ({exc}); refusing to resume") from None
    buffer = io.BytesIO()
    design.to_parquet(buffer, index=False)  # compare like with like (dtypes after a parquet round trip)
    if not existing.equals(pd.read_parquet(buffer)):
        raise StoreError(f"{root / DESIGN} differs from the design this experiment produces now "
                         f"(a different SALib version?); refusing to resume — choose another --out")


def remove_partial_writes(store: ResultsStore) -> None:
    """Delete task files left half-written by an interruption (their names mark them as the store's
    own temporaries; a task counts only once its file has been renamed into place)."""
    for leftover in (store.root / RUNS).glob("*/.*.tmp-*"):
        leftover.unlink(missing_ok=True)


def _scan(store: ResultsStore) -> None:
    """Find finished tasks; a sidecar whose parquet is missing or differs is reported and dropped."""
    runs = store.root / RUNS
    remove_partial_writes(store)  # a task killed mid-write
    for sidecar in sorted(runs.glob(f"scenario=*/{SIDECAR_PREFIX}*.json")):
        parquet = parquet_path(sidecar)
        problem = None
        try:
            record = json.loads(sidecar.read_text())
            expected = record["sha256"]
            recorded_task = record["task_id"]
        except (OSError, ValueError, KeyError, TypeError):
            problem = f"{sidecar}: sidecar unreadable"
        else:
            if recorded_task != parquet.stem:  # another task's files copied over this one's names
                problem = f"{parquet}: its sidecar belongs to task {str(recorded_task)[:40]!r}, not to {parquet.stem!r}"
            elif not parquet.is_file():
                problem = f"{parquet}: missing (sidecar says finished)"
            elif _sha256_file(parquet) != expected:
                problem = f"{parquet}: contents differ from the sha256 recorded when it was committed"
        if problem:
            store.problems.append(problem + "; the task will be re-run")
            sidecar.unlink()
        else:
            store.finished.add(parquet.stem)


# ---- reading -----------------------------------------------------------------------------------
def finished_files(out: str | Path) -> list[Path]:
    """Parquet files of finished tasks (those with a sidecar)."""
    runs = Path(out) / RUNS
    return sorted(parquet_path(p) for p in runs.glob(f"scenario=*/{SIDECAR_PREFIX}*.json") if parquet_path(p).is_file())


def sidecar_path(parquet: Path) -> Path:
    return parquet.with_name(f"{SIDECAR_PREFIX}{parquet.stem}.json")


def parquet_path(sidecar: Path) -> Path:
    return sidecar.with_name(f"{sidecar.stem[len(SIDECAR_PREFIX):]}.parquet")


def load_metrics(out: str | Path, metrics: list[str] | str | None = None, by: list[str] | str | None = None,
                 scenarios: list[str] | str | None = None) -> pd.DataFrame:
    """All finished tasks' metrics (with a `scenario` column), optionally filtered in pyarrow."""
    files = finished_files(out)
    columns = ["date", "metric", "by", "group", "value", *TASK_COLUMNS, "scenario"]
    if not files:
        return pd.DataFrame(columns=columns)
    dataset = ds.dataset([str(f) for f in files], format="parquet", partitioning="hive",
                         partition_base_dir=str(Path(out) / RUNS))
    condition = None
    for name, wanted in (("metric", metrics), ("by", by), ("scenario", scenarios)):
        if wanted is None:
            continue
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        clause = ds.field(name).isin(wanted)
        condition = clause if condition is None else condition & clause
    frame = dataset.to_table(filter=condition).to_pandas()
    frame["scenario"] = frame["scenario"].astype("string")  # like metric, by and group
    return frame


def load_design(out: str | Path) -> pd.DataFrame:
    return pd.read_parquet(Path(out) / DESIGN)


def load_manifest(out: str | Path) -> dict[str, Any]:
    return _read_existing_manifest(Path(out))


# ---- files ---------------------------------------------------------------------------------------
def _atomic_write(path: Path, payload: bytes) -> None:
    """Write to a hidden temp name in the same directory, fsync, then rename over `path`."""
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    with open(tmp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
