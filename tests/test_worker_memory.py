"""A replicate's worker keeps less: a compact event log, only the finished run's outcomes, a
children table sharing the run's arrays, and its tables handed back through a file.

Why these tests: each change keeps results identical while lowering a national worker's
memory; each test checks that what is read afterwards is what was kept before (the same frames,
the same tables, the same dtypes) and that the memory is actually saved (fewer bytes, views
rather than copies).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from sim.event_log import EventLog
from sim.experiments.runner import load_replicate, run_replicate, run_replicate_to_file
from sim.metrics import children_table, compute_metrics, system_table
from sim.metrics.compute import OUTCOME_COLUMNS, OUTCOME_EVENTS, finished_run
from sim.model import SendModel
from tests.conftest import small_config


def test_the_event_log_gives_back_exactly_what_was_logged_in_fewer_bytes() -> None:
    log = EventLog()
    log.log("appeal", 3, np.array([5, 9, 2]), kind=np.array(["refusal", "placement", "refusal"]),
            severity=np.array([0.5, 1.25, 2.0], dtype=np.float32), need_type=np.int8(2))
    log.log("appeal", 4, np.array([7]), kind=np.array(["content"]), severity=np.array([0.75], dtype=np.float32),
            need_type=np.int8(1))
    log.log("phase_transfer_review", 8, np.array([1, 4]), phase="secondary")
    frame = log.frame("appeal")
    expected = pd.DataFrame({
        "month": np.array([3, 3, 3, 4], dtype=np.int16),
        "row": np.array([5, 9, 2, 7], dtype=np.int64),
        "kind": np.array(["refusal", "placement", "refusal", "content"]),
        "severity": np.array([0.5, 1.25, 2.0, 0.75], dtype=np.float32),
        "need_type": np.array([2, 2, 2, 1], dtype=np.int8),
    })
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    review = log.frame("phase_transfer_review")
    assert list(review["phase"]) == ["secondary", "secondary"] and review["phase"].dtype == frame["kind"].dtype
    assert list(log.frame("appeal", ("severity",)).columns) == ["month", "row", "severity"]
    assert log.count("appeal") == 4 and log.names() == ["appeal", "phase_transfer_review"]
    big = EventLog()
    kinds = np.array(["refusal", "placement", "content"])[np.arange(10_000) % 3]
    big.log("appeal", 7, np.arange(10_000), kind=kinds, severity=np.ones(10_000, dtype=np.float32), need_type=np.int8(0))
    # kept: rows as int32, text as one-byte codes, the month once per call; as the frame gives
    # them, 2 + 8 + 36 + 4 + 1 bytes an event
    assert big.nbytes() <= 10_000 * (4 + 1 + 4 + 1) + 3 * 36  # and the three kinds once
    assert (big.frame("appeal")["kind"] == kinds).all()


def test_an_empty_event_log_frame_has_the_month_and_row_columns() -> None:
    frame = EventLog().frame("request")
    assert list(frame.columns) == ["month", "row"] and frame["row"].dtype == np.int64 and frame["month"].dtype == np.int16


@pytest.fixture(scope="module")
def finished():
    return SendModel(small_config(councils=2, pupils=3000, end="2027-02"), seed=5).run()


def test_the_finished_runs_outcomes_give_the_same_tables_as_the_model(finished) -> None:
    run = finished_run(finished)
    assert set(vars(run.children)) == set(OUTCOME_COLUMNS) and len(OUTCOME_COLUMNS) < 30
    assert all(getattr(run.children, name) is getattr(finished.children, name) for name in OUTCOME_COLUMNS)  # not copies
    assert run.events.names() == sorted(set(finished.events.names()) & set(OUTCOME_EVENTS))
    assert run.events.count("request") == finished.events.count("request") > 0
    with pytest.raises(KeyError, match="not kept"):
        run.events.frame("suspension")  # not an empty frame: a metric reading it would read nothing
    pd.testing.assert_frame_equal(children_table(run), children_table(finished), check_exact=True)
    pd.testing.assert_frame_equal(compute_metrics(run), compute_metrics(finished), check_exact=True)
    pd.testing.assert_frame_equal(system_table(run), system_table(finished), check_exact=True)


def test_a_model_logging_only_the_outcome_kinds_runs_the_same_and_keeps_fewer_bytes(finished) -> None:
    """A replicate's model logs only the kinds its outcomes read (`SendModel(event_kinds=...)`):
    nothing reads the log while a model runs, so the run, its outcome events and its tables are
    the same as with every kind logged, and the other kinds never take memory."""
    lean = SendModel(finished.config, seed=5, event_kinds=OUTCOME_EVENTS).run()
    assert set(lean.events.names()) == set(finished.events.names()) & set(OUTCOME_EVENTS)
    for name in lean.events.names():
        pd.testing.assert_frame_equal(lean.events.frame(name), finished.events.frame(name), check_exact=True)
    assert lean.events.nbytes() == finished_run(finished).events.nbytes() < finished.events.nbytes()
    assert np.array_equal(lean.children.severity, finished.children.severity)
    assert np.array_equal(lean.councils.deficit, finished.councils.deficit)
    with pytest.raises(KeyError, match="not kept"):
        lean.events.frame("suspension")
    with pytest.raises(KeyError, match="not kept"):
        lean.events.only(["request", "suspension"])  # a narrower log cannot claim a kind it dropped
    pd.testing.assert_frame_equal(compute_metrics(finished_run(lean)), compute_metrics(finished_run(finished)), check_exact=True)


def test_a_run_not_finished_has_no_outcomes_and_its_children_table_is_copied() -> None:
    model = SendModel(small_config(councils=1, pupils=2000, end="2026-02"), seed=2)
    model.step()
    with pytest.raises(ValueError, match="not reached its end"):
        finished_run(model)
    table = children_table(model)
    assert not np.shares_memory(table["severity"].to_numpy(), model.children.severity)  # later months leave it as it is


def test_a_finished_runs_children_table_shares_the_runs_arrays(finished) -> None:
    table = children_table(finished_run(finished))
    shared = [name for name in table.columns
              if not isinstance(table[name].dtype, pd.CategoricalDtype)
              and any(np.shares_memory(table[name].to_numpy(), getattr(finished.children, column)) for column in OUTCOME_COLUMNS)]
    assert {"child", "severity", "attainment", "need_months", "family_spending_tutoring"} <= set(shared)
    assert len(shared) >= 20


def test_a_replicate_handed_back_through_a_file_is_the_same_replicate(tmp_path) -> None:
    config = small_config(councils=1, pupils=2000, end="2026-06")
    path = run_replicate_to_file(str(tmp_path), config.model_dump(mode="json"), 1, 9)
    assert os.path.dirname(path) == str(tmp_path)
    out = load_replicate(path)
    assert not os.path.exists(path)  # the parent removes it once read
    direct = run_replicate(config, 1, 9)
    assert (out.replicate, out.seed) == (direct.replicate, direct.seed)
    for name in ("metrics", "system", "children"):
        pd.testing.assert_frame_equal(getattr(out, name), getattr(direct, name), check_exact=True)
