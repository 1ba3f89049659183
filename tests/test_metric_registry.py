"""The metric registry: one name, label, unit, direction and set of breakdowns per metric.

Why test it against a run: the registry documents what `metrics.parquet` holds; if a metric is
added, renamed or broken down differently in the computation without the registry (and so the
reports and docs/METRICS.md) following, these tests fail.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.config.loader import deep_merge, load_config
from sim.experiments import analysis, decompose
from sim.experiments.compare import METRIC_BY_NAME
from sim.experiments.runner import run_replicate
from sim.metrics import registry
from sim.metrics.gaps import GAP_METRICS
from sim.metrics.registry import (
    GAP_BREAKDOWNS,
    HEADLINE_METRICS,
    PAIRED_METRICS,
    RUN_BY_NAME,
    RUN_METRICS,
    YEARLY_BY_NAME,
    Metric,
    label_and_unit,
    yearly,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"population": {"councils": 2, "pupils_per_council": 3000}, "run": {"end": "2027-08", "seed": 7}}


@pytest.fixture(scope="module")
def produced() -> pd.DataFrame:
    """(metric, by) pairs a small run of each route writes to the metrics table."""
    frames = []
    for path in ("configs/baseline.yaml", "configs/reform_steady_state.yaml"):
        config = load_config(ROOT / path)
        config = type(config).model_validate(deep_merge(config.model_dump(mode="json"), SMALL))
        frames.append(run_replicate(config, 0).metrics[["metric", "by"]].drop_duplicates())
    return pd.concat(frames).drop_duplicates()


def test_every_metric_a_run_writes_is_registered_with_its_breakdowns(produced) -> None:
    unknown = sorted(set(produced["metric"]) - set(YEARLY_BY_NAME) - set(RUN_BY_NAME))
    assert unknown == []
    for metric, rows in produced.groupby("metric"):
        allowed = set(YEARLY_BY_NAME[metric].breakdowns) if metric in YEARLY_BY_NAME else set()
        allowed |= set(GAP_BREAKDOWNS) if metric in RUN_BY_NAME else set()
        assert set(rows["by"]) <= allowed, (metric, sorted(set(rows["by"]) - allowed))


def test_every_registered_metric_is_produced(produced) -> None:
    """No stale entries: each yearly metric appears with its breakdowns, each whole-run metric as a gap."""
    for metric in YEARLY_BY_NAME.values():
        got = set(produced.loc[produced["metric"] == metric.name, "by"])
        assert got >= set(metric.breakdowns), (metric.name, sorted(set(metric.breakdowns) - got))
    for metric in RUN_METRICS:
        got = set(produced.loc[produced["metric"] == metric.name, "by"])
        assert got >= set(GAP_BREAKDOWNS), metric.name


def test_reports_and_tables_read_the_registry() -> None:
    assert set(HEADLINE_METRICS) <= set(YEARLY_BY_NAME)
    assert GAP_METRICS is RUN_METRICS
    assert all(RUN_BY_NAME[m.name] is m and m.paired_population for m in PAIRED_METRICS)
    assert METRIC_BY_NAME == {m.name: m for m in PAIRED_METRICS}
    assert analysis.HEADLINE_OUTCOMES is registry.EXPERIMENT_OUTCOMES and decompose.OUTCOMES is registry.DECOMPOSITION_OUTCOMES
    assert label_and_unit("unmet_need_months") == (yearly("unmet_need_months").label, yearly("unmet_need_months").unit)
    assert label_and_unit("not_a_metric") == ("not_a_metric", "model units")
    with pytest.raises(KeyError, match="unknown metric 'not_a_metric'"):
        yearly("not_a_metric")


def test_a_direction_must_be_lower_higher_or_none() -> None:
    with pytest.raises(ValueError, match="better must be one of"):
        Metric("x", "X", "%", "up", "pupils", ("all",), "census", "x / pupils")


def test_metrics_doc_matches_the_registry() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "metrics_doc.py"), "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"run scripts/metrics_doc.py: {result.stdout}{result.stderr}"
