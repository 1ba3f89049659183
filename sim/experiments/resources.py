"""Will a run fit in memory? An estimate made before starting, so an impossible run is refused.

Why: a scenario of 200 councils at full scale with many replicates on many workers needs tens of
gigabytes; started anyway, it runs for minutes and is then killed by the operating system (or
makes the machine swap), with nothing written. Refusing up front, with the estimate and what to
change, costs a user nothing.

The per-pupil figures were measured with `resource.getrusage` on one replicate of the baseline
(3,000 and 18,000 pupils, one and five simulated years): about 1.5 KB per pupil plus 0.4 KB per
pupil and simulated year, in each worker process; the combined tables kept by the parent take
about 0.3 KB per pupil and replicate. They are rounded up, so the estimate errs on the safe side.
"""

from __future__ import annotations

import os

from sim.config import ScenarioConfig
from sim.config.council_table import council_profiles
from sim.errors import UserError

BYTES_PER_PUPIL = 1_500
BYTES_PER_PUPIL_YEAR = 400
RESULT_BYTES_PER_PUPIL_REPLICATE = 300
PROCESS_BASE_BYTES = 200 * 2**20  # the interpreter with numpy, pandas and mesa loaded
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


def estimate_bytes(config: ScenarioConfig, replicates: int, workers: int) -> int:
    """Peak memory of `replicates` replicates run `workers` at a time."""
    years = (int(config.run.end[:4]) - int(config.run.start[:4])) + 1
    pupils = simulated_pupils(config)
    per_process = PROCESS_BASE_BYTES + pupils * (BYTES_PER_PUPIL + BYTES_PER_PUPIL_YEAR * years)
    concurrent = max(1, min(workers, replicates))
    kept = pupils * RESULT_BYTES_PER_PUPIL_REPLICATE * replicates
    return int(per_process * concurrent + kept + PROCESS_BASE_BYTES)


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


def check_memory(config: ScenarioConfig, replicates: int, workers: int, label: str = "this run") -> None:
    """Refuse (InsufficientMemoryError) a run whose estimate exceeds the usable memory."""
    available = available_bytes()
    if available is None:
        return
    needed = estimate_bytes(config, replicates, workers)
    if needed > available * USABLE_SHARE:
        raise InsufficientMemoryError(
            f"{label} would need about {needed / 2**30:.1f} GiB of memory ({simulated_pupils(config):,.0f} pupils, "
            f"{replicates} replicates, {min(workers, replicates)} at a time) but {available / 2**30:.1f} GiB is "
            f"available; lower population.scale or population.councils, or use fewer --workers")
