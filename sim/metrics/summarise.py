"""Across replicates: mean and 95% interval of each per-replicate metric (docs/MODEL.md).

Summaries are always computed from per-replicate values, never by combining summaries.
"""

from __future__ import annotations

import pandas as pd

KEYS = ["date", "metric", "by", "group"]


def summarise(metrics: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """metrics has a `replicate` column; returns mean, lo, hi (percentile interval), n."""
    tail = (1 - level) / 2
    grouped = metrics.groupby(KEYS, observed=True, sort=True)["value"]
    out = grouped.agg(mean="mean", lo=lambda v: v.quantile(tail), hi=lambda v: v.quantile(1 - tail), n="count")
    return out.reset_index()
