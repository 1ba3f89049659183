"""Run replicates of a scenario, in parallel on all cores, and collect their tables.

Replicate r of a scenario uses seed `replicate_seed(root, r)` whatever the scenario, so a
baseline and a reform with the same root seed are paired child by child (common random numbers).
Work is sent to processes as plain data (the resolved config dict), so results are identical on
any executor.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import multiprocessing
import os
import pickle
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from sim.config import ScenarioConfig, validate_config
from sim.experiments.executors import capped_workers, ignore_interrupts, terminate_pool
from sim.experiments.resources import check_memory
from sim.metrics import children_table, compute_metrics, system_table
from sim.metrics.compute import OUTCOME_EVENTS, finished_run
from sim.model import SendModel


def replicate_seed(root_seed: int, replicate: int) -> int:
    digest = hashlib.blake2b(f"{root_seed}|replicate|{replicate}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


#: Child rows (every child ever on roll in the run) from which `run_replicate` releases memory
#: between its phases. Why a threshold: a full collection walks every object of the process,
#: not only the model's, so its cost is set by what else the process holds: in a notebook kernel
#: with pandas, matplotlib and seaborn loaded it took 0.2 s, ten times per replicate, about 8 of
#: the 22 s of a two-replicate comparison at scale 0.02 (2,000 child rows: well under a megabyte
#: of state, nothing worth handing back). From 200,000 rows (about 29 MB of state; one council
#: at full scale is about 130,000 rows, England at scale 0.03 about 525,000) the memory is worth
#: the time.
RELEASE_MEMORY_FROM_ROWS = 200_000


def release_memory() -> None:
    """Free what is no longer referenced and hand the freed memory back to the operating system.

    Why: a finished model holds reference cycles (its stages are its own bound methods), so
    dropping it frees nothing until a collection; and the allocator (glibc) keeps most freed
    memory for reuse instead of returning it. A pool worker then pickles its tables (a second
    copy of its children table) on top of memory it no longer uses: in a national run at scale
    0.03 the process's resident memory fell from 0.452 to only 0.444 GiB when its model was
    collected, and to 0.287 GiB when the allocator was asked to give the freed memory back (`malloc_trim`; on other C libraries,
    where there is no such call, only the collection is done).
    """
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _keep_memory() -> None:
    """`release_memory`'s stand-in for a run too small to be worth a collection."""


@dataclass
class ReplicateOutput:
    replicate: int
    seed: int
    metrics: pd.DataFrame
    system: pd.DataFrame
    children: pd.DataFrame


def run_replicate(config: ScenarioConfig | dict, replicate: int, root_seed: int | None = None,
                  children_only: bool = False) -> ReplicateOutput:
    """Build, run and measure one replicate (importable top-level: picklable for process pools).

    `children_only`: return the children table and leave the metrics and system tables empty.
    Why: analyses that read only the children (the family-channel decomposition's gaps at equal
    need) would otherwise spend most of each sub-run on metrics they throw away (at scale 0.01,
    0.65 s of metrics against 0.13 s of simulation); the children table is the same either way
    (the metrics read it, never write it).
    """
    if isinstance(config, dict):
        config = validate_config(config)
    root = config.run.seed if root_seed is None else root_seed
    seed = replicate_seed(root, replicate)
    model = SendModel(config, seed=seed, event_kinds=OUTCOME_EVENTS)  # the kinds its outcomes read
    release = release_memory if len(model.children) >= RELEASE_MEMORY_FROM_ROWS else _keep_memory
    release()  # the build's temporaries, before the run's event log grows (0.2 of 0.66 GiB at scale 0.1)
    run = finished_run(model.run())
    del model
    release()  # the state columns nothing reads any more (`FinishedRun`)
    children = children_table(run)  # first: the metrics' gaps read it too
    metrics = pd.DataFrame() if children_only else compute_metrics(run, children, between=release)
    system = pd.DataFrame() if children_only else system_table(run)
    del run
    release()  # the event log and the rest of the state, before the tables are sent back
    for frame in (metrics, system, children):
        frame.insert(0, "replicate", replicate)
    return ReplicateOutput(replicate, seed, metrics, system, children)


def run_replicate_to_file(directory: str, *args) -> str:
    """A pool worker's task: `run_replicate(*args)`, its output written to a new file in
    `directory` (pickled); returns the file's path, for `load_replicate`.

    Why not return the output: a pool sends a task's result back pickled into one buffer, a
    second copy of the worker's tables (0.18 GiB at scale 0.1, about 1.8 GiB nationally) on top
    of the tables themselves, at the worker's peak; and the parent receives that buffer whole
    before unpickling it. Written to a file, each column goes straight from its array to the
    file (pickle protocol 5 writes large buffers as they are), and is read straight into its
    array. The tables are the same objects either way."""
    out = run_replicate(*args)
    handle, path = tempfile.mkstemp(suffix=".pickle", dir=directory)
    with os.fdopen(handle, "wb") as file:
        pickle.dump(out, file, protocol=5)
    return path


def load_replicate(path: str) -> ReplicateOutput:
    """The output `run_replicate_to_file` left at `path`; the file is removed."""
    with open(path, "rb") as file:
        out = pickle.load(file)
    os.unlink(path)
    return out


def run_replicates(
    config: ScenarioConfig,
    replicates: int,
    root_seed: int | None = None,
    workers: int | None = None,
    on_done: Callable[[ReplicateOutput], None] | None = None,
    memory_checked: bool = False,
    children_only: bool = False,
) -> list[ReplicateOutput]:
    """All replicates, ordered by replicate index; local processes unless workers == 1.

    `memory_checked`: the caller has already checked that the whole job fits (a comparison checks
    both routes before running the first); otherwise the memory is checked here.
    """
    workers = min(capped_workers(workers), replicates)
    if not memory_checked:
        check_memory(config, replicates, workers, label=f"{config.name} ({replicates} replicates)")
    done = (lambda _route, out: on_done(out)) if on_done else None
    return run_routes({config.name: config}, replicates, root_seed, workers, done, children_only)[config.name]


def run_routes(
    configs: dict[str, ScenarioConfig],
    replicates: int,
    root_seed: int | None = None,
    workers: int | None = None,
    on_done: Callable[[str, ReplicateOutput], None] | None = None,
    children_only: bool = False,
) -> dict[str, list[ReplicateOutput]]:
    """Every replicate of several scenarios (a comparison's routes) in one pool of processes.

    Why one pool: with one replicate per route, `run_replicates` route by route would use one
    process per route, one after the other, leaving the second core idle (the national
    comparison took the time of both routes). Here the routes' replicates are queued together,
    route by route in the order given, on `workers` processes (never more than there are
    tasks), so two routes of one replicate run side by side. Each task is `run_replicate` on
    the same payload and seed as it would be alone, so the tables are identical to a serial
    run. With one worker everything runs in this process, one after the other. The caller
    checks the memory (both routes' workers at once: `sim.experiments.resources.estimate_bytes`
    with `runs`). `on_done(route, output)` is called as each replicate finishes; `children_only`
    as in `run_replicate`.
    Returns each route's outputs, ordered by replicate index.
    """
    tasks = [(route, r) for route in configs for r in range(replicates)]
    workers = min(capped_workers(workers), len(tasks))
    payloads = {route: config.model_dump(mode="json") for route, config in configs.items()}
    outputs: dict[str, list[ReplicateOutput]] = {route: [] for route in configs}
    if workers <= 1:
        for route, r in tasks:
            out = run_replicate(payloads[route], r, root_seed, children_only)
            outputs[route].append(out)
            if on_done:
                on_done(route, out)
        return outputs
    # forkserver: forking a process that already runs threads (pyarrow, BLAS) can deadlock
    context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=ignore_interrupts)
    handover = tempfile.TemporaryDirectory(prefix="sendsim-replicates-")
    try:
        futures = {pool.submit(run_replicate_to_file, handover.name, payloads[route], r, root_seed, children_only): route
                   for route, r in tasks}
        for future in as_completed(futures):
            out = load_replicate(future.result())
            outputs[futures[future]].append(out)
            if on_done:
                on_done(futures[future], out)
    except BaseException:  # Ctrl-C, SIGTERM or a failed replicate: stop the others now
        terminate_pool(pool)
        raise
    finally:
        pool.shutdown(wait=True)
        handover.cleanup()
    return {route: sorted(outs, key=lambda o: o.replicate) for route, outs in outputs.items()}


def combine(outputs: list[ReplicateOutput]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return (
        pd.concat([o.metrics for o in outputs], ignore_index=True),
        pd.concat([o.system for o in outputs], ignore_index=True),
        pd.concat([o.children for o in outputs], ignore_index=True),
    )
