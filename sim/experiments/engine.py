"""Run an experiment: spec → design → tasks → executor → results store, resumable at any point.

Why this split: the engine only orchestrates. What is run is the spec and design (data); how it
runs is the executor; where results go is the store. The task function `simulate` is pure given
its payload (scenario config, parameter values, seed, council block), so a task gives the same
bytes on any executor and a resumed experiment equals an uninterrupted one.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from sim.config.loader import deep_merge, validate_config
from sim.experiments.design import Task, build_tasks, design_table, point_values
from sim.experiments.executors import capped_workers, make_executor
from sim.experiments.resources import check_memory
from sim.experiments.spec import ExperimentSpec, load_experiment, nested
from sim.experiments.store import DESIGN, MANIFEST, RUNS, open_store, remove_partial_writes
from sim.experiments.testfunctions import TEST_FUNCTIONS
from sim.metrics import compute_metrics
from sim.model import SendModel

DEFAULT_ROOT = Path("results") / "experiments"


def task_payload(spec: ExperimentSpec, task: Task, values: dict[str, Any]) -> dict[str, Any]:
    """Everything a worker needs, as plain data (picklable, no file access on the worker)."""
    return {
        "task": spec.task,
        "task_id": task.task_id,
        "config": spec.scenarios.get(task.scenario),
        "values": values,
        "seed": task.seed,
        "block": task.block,
        "first_council": task.first_council,
        "councils": task.councils,
        "outputs": list(spec.outputs) if spec.outputs else None,
    }


def simulate(payload: dict[str, Any]) -> pd.DataFrame:
    """Run one scenario at one design point for one replicate and council block; tidy metrics.

    The scenario config (already carrying the experiment's scale/end overrides) is overlaid with
    the point's lever and uncertainty values, validated, and run with the replicate's seed.
    """
    data = payload["config"]
    for path, value in payload["values"].items():
        data = deep_merge(data, nested(path, value))
    # a council block is an exact slice of the whole run: same seed, councils first..first+k-1
    data = deep_merge(data, {"population": {"councils": payload["councils"], "first_council": payload["first_council"]}})
    config = validate_config(data, origin=f"task {payload['task_id']}")
    model = SendModel(config, seed=payload["seed"]).run()
    frame = compute_metrics(model)
    if payload["outputs"]:
        frame = frame[frame["metric"].isin(payload["outputs"])].reset_index(drop=True)
    return frame


def execute(payload: dict[str, Any]) -> tuple[str, pd.DataFrame, float]:
    """Worker entry point (top level, so every executor can pickle it): (task_id, metrics, seconds)."""
    started = time.perf_counter()
    if payload["task"] == "simulate":
        frame = simulate(payload)
    else:
        frame = TEST_FUNCTIONS[payload["task"]](payload["values"])
    return payload["task_id"], frame, time.perf_counter() - started


def _remove_new_store(out: Path) -> None:
    """Remove a store this run created and committed nothing to (only the files it writes)."""
    for name in (MANIFEST, DESIGN):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / RUNS, ignore_errors=True)
    try:
        out.rmdir()
    except OSError:
        pass


def run_experiment(
    spec_path: str | Path,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Run (or resume) the experiment in `spec_path`; return its results directory.

    Finished tasks (verified against their sha256) are skipped; damaged ones are reported through
    `log` and re-run. `progress(done, total)` is called once before any task and after each commit.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    spec = load_experiment(spec_path)
    design = design_table(spec)
    tasks = build_tasks(spec, design)
    out = Path(out) if out is not None else DEFAULT_ROOT / spec.name
    for name, scenario in spec.scenarios.items():  # one task = one replicate of one council block
        config = validate_config(scenario, origin=name)
        block = spec.councils_per_block or config.population.councils
        config = config.model_copy(update={"population": config.population.model_copy(update={"councils": min(block, config.population.councils)})})
        check_memory(config, 1, 1 if executor == "serial" else capped_workers(workers), label=f"scenario {name} of {spec.name}")
    store = open_store(out, spec, design, n_tasks=len(tasks))
    for problem in store.problems:
        log(problem)
    by_id = {task.task_id: task for task in tasks}
    values = point_values(design)
    todo = [task for task in tasks if task.task_id not in store.finished]
    done = len(tasks) - len(todo)
    if store.resumed:
        log(f"resuming {out}: {done} of {len(tasks)} tasks already finished"
            + (", nothing left to run" if not todo else f", running the other {len(todo)}"))
    if progress:
        progress(done, len(tasks))
    if not todo:
        return out
    payloads = (task_payload(spec, task, values[task.point_id]) for task in todo)
    seen: set[str] = set()
    committed = 0
    runner = None
    try:
        runner = make_executor(executor, workers=workers, scheduler=scheduler)
        for task_id, frame, seconds in runner.map_unordered(execute, payloads):
            store.commit(by_id[task_id], frame, seconds)
            committed += 1
            seen.update(frame["metric"].unique())
            done += 1
            if progress:
                progress(done, len(tasks))
    except BaseException as exc:
        if runner is not None and hasattr(runner, "terminate"):
            runner.terminate()  # stop workers now: Ctrl-C, SIGTERM or a failed task
        remove_partial_writes(store)  # an interrupted commit leaves only its temporary file
        if not store.resumed and committed == 0:
            _remove_new_store(out)  # nothing to resume: a corrected experiment file can use --out
        elif isinstance(exc, KeyboardInterrupt):
            log(f"interrupted: {done} of {len(tasks)} tasks are safely in {out}; "
                f"run the same command again to resume")
        raise
    finally:
        if runner is not None:
            runner.close()
    missing = sorted(set(spec.outputs or ()) - seen)
    if missing:  # a misspelt output is not an error the spec can catch (metrics exist only after a run)
        log(f"outputs {missing} were not produced by any task run now; check the metric names (docs/METRICS.md)")
    return out
