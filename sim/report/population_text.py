"""One sentence saying which population a run actually simulated: councils by name, code and
region, and the pupils at the start census.

Why: a reader quoting a result needs to know whether it describes Birmingham, the North West or
all of England, and at what sample size; the configuration's defaults (e.g. a typical council's
pupils) do not say that once councils come from the council table.
"""

from __future__ import annotations

import pandas as pd

#: Councils listed by name before the sentence says "and N more".
NAMES_LISTED = 6


def describe_simulated(config: dict, system: pd.DataFrame | None = None) -> str:
    """E.g. 'Birmingham (E08000025, West Midlands): 1,977 pupils at the start (population.scale 0.01),
    2025-01 to 2036-08, ehcp route'. `system` is the run's system table (first replicate, first month
    used); without it (or without identity columns) the count of councils and the config are used."""
    population = config.get("population") or {}
    run = config.get("run") or {}
    period = f"{run.get('start', '?')} to {run.get('end', '?')}, {run.get('route', '?')} route"
    scale = population.get("scale", 1.0)
    if system is None or len(system) == 0 or "la_code" not in system.columns:
        councils = population.get("councils", "?")
        return f"{councils} council(s), population.scale {scale}, {period}"
    first = system
    if "replicate" in first.columns:
        first = first[first["replicate"] == first["replicate"].min()]
    first = first[first["date"] == first["date"].min()]
    councils = first.drop_duplicates("la_code")
    pupils = int(first["pupils"].sum()) if "pupils" in first.columns else None
    regions = sorted(councils["region_name"].astype(str).unique())
    names = [f"{r.la_name} ({r.la_code}{', ' + str(r.region_name) if len(councils) == 1 else ''})" for r in councils.itertuples()]
    if len(councils) == 1:
        who = names[0]
    else:
        listed = ", ".join(names[:NAMES_LISTED]) + (f" and {len(names) - NAMES_LISTED} more" if len(names) > NAMES_LISTED else "")
        where = f"region {regions[0]}" if len(regions) == 1 else f"{len(regions)} regions"
        who = f"{len(councils)} councils ({where}): {listed}"
    size = f"{pupils:,} pupils at the start" if pupils is not None else "pupils not recorded"
    return f"{who}; {size} (population.scale {scale}), {period}"
