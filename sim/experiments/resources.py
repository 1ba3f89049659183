"""Will a run fit in memory? An estimate made before starting, so an impossible run is refused.

Why: a scenario of 200 councils at full scale with many replicates on many workers needs tens of
gigabytes; started anyway, it runs for minutes and is then killed by the operating system (or
makes the machine swap), with nothing written. Refusing up front, with the estimate and what to
change, costs a user nothing.

The per-pupil figures are the peak resident memory of one worker (`resource.getrusage`, and
each phase's own peak) running one replicate of the national configuration
(`benchmarks/england.py --worker`: build, monthly steps, children table, metrics, and the
tables pickled to a file to be handed back) at scale 0.1 (809,000 pupils) over three and twelve
simulated years, checked at scales 0.03 and 0.3: 330 bytes per pupil plus 35 per pupil and
simulated year. The worker's peak is now the population build (state and its temporaries);
after the run a replicate keeps only what its tables read (`sim.metrics.compute.FinishedRun`),
the event log is compact (38 bytes per child row, was 75), the children table shares the run's
columns and the tables go back through a file, so the children table, the metrics and the
hand-back, which peaked at 1.05 GiB at scale 0.1, now stay under the build (0.67 GiB against
0.69). Before: 500 bytes plus 55 (and before that 0.7 KB plus 0.07 KB, and when the metrics
kept every census as one row per pupil 1.5 KB plus 0.4 KB). The figures are rounded up so the
estimate errs on the safe side: it is 2%, 17% and 17% above the measured worker at scales 0.03,
0.1 and 0.3 (0.40, 0.69 and 1.66 GiB; at 0.03 the metrics' cells, which fill more slowly than
the population grows, weigh more) and 10% above it over three years at scale 0.1 (0.52 GiB).
At full scale (8.1 million pupils to August 2036) it gives 5.9 GiB; measured there, a worker
peaks at 3.6 GiB (either route, since a replicate logs only the event kinds it reads), so at
full scale the estimate is cautious by about 60%.

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
both routes' workers run at once and are counted twice (`estimate_bytes` with `runs=2`): the
national comparison at full scale is then estimated at 12.0 GiB (measured: 7.2 GiB for the two
workers together, 7.9 GiB for the analysis after them), which needs 13.4 GiB free; with less,
down to 10.2 GiB free, it runs the routes one after the other (`workers_that_fit`, estimated at
9.2 GiB); at scale 0.3 both at once are estimated at 4.1 GiB.
"""

from __future__ import annotations

import os

from sim.config import ScenarioConfig
from sim.config.council_table import council_profiles
from sim.errors import UserError

BYTES_PER_PUPIL = 330
BYTES_PER_PUPIL_YEAR = 35
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
    return int(PROCESS_BASE_BYTES + simulated_pupils(config) * (BYTES_PER_PUPIL + BYTES_PER_PUPIL_YEAR * years))


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
    does (the national comparison at full scale with between 10.2 and 13.4 GiB free), running them
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
