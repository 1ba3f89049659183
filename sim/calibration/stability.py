"""History matching, second condition: a member's assessment queue must not be on an explosive path.

Why: the calibration targets are calendar-2025 figures, the first year of a run that starts in
January 2025, and the start census seeds the assessments already in progress with a queue for
EP advice that does not depend on EP capacity (`sim/population/build.py`,
`_initialise_in_flight_assessments`: about three months of requests still wait for EP advice,
whatever the council's EP hours). A parameter set whose EP hours (own plus the locum time it
can buy) fall short of the demand for them therefore starts with a normal queue, which grows
only through 2025: the plans issued in 2025 were mostly requested before the queue had grown,
so the 2025 timeliness target barely sees the shortfall. The same set finishes no plan within
20 weeks a year or two later. Such a world is not the one that produced the published series:
20-week timeliness was 50.3% in 2023 (T113), 46.4% in 2024 (T112) and 45.1% in 2025 (the
sen2:timeliness_2025 target), falling about 2.6 points a year, not collapsing; a queue that
explodes in 2026 would have been exploding, and timeliness falling fast, before 2025.

The condition (an assumption, using no figure after 2025): the member's own timeliness
`years_after` calendar years after the 2025 target, from the same run continued with nothing
changed, is compared with the 2025 published figure less `fall_per_year` points per year (the
published 2023-2025 average fall), with the 2025 target's tolerance. It is one-sided: only a
shortfall counts, since an exploding queue can only push timeliness down, and the model's own
timeliness rises after 2025 as the long waits of the start's in-flight assessments clear
(docs/VALIDATION.md, "Timeliness by year"). Its implausibility, max(0, floor - model) /
tolerance, joins the targets' in the max, so the usual cut (3) applies to it too.

Why not a start queue that is consistent with EP capacity instead: where capacity is below
demand no queue is stationary, so such a start would need an assumed length of time for which
the queue had already been growing, and the demand depends on the request levers, known only
by running the model; and the data say the same thing either way (timeliness was stable
before 2025). The condition states the assumption openly and is checked on the run itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from sim.calibration.fit import evaluate_many, set_values
from sim.calibration.targets import Target
from sim.config import ScenarioConfig

#: The target whose later-year value is checked: 20-week timeliness is what an EP queue that
#: outgrows its capacity moves first and most (docs/DYNAMICS.md, "EP capacity that binds").
STABILITY_TARGET = "sen2:timeliness_2025"
#: Default years after the target's year at which the member's own run is checked (assumption:
#: two years lets a queue that grows by a few tenths of a month of demand a month show; the run
#: costs two more simulated years per checked trial).
DEFAULT_YEARS_AFTER = 2
#: Default allowed fall, points per year: the published 2023-2025 average, (50.3 - 45.1) / 2
#: (T113 for 2023; sen2:timeliness_2025 for 2025).
DEFAULT_FALL_PER_YEAR = 2.6


@dataclass(frozen=True)
class StabilityCheck:
    """The settings of the condition (see the module docstring); `years_after` 0 turns it off."""

    target_id: str = STABILITY_TARGET
    years_after: int = DEFAULT_YEARS_AFTER
    fall_per_year: float = DEFAULT_FALL_PER_YEAR

    def __post_init__(self) -> None:
        if self.years_after < 0:
            raise ValueError("the stability check's years after the target must be 0 or more")
        if not math.isfinite(self.fall_per_year) or self.fall_per_year < 0:
            raise ValueError("the stability check's allowed fall per year must be 0 or more")

    @property
    def enabled(self) -> bool:
        return self.years_after > 0

    def later_target(self, targets: tuple[Target, ...] | list[Target]) -> Target | None:
        """The pseudo-target: the same metric `years_after` years later, published = the floor.
        None when the check is off or the calibration did not fit the checked target."""
        base = next((t for t in targets if t.id == self.target_id), None)
        if base is None or not self.enabled:
            return None
        year = int(base.date[:4]) + self.years_after
        floor = float(base.published) - self.fall_per_year * self.years_after
        return replace(base, id=f"stability:{base.id}:{year}", quantity=f"{base.quantity}, {year} (own run, floor)",
                       raw=floor, raw_unit=base.unit, factor=1.0, offset=0.0, date=f"{year}{base.date[4:]}",
                       conversion=f"{base.published:.1f} published less {self.fall_per_year:g} points a year for "
                                  f"{self.years_after} year(s)", csv_value=False)

    def describe(self, target: Target) -> str:
        """The condition in words, for the ensemble file and reports."""
        return (f"and, one-sided, max(0, {target.published:.1f} - model) / {target.tolerance:g} for the trial's own "
                f"{target.metric} in {target.date[:4]} (the same run continued; {target.published:.1f} = the "
                f"{self.target_id} figure less {self.fall_per_year:g} points a year, the published 2023-2025 fall): "
                f"an assumption that the assessment queue was not on an explosive path")


def shortfall_implausibility(values: pd.Series | np.ndarray, target: Target) -> float:
    """max(0, floor - replicate mean) / tolerance (inf when the run produced no value)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.inf
    return max(0.0, float(target.published) - float(values.mean())) / float(target.tolerance)


def screen(result, config: ScenarioConfig, check: StabilityCheck, targets: tuple[Target, ...],
           executor: Any, cutoff: float) -> pd.DataFrame:
    """Run every trial whose target implausibility is within `cutoff` on to the check's year (same
    replicate seeds as the calibration) and return trial, later_value, stability_implausibility.

    Only those trials can become members; the others keep their target implausibility."""
    later = check.later_target(targets)
    columns = ["trial", "later_value", "stability_implausibility"]
    if later is None:
        return pd.DataFrame(columns=columns)
    history = result.history
    passed = history[history["implausibility"].astype(float) <= cutoff]
    base = config.model_dump(mode="json")
    base["run"]["end"] = f"{later.date[:4]}-12"
    payloads = {int(row["trial"]): set_values(base, {p.path: int(round(row[p.path])) if p.integer else float(row[p.path])
                                                     for p in result.parameters})
                for _, row in passed.iterrows()}
    if not payloads:
        return pd.DataFrame(columns=columns)
    root_seed = int(result.settings.get("root_seed", base["run"]["seed"]))
    values = evaluate_many(payloads, (later,), result.replicates, root_seed, executor)
    rows = [{"trial": trial, "later_value": float(np.nanmean(frame[later.id].astype(float))) if frame[later.id].notna().any() else math.nan,
             "stability_implausibility": shortfall_implausibility(frame[later.id], later)}
            for trial, frame in sorted(values.items())]
    return pd.DataFrame(rows, columns=columns)
