"""Across replicates: mean and 95% interval of each per-replicate metric (docs/MODEL.md).

Summaries are always computed from per-replicate values, never by combining summaries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["date", "metric", "by", "group"]


def summarise(metrics: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """metrics has a `replicate` column; returns mean, lo, hi (percentile interval), n."""
    tail = (1 - level) / 2
    grouped = metrics.groupby(KEYS, observed=True, sort=True)["value"]
    out = grouped.agg(mean="mean", n="count")
    lo, hi = _group_percentiles(metrics["value"].to_numpy(dtype=float), grouped.ngroup().to_numpy(), len(out),
                                (100 * tail, 100 * (1 - tail)))
    out.insert(1, "lo", lo)
    out.insert(2, "hi", hi)
    return out.reset_index()


def _group_percentiles(values: np.ndarray, codes: np.ndarray, n_groups: int, percents: tuple[float, float]):
    """Each group's two percentiles (linear interpolation, NaN ignored; NaN for a group with no value).

    Why not `groupby(...).quantile`: pandas' grouped quantile interpolates in its own code and
    differs from the per-group `Series.quantile` in the last bit of about 7% of values, so every
    published interval would move. Why not a `Series.quantile` per group: a report's thousands of
    groups made that most of a small comparison's summary time (1.5 s of 1.5 s at 3,500 rows).
    Here the groups of each size are stacked into one array and handed to the call
    `Series.quantile` makes itself (`np.percentile`, method "linear", on the group's non-NaN values),
    so the result is the same bit for bit.
    """
    order = np.argsort(codes, kind="stable")
    values = values[order]
    sizes = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    lo = np.full(n_groups, np.nan)
    hi = np.full(n_groups, np.nan)
    for size in np.unique(sizes[sizes > 0]):
        groups = np.flatnonzero(sizes == size)
        block = values[starts[groups][:, None] + np.arange(size)]
        complete = ~np.isnan(block).any(axis=1)
        if complete.any():
            lo[groups[complete]], hi[groups[complete]] = np.percentile(block[complete], percents, axis=1, method="linear")
        for row in np.flatnonzero(~complete):  # rare: a replicate with no value for this cell
            present = block[row][~np.isnan(block[row])]
            if len(present):
                lo[groups[row]], hi[groups[row]] = np.percentile(present, percents, method="linear")
    return lo, hi
