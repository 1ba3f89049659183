"""The replicate summary: the same numbers as pandas' per-group quantile, bit for bit, whatever the groups.

Why: `summarise` stacks groups of equal size into one array for speed; a published interval must
not move in its last digit because of it, including groups with a missing replicate (NaN), groups
of unequal size and groups with no value at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.metrics.summarise import KEYS, summarise


def _reference(metrics: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    tail = (1 - level) / 2
    grouped = metrics.groupby(KEYS, observed=True, sort=True)["value"]
    out = grouped.agg(mean="mean", lo=lambda v: v.quantile(tail), hi=lambda v: v.quantile(1 - tail), n="count")
    return out.reset_index()


values = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(np.nan), st.sampled_from([0.0, 1.0, 0.1, 1 / 3]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.sampled_from(["all", "fsm"]), values), min_size=1, max_size=80),
       st.sampled_from([0.95, 0.9, 0.5]))
def test_summary_equals_per_group_quantile(rows, level):
    metrics = pd.DataFrame([{"replicate": i, "date": f"2025-0{d + 1}", "metric": f"m{m}", "by": "all", "group": g, "value": v}
                            for i, (d, m, g, v) in enumerate(rows)])
    pd.testing.assert_frame_equal(summarise(metrics, level), _reference(metrics, level), check_exact=True)


def test_summary_of_replicates_equals_per_group_quantile():
    rng = np.random.default_rng(3)
    frames = [pd.DataFrame({"replicate": r, "date": "2026-01", "metric": np.repeat([f"m{i}" for i in range(50)], 4),
                            "by": "fsm", "group": np.tile(["fsm", "non_fsm", "gap", "all"], 50), "value": rng.normal(size=200)})
              for r in range(5)]
    metrics = pd.concat(frames, ignore_index=True)
    metrics.loc[[3, 17, 400], "value"] = np.nan  # a missing replicate in three cells
    summary = summarise(metrics)
    pd.testing.assert_frame_equal(summary, _reference(metrics), check_exact=True)
    assert (summary["n"] <= 5).all() and (summary["lo"] <= summary["hi"]).all()
