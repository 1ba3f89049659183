"""Paired comparisons for the dashboard: cached by resolved config, run in the background, cancellable.

Why: turning a lever back to a value already seen should redraw at once, and two readers asking
for the same scenario should share one run. A comparison is identified by the sha256 of both
resolved configs (`sim.config.loader.config_hash`), the number of replicates and the small-cell
threshold — everything that decides its numbers — so a cached result is exactly what a fresh run
would give (runs are deterministic given config and seed). Results are the directories
`sendsim compare` writes, under a cache folder (default `results/dashboard/<key>/`), so a reader
can open the same report, tables and manifest outside the dashboard.

Replicates run one after another in the calling thread (the dashboard runs this in a background
thread): `should_stop()` is checked after every replicate, and a cancelled run writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim.config import ScenarioConfig, config_hash
from sim.report.comparison import compare_with_reports
from sim.report.maps import COUNCIL_MAPS

CACHE_ENV = "SENDSIM_DASHBOARD_CACHE"
STANDARDISED_GAPS = "need_standardised_gaps.csv"
COUNCIL_IMPACT = "council_impact.csv"  # written when the comparison runs from a council table


class Cancelled(Exception):
    """The reader cancelled the comparison (or asked for another one) before it finished."""


@dataclass
class ComparisonResult:
    """The tables the dashboard draws, read back from a comparison directory."""

    key: str
    out_dir: Path
    stock: pd.DataFrame
    equity: pd.DataFrame
    costs: pd.DataFrame
    standardised_gaps: pd.DataFrame | None  # None when the comparison output has no such table
    manifest: dict
    seconds: float
    from_cache: bool
    councils: pd.DataFrame | None = None  # per-council results (council_impact.csv) when run from a council table
    maps: dict[str, Path] = field(default_factory=dict)  # the comparison's hex maps: file stem -> PNG

    @property
    def several_councils(self) -> bool:
        """A map is worth drawing only when the comparison covers more than one council."""
        return self.councils is not None and len(self.councils) > 1 and bool(self.maps)


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path("results") / "dashboard"))


def cache_key(baseline: ScenarioConfig, reform: ScenarioConfig, replicates: int, small_cell: int) -> str:
    """Identity of a comparison: both resolved configs, replicates and the small-cell threshold."""
    identity = {"baseline": config_hash(baseline), "reform": config_hash(reform), "replicates": int(replicates),
                "small_cell": int(small_cell)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def load_comparison(directory: Path, key: str = "", seconds: float = 0.0, from_cache: bool = True) -> ComparisonResult:
    """Read the tables of a comparison directory written by `compare_scenarios`."""
    directory = Path(directory)
    stock = pd.read_csv(directory / "ehcp_stock.csv", parse_dates=["date"])
    equity = pd.read_parquet(directory / "equity.parquet")
    costs = pd.read_parquet(directory / "costs.parquet")
    gaps_path = directory / STANDARDISED_GAPS
    gaps = pd.read_csv(gaps_path) if gaps_path.is_file() else None
    manifest = json.loads((directory / "manifest.json").read_text())
    councils_path = directory / COUNCIL_IMPACT
    councils = pd.read_csv(councils_path, dtype={"la_code": str}) if councils_path.is_file() else None
    maps = {stem: directory / "figures" / f"{stem}.png" for _, stem, *_ in COUNCIL_MAPS
            if (directory / "figures" / f"{stem}.png").is_file()}
    return ComparisonResult(key, directory, stock, equity, costs, gaps, manifest, seconds, from_cache, councils, maps)


def _cached(directory: Path, baseline: ScenarioConfig, reform: ScenarioConfig, replicates: int) -> bool:
    """A finished comparison directory for exactly these configs (checked against its manifest)."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError:
        return False
    return (manifest.get("baseline", {}).get("config_sha256") == config_hash(baseline)
            and manifest.get("reform", {}).get("config_sha256") == config_hash(reform)
            and manifest.get("replicates") == replicates and manifest.get("finished") is not None)


def run_comparison(baseline: ScenarioConfig, reform: ScenarioConfig, replicates: int,
                   cache_dir: Path | None = None,
                   progress: Callable[[float, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> ComparisonResult:
    """The comparison for these configs: from the cache if it was run before, else run now.

    `progress(fraction_done, message)` is called as replicates finish; `should_stop()` is polled
    after each replicate and, when true, the run stops with `Cancelled` and writes nothing.
    """
    small_cell = baseline.metrics.small_cell_threshold
    key = cache_key(baseline, reform, replicates, small_cell)
    directory = Path(cache_dir or default_cache_dir()) / key[:16]
    started = time.perf_counter()
    if _cached(directory, baseline, reform, replicates):
        return load_comparison(directory, key, time.perf_counter() - started, from_cache=True)

    def on_replicate(route: str, done: int, total: int) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled(f"cancelled after {done} of {total} {route} replicates")
        if progress is not None:
            finished = (done + (total if route == "reform" else 0)) / (2 * total)
            progress(finished, f"{route}: {done} of {total} replicates")

    if should_stop is not None and should_stop():
        raise Cancelled("cancelled before the first replicate")
    if progress is not None:
        progress(0.0, f"baseline: 0 of {replicates} replicates")
    compare_with_reports(baseline, reform, replicates, directory, workers=1, progress=on_replicate,
                      small_cell=small_cell, command="sendsim dashboard", run_summaries=False)
    return load_comparison(directory, key, time.perf_counter() - started, from_cache=False)
