"""The recorder sums each census and year into cells as it takes them, and the metrics are the same.

Why: nationally the per-pupil census and year snapshots (about 17 bytes per pupil and year)
were a large part of a worker's peak memory, and the metrics only ever summed them into
(breakdown group) cells. Summing at record time must change no metric: the same function
(`sim.cells.sum_into_cells`, by `sim.cells.breakdown_codes`) makes the cells, and the
counts are whole numbers, exact in any order. Breakdowns are those of the finished run, so when
FSM eligibility can still change (a dated `population.fsm_share_path`) the snapshots are kept
and summed after the run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.metrics import compute_metrics
from sim.model import SendModel
from sim.population.year_groups import YEAR_11
from tests.conftest import small_config

PATH = {2025: 0.26, 2026: 0.30, 2027: 0.34}


def test_metrics_from_cells_taken_at_the_census_equal_those_from_per_pupil_snapshots() -> None:
    model = SendModel(small_config(councils=2, pupils=4000, end="2028-02"), seed=11, keep_snapshots=True).run()
    recorded = compute_metrics(model)
    assert len(model.recorder.census) == 4 and len(model.recorder.years) == 3  # kept on request
    model.recorder.breakdowns_final = False  # as with a dated FSM path: sum the kept snapshots after the run
    from_snapshots = compute_metrics(model)
    pd.testing.assert_frame_equal(recorded, from_snapshots, check_exact=True)
    for metric in ("ehcp_share_pupils", "request_rate", "matched_support_share", "support_concentration_index"):
        assert (recorded["metric"] == metric).any(), metric


def test_the_recorder_keeps_cells_not_pupils() -> None:
    model = SendModel(small_config(councils=2, pupils=6000, end="2027-02"), seed=3).run()
    recorder = model.recorder
    assert recorder.census == [] and recorder.years == []
    cells = recorder.census_cells(model.children)
    pupils = [int(c.counts["one"].sum()) for c in cells]
    assert len(cells) == 3 and min(pupils) > 10_000  # every pupil on roll is in some cell
    assert max(len(c.counts["one"]) for c in cells) < min(pupils) / 5  # far fewer cells than pupils
    years = recorder.year_cells(model.children)
    assert len(years) == 2 == len(recorder.year_ends) and all(np.isfinite(y.concentration) for y in years)


def test_with_a_dated_fsm_path_census_breakdowns_are_the_children_at_the_end() -> None:
    """FSM eligibility rises each January: a pupil made eligible in 2027 is in the FSM group of the
    2025 census too (breakdowns are the finished run's), while the FSM share counts eligibility
    at the census."""
    model = SendModel(small_config({"population": {"fsm_share_path": PATH}}, councils=1, pupils=8000, end="2027-02"),
                      seed=5).run()
    recorder = model.recorder
    assert not recorder.breakdowns_final and len(recorder.census) == 3
    first, cells = recorder.census[0], recorder.census_cells(model.children)[0]
    pupils = first.columns["year_group"] <= YEAR_11
    rows = np.arange(first.lo, first.hi)[pupils]
    fsm_at_end, fsm_then = model.children.fsm[rows], first.columns["fsm"][pupils]
    assert fsm_at_end.sum() > fsm_then.sum()  # eligibility rose after the census
    in_fsm_group = cells.keys["fsm"][0] == 1
    assert cells.counts["one"][in_fsm_group].sum() == fsm_at_end.sum()
    assert cells.counts["is_fsm"].sum() == fsm_then.sum()


def test_children_table_labels_are_categoricals_of_the_same_labels(finished_model) -> None:
    """Need types and a plan's fate after the switch are categoricals (a byte a row, not a string),
    whose values are the labels the table held as strings."""
    from sim.config.schema import NEED_TYPES
    from sim.metrics import children_table

    table = children_table(finished_model)
    ch = finished_model.children
    rows = pd.Index(ch.key).get_indexer(table["child"].to_numpy())
    expected = np.where(ch.severity[rows] > 0, np.array(NEED_TYPES)[ch.need_type[rows]], "none")
    for column in ("need_type", "first_need_type", "plan_after_switch"):
        assert isinstance(table[column].dtype, pd.CategoricalDtype), column
    assert (table["need_type"].astype(str).to_numpy() == expected).all()
    assert set(table["plan_after_switch"].astype(str)) <= {"", "kept_plan", "moved_to_isp", "plan_ended"}
    assert (table["plan_after_switch"].astype(str) != "").sum() == table["ehcp_at_switch"].sum()
