"""The calibration target table and the validation check (docs/VALIDATION.md).

One small model (a council of 6,000 pupils, January 2025 to August 2026) is run once: enough to
produce every metric a target refers to (calendar 2025 flows, KS4 July 2025, NEET September 2025,
financial year 2025-26). These tests are about plumbing, not about whether targets are met.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from sim.calibration import TARGETS, check_targets, render_table, targets_frame, to_json_records
from sim.calibration.targets import shared_rows
from sim.calibration.validate import COLUMNS, JSON_KEYS
from sim.config import ScenarioConfig
from sim.metrics import compute_metrics
from sim.model import SendModel


@pytest.fixture(scope="module")
def metrics() -> pd.DataFrame:
    # big enough that every targeted event (down to tribunal decisions, ~1 per 5,000 pupils a year) occurs
    config = ScenarioConfig.model_validate({
        "population": {"pupils_per_council": 12000},
        "run": {"end": "2026-08"},
    })
    frame = compute_metrics(SendModel(config, seed=7).run())
    frame.insert(0, "replicate", 0)
    return frame


def test_target_table_loads():
    frame = targets_frame()
    assert len(frame) == len(TARGETS) >= 30
    assert frame["id"].is_unique
    assert set(frame["kind"]) <= {"stock", "flow"}
    assert (frame["tolerance"] > 0).all()
    assert np.isfinite(frame["published"]).all()
    for target in TARGETS:
        pd.Timestamp(target.date)  # parses
        assert target.unit and target.source and target.conversion and target.why_tolerance


def test_required_targets_present():
    ids = {t.id for t in TARGETS}
    for required in ("T002", "T004", "T133", "T134", "T135", "T213", "T214", "T215", "T235", "T238", "T240",
                     "T241", "T248", "T167", "sen2:requests_2025", "sen2:refusal_2025", "sen2:newplans_2025",
                     "sen2:timeliness_2025", "sen2:ceased_2025", "sen2:appeal_rate_2025", "sen2:appeals_2025"):
        assert required in ids
    assert {f"T{i}" for i in range(309, 321)} <= ids


def test_published_values_match_the_shared_table():
    rows = shared_rows()
    for target in TARGETS:
        tid = target.id.split(":")[0]
        if tid.startswith("T"):
            assert tid in rows, f"{target.id} not in sim/data/targets.csv"
            assert rows[tid]["source_url"].startswith("http")
        if target.csv_value:
            assert float(rows[tid]["value"]) == pytest.approx(target.raw), target.id


def test_need_type_targets_sum_to_100():
    need = [t.published for t in TARGETS if t.metric == "plan_need_type_share"]
    assert sum(need) == pytest.approx(100.0)


def test_every_target_metric_exists(metrics):
    keys = set(zip(metrics["metric"], metrics["by"], metrics["group"].astype(str), pd.to_datetime(metrics["date"])))
    missing = [t.id for t in TARGETS if (t.metric, t.by, t.group, pd.Timestamp(t.date)) not in keys]
    assert not missing, f"no model row for {missing}"


def test_check_targets_one_finite_row_per_target(metrics):
    checks = check_targets(metrics)
    assert list(checks.columns) == COLUMNS
    assert len(checks) == len(TARGETS)
    assert list(checks["id"]) == [t.id for t in TARGETS]
    for column in ("published", "model", "model_lo", "model_hi", "tolerance"):
        assert np.isfinite(checks[column].astype(float)).all(), column
    assert (checks["model_lo"] <= checks["model"] + 1e-9).all()
    assert (checks["model"] <= checks["model_hi"] + 1e-9).all()
    assert checks["ok"].map(type).eq(bool).all()


def test_replicates_give_an_interval(metrics):
    two = pd.concat([metrics, metrics.assign(replicate=1, value=metrics["value"] * 1.1)], ignore_index=True)
    checks = check_targets(two).set_index("id")
    one = check_targets(metrics).set_index("id")
    assert checks.loc["T002", "model"] == pytest.approx(one.loc["T002", "model"] * 1.05)
    assert checks.loc["T002", "model_lo"] < checks.loc["T002", "model_hi"]


def test_rule_is_mean_within_tolerance(metrics):
    target = next(t for t in TARGETS if t.id == "T002")
    model = float(check_targets(metrics, (target,))["model"].iloc[0])
    inside = dataclasses.replace(target, raw=model + 0.9 * target.tolerance)
    outside = dataclasses.replace(target, raw=model + 1.1 * target.tolerance)
    assert check_targets(metrics, (inside,))["ok"].iloc[0]
    assert not check_targets(metrics, (outside,))["ok"].iloc[0]


def test_wrong_published_value_fails(metrics):
    wrong = tuple(dataclasses.replace(t, raw=t.raw * 10 + 1000) for t in TARGETS)
    checks = check_targets(metrics, wrong)
    assert not checks["ok"].any()


def test_missing_metric_is_not_ok(metrics):
    ghost = dataclasses.replace(TARGETS[0], id="ghost", metric="no_such_metric")
    checks = check_targets(metrics, (ghost,))
    assert math.isnan(checks["model"].iloc[0]) and not checks["ok"].iloc[0]
    assert to_json_records(checks)[0]["model"] is None


def test_json_records_keys(metrics):
    records = to_json_records(check_targets(metrics))
    assert len(records) == len(TARGETS)
    for record in records:
        assert tuple(record) == JSON_KEYS
        assert set(record) == {"id", "quantity", "published", "model", "model_lo", "model_hi", "tolerance", "ok"}
        assert isinstance(record["ok"], bool)
        assert isinstance(record["published"], float)


def test_render_table_is_plain_markdown(metrics):
    text = render_table(check_targets(metrics))
    lines = text.splitlines()
    assert lines[0].startswith("| id | quantity | published")
    assert len([line for line in lines if line.startswith("| ")]) == len(TARGETS) + 1
    assert "[/" not in text and "\x1b" not in text  # no rich markup or ANSI colour
