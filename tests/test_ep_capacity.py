"""EP capacity binds: more educational psychologist time gives more plans within 20 weeks.

Why: "double the EP workforce" is a question researchers ask of the model; the answer must come
from the queue for EP advice, not be +0.00 because capacity never binds. Councils' own EP hours
sit below the demand for them and the backlog is partly cleared with bought-in time
(`sim/processes/assessment.py`), so +-50% EP hours must move 20-week timeliness in calendar
2026 in the right direction by more than the replicate noise (2 standard errors of the
difference of replicate means).
"""

from __future__ import annotations

import numpy as np

from sim.metrics.compute import compute_metrics
from sim.model import SendModel
from tests.conftest import small_config

SEEDS = (1, 2, 3)
DEFAULT_EP = small_config().assessment.ep_hours_per_month_per_1000_pupils


def _timeliness(multiplier: float) -> np.ndarray:
    values = []
    for seed in SEEDS:
        config = small_config({"assessment": {"ep_hours_per_month_per_1000_pupils": DEFAULT_EP * multiplier}},
                              councils=1, pupils=20000, end="2026-12")
        metrics = compute_metrics(SendModel(config, seed=seed).run())
        row = metrics[(metrics.metric == "within_20_weeks_share") & (metrics["by"] == "all")
                      & (metrics.date == "2026-01-01")]
        values.append(float(row.value.iloc[0]))
    return np.array(values)


def _clearly_above(high: np.ndarray, low: np.ndarray) -> None:
    se = np.sqrt(high.var(ddof=1) / len(high) + low.var(ddof=1) / len(low))
    assert high.mean() - low.mean() > 2 * se, (high, low)


def test_timeliness_responds_to_ep_capacity_both_ways():
    low, default, high = _timeliness(0.5), _timeliness(1.0), _timeliness(1.5)
    _clearly_above(default, low)
    _clearly_above(high, default)
    # the size: half the EP time is a crisis (most plans late); half as much again a clear gain
    assert default.mean() - low.mean() > 10
    assert high.mean() - default.mean() > 5
