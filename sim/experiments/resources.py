"""Will a run fit in memory? An estimate made before starting, so an impossible run is refused.

Why: a scenario of 200 councils at full scale with many replicates on many workers needs tens of
gigabytes; started anyway, it runs for minutes and is then killed by the operating system (or
makes the machine swap), with nothing written. Refusing up front, with the estimate and what to
change, costs a user nothing.

The worker's figures are the peak resident memory (`resource.getrusage`) of a fresh process
running one replicate (`run_replicate`: build, monthly steps, children table, metrics) of the
national configuration, measured on the current code for both routes (the two agree within 1%):
0.359, 0.606, 1.289 and 3.62 GiB at scales 0.03, 0.1, 0.3 and 1.0 to August 2036 (243,000 to 8.1
million pupils, twelve simulated years), and 0.406 GiB at scale 0.1 over three years. They lie on
a line: about 0.26 GiB that does not grow with the population (the interpreter and libraries,
0.16 GiB, and the run's fixed tables) and 99 bytes per pupil plus 29.5 per pupil and simulated
year. The estimate rounds each up (`PROCESS_BASE_BYTES` and `WORKER_FIXED_BYTES`, 310 MiB in
all; 110 bytes plus 32 a year) so that it is 10-16% above every measurement: 0.415, 0.676, 1.42
and 4.03 GiB, and 0.458 GiB over three years. Before, with figures fitted when the worker's peak
was the build and the event log kept every kind (330 bytes plus 35 a year, on a 250 MiB base),
it gave 5.9 GiB at full scale, 63% above the worker measured there.

The parent holds about 0.4 KB per pupil, replicate and route of tables received from finished
workers (`RESULT_BYTES_PER_PUPIL_REPLICATE`: the children table above all), and peaks when it
pairs the routes' children for the comparison's tables, after the workers have ended: measured
at full scale, one replicate of each route, at 7.9 GiB in all (0.51 KB per pupil and route beyond
the interpreter; `ANALYSIS_BYTES_PER_PUPIL_REPLICATE` rounds it up to 0.55 KB). The two peaks
come at different moments, so the estimate is the larger of them, not their sum: while the last
workers run, those workers beside the tables of every replicate already finished; then the
analysis of them all. Counting the tables on top of the workers and of the analysis, as the
estimate did before, gave 12.2 GiB for the national comparison one route after the other, which
refused it with 13 GiB free (a 16 GB machine), where its measured peaks fit.

A comparison queues both routes' replicates in one pool, so with two workers and one replicate
both routes' workers run at once and are counted twice (`estimate_bytes` with `runs=2`). For the
national comparison at full scale the analysis is the larger moment either way: 8.5 GiB
(measured: 7.2 GiB for the two workers together, 7.9 GiB for the analysis after them; the
estimate was 18.1 GiB before), which needs 9.5 GiB free. At scale 0.3 both routes at once are
estimated at 3.1 GiB and one after the other at 2.7 GiB: with between 3.0 and 3.4 GiB free the
comparison runs its routes one after the other (`workers_that_fit`).
"""

from __future__ import annotations

import os

from sim.config import ScenarioConfig
from sim.config.council_table import council_profiles
from sim.errors import UserError

BYTES_PER_PUPIL = 110  # a worker's memory per pupil, whatever the run's length
BYTES_PER_PUPIL_YEAR = 32  # and per pupil and simulated year
WORKER_FIXED_BYTES = 60 * 2**20  # a worker's run beyond the interpreter that does not grow with the population
RESULT_BYTES_PER_PUPIL_REPLICATE = 400  # tables a finished replicate hands the parent
ANALYSIS_BYTES_PER_PUPIL_REPLICATE = 550  # the parent's peak analysing every replicate of every run, tables included
PROCESS_BASE_BYTES = 250 * 2**20  # the interpreter with numpy, pandas, scipy, pyarrow and mesa loaded (about 235 MiB)
USABLE_SHARE = 0.9  # of the memory available now; the rest is the operating system's


class InsufficientMemoryError(UserError):
    """The run would need more memory than the machine has; nothing was started."""


def simulated_pupils(config: ScenarioConfig) -> float:
    """Pupils at the start census over every simulated council (before growth)."""
    population = config.population
    if population.council_table is not None:
        profiles = council_profiles(population.council_table)
        chosen = profiles.iloc[population.first_council:population.first_council + population.councils]
        return float(chosen["pupils"].sum()) * population.scale
    return float(population.councils * population.pupils_per_council * population.scale)


def worker_bytes(config: ScenarioConfig) -> int:
    """Peak memory of one process building, running and measuring one replicate."""
    years = (int(config.run.end[:4]) - int(config.run.start[:4])) + 1
    return int(PROCESS_BASE_BYTES + WORKER_FIXED_BYTES + simulated_pupils(config) * (BYTES_PER_PUPIL + BYTES_PER_PUPIL_YEAR * years))


def estimate_bytes(config: ScenarioConfig, replicates: int, workers: int, runs: int = 1) -> int:
    """Peak memory of `replicates` replicates of each of `runs` scenarios, queued in one pool and
    run `workers` at a time, whose tables are all kept (a comparison runs both routes' replicates
    in one pool, `sim.experiments.runner.run_routes`, and keeps both routes' tables): one
    replicate of each route on two workers runs both at once.

    The larger of two moments (module docstring): the last `workers` replicates running beside
    the tables of all the others, received; and the parent analysing every replicate's tables."""
    pupils = simulated_pupils(config)
    total = replicates * runs
    concurrent = max(1, min(workers, total))
    running = worker_bytes(config) * concurrent + pupils * RESULT_BYTES_PER_PUPIL_REPLICATE * (total - concurrent)
    analysis = pupils * ANALYSIS_BYTES_PER_PUPIL_REPLICATE * total
    return int(PROCESS_BASE_BYTES + max(running, analysis))


def available_bytes() -> int | None:
    """Memory available now (Linux /proc/meminfo), else None (no check)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(config: ScenarioConfig, replicates: int, workers: int, label: str = "this run", runs: int = 1) -> None:
    """Refuse (InsufficientMemoryError) a run whose estimate exceeds the usable memory (`runs`: as
    in `estimate_bytes`)."""
    available = available_bytes()
    if available is None:
        return
    needed = estimate_bytes(config, replicates, workers, runs)
    if needed > available * USABLE_SHARE:
        raise InsufficientMemoryError(
            f"{label} would need about {needed / 2**30:.1f} GiB of memory ({simulated_pupils(config):,.0f} pupils, "
            f"{replicates} replicates, {max(1, min(workers, replicates * runs))} at a time) but {available / 2**30:.1f} GiB is "
            f"available; lower population.scale or population.councils, or use fewer --workers")


def workers_that_fit(config: ScenarioConfig, replicates: int, workers: int, label: str = "this run", runs: int = 1) -> int:
    """The most of `workers` processes (at least one) whose run fits in the memory available now.

    Why: a comparison runs its two routes side by side when it has two workers, which doubles
    the memory of the workers running at once. When both at once do not fit but one at a time
    does (the national comparison at scale 0.3 with between 3.0 and 3.4 GiB free), running them
    one after the other is slower but gives the same tables, which is better than refusing. Refuses
    (InsufficientMemoryError, as `check_memory`) only when even one at a time does not fit.
    """
    available = available_bytes()
    workers = max(1, min(workers, replicates * runs))
    if available is None:
        return workers
    for candidate in range(workers, 1, -1):
        if estimate_bytes(config, replicates, candidate, runs) <= available * USABLE_SHARE:
            return candidate
    check_memory(config, replicates, 1, label=label, runs=runs)
    return 1
