"""Golden regression: a small fixed run of both routes gives the stored metrics.

A failure means results moved. If that was intended, run `python scripts/update_golden.py`
and record what moved in CHANGELOG.md; otherwise the change has an unintended effect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from golden import GOLDEN, golden_metrics


def test_small_fixed_run_reproduces_the_stored_metrics():
    stored = pd.read_csv(GOLDEN, dtype={"group": str})
    fresh = golden_metrics()
    keys = ["scenario", "metric", "by", "group", "date"]
    merged = stored.merge(fresh, on=keys, how="outer", suffixes=("_stored", "_fresh"), indicator=True)
    only = merged[merged["_merge"] != "both"]
    assert only.empty, (
        f"{len(only)} metric rows exist in only one of stored/fresh, e.g.\n{only[keys + ['_merge']].head(10)}\n"
        "If this change is meant to move results: python scripts/update_golden.py")
    close = np.isclose(merged["value_stored"], merged["value_fresh"], rtol=1e-9, atol=1e-12, equal_nan=True)
    moved = merged[~close]
    assert moved.empty, (
        f"{len(moved)} of {len(merged)} metric values moved, e.g.\n{moved[keys + ['value_stored', 'value_fresh']].head(10)}\n"
        "If this change is meant to move results: python scripts/update_golden.py")
