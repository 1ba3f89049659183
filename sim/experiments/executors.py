"""Where tasks run: in this process, in local processes, or on a dask cluster — same results.

Why one interface: the engine only needs "run this pure function on these payloads and give me
results as they finish" (`map_unordered`). Tasks are plain data in and plain data out, and every
random draw is keyed on the task's seed, so the executor changes speed, never numbers.

Submission is windowed (a few tasks per worker in flight), so tasks start roughly in the
designed order and a partly finished experiment still covers the design evenly.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from sim.errors import UserError, require_extra

IN_FLIGHT_PER_WORKER = 2
EXECUTORS = ("serial", "local", "dask")


class Executor(Protocol):
    workers: int

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]: ...

    def close(self) -> None: ...


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def capped_workers(workers: int | None) -> int:
    """The workers asked for, but never more local processes than cores (a process per core is
    the fastest; more only multiplies memory and start-up time)."""
    return max(1, min(workers or default_workers(), default_workers()))


def ignore_interrupts() -> None:
    """Worker initialiser: Ctrl-C reaches the whole process group, but only the parent decides how
    to stop (it terminates its workers), so workers do not print their own tracebacks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def terminate_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a process pool now: cancel queued tasks and terminate running workers (after Ctrl-C
    or SIGTERM; a plain shutdown would wait for every running task to finish)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


class ExecutorError(UserError):
    """The executor cannot start (e.g. an unreachable dask scheduler)."""


SCHEDULER_TIMEOUT_SECONDS = 10


class SerialExecutor:
    """Runs tasks one after another in this process (debugging, tiny experiments, reference)."""

    workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        pass


class LocalExecutor:
    """A pool of local processes, started by forkserver (or spawn): forking a parent that already
    runs threads (pyarrow, BLAS, a dask client) can deadlock, as in `runner.run_replicates`."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = capped_workers(workers)
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context(method),
                                         initializer=ignore_interrupts)

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        pending: set[Future] = set()
        queue = iter(items)
        limit = self.workers * IN_FLIGHT_PER_WORKER
        while True:
            for item in queue:
                pending.add(self._pool.submit(fn, item))
                if len(pending) >= limit:
                    break
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        terminate_pool(self._pool)


class DaskExecutor:
    """A dask.distributed cluster: an existing one (`scheduler` address) or a new LocalCluster."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        distributed = require_extra("dask.distributed", "distributed", "The dask executor (--executor dask)")
        Client, LocalCluster = distributed.Client, distributed.LocalCluster

        self._cluster = None
        if scheduler:
            try:
                self._client = Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_SECONDS}s")
            except Exception as exc:
                raise ExecutorError(f"cannot reach the dask scheduler at {scheduler!r} within {SCHEDULER_TIMEOUT_SECONDS} s "
                                    f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]}); start it, check the "
                                    f"address (e.g. tcp://host:8786), or drop --scheduler to run locally") from None
            self.workers = max(1, sum(w.get("nthreads", 1) for w in self._client.scheduler_info()["workers"].values()))
        else:
            self.workers = capped_workers(workers)
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self._client = Client(self._cluster)

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        # optional extra: dask (`sendsim[distributed]`)
        from dask.distributed import as_completed

        queue = iter(items)
        limit = self.workers * IN_FLIGHT_PER_WORKER
        first = [self._client.submit(fn, item, pure=False) for item in _take(queue, limit)]
        if not first:
            return
        stream = as_completed(first)
        for future in stream:
            result = future.result()
            future.release()
            for item in _take(queue, 1):
                stream.add(self._client.submit(fn, item, pure=False))
            yield result

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def terminate(self) -> None:
        """Cancel what is queued and shut the local cluster's worker processes down."""
        self.close()


def _take(iterator: Iterator[Any], n: int) -> list[Any]:
    out = []
    for item in iterator:
        out.append(item)
        if len(out) >= n:
            break
    return out


def make_executor(kind: str = "local", workers: int | None = None, scheduler: str | None = None) -> Executor:
    """`serial`, `local` (processes, default all cores) or `dask` (cluster at `scheduler`, else local)."""
    if kind == "serial":
        return SerialExecutor()
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(workers, scheduler)
    raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
