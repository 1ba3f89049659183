"""Speed-ups that must not change a number: state size per child, and metrics summed by cells.

Timing itself is measured by `benchmarks/` (the machine is shared, so wall time is no test);
what is tested here is what the speed rests on and could silently regress.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

import sim.metrics.compute as compute
import sim.metrics.gaps  # noqa: F401  (imports scipy.stats before memory is traced: module memory, not the metrics')
from sim.metrics import compute_metrics
from sim.metrics.compute import SEVERITY_LABELS, MetricBuilder
from sim.model import SendModel
from sim.population.build import column_bytes_per_child

from conftest import SEED, small_config

STATE_BYTES_PER_CHILD_LIMIT = 200  # a whole-England run (about 17 million child rows) keeps its state under 3.5 GB


def test_state_of_a_child_fits_in_200_bytes(fresh_model) -> None:
    """Bytes of every per-child column (all rows, future Reception cohorts too), from the real arrays."""
    children = fresh_model.children
    per_child = column_bytes_per_child(children)
    assert per_child == sum(np.asarray(getattr(children, name)).nbytes for name in children.column_names()) / len(children)
    assert per_child <= STATE_BYTES_PER_CHILD_LIMIT, f"{per_child:.0f} bytes of state per child"


def _units(n: int, seed: int, pounds: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "date": pd.to_datetime(rng.choice(["2026-01-01", "2027-01-01", "2028-01-01"], n)),
        "fsm": pd.Categorical.from_codes(rng.integers(0, 2, n), ["non_fsm", "fsm"]),
        "income_quintile": pd.Categorical.from_codes(rng.integers(0, 5, n), ["1", "2", "3", "4", "5"]),
        "council": pd.Categorical.from_codes(rng.integers(0, 40, n), [f"E{i:08d}" for i in range(40)]),
        "severity_band": pd.Categorical.from_codes(rng.integers(0, 5, n), list(SEVERITY_LABELS)),
        "months": rng.integers(0, 13, n).astype(float),
        "flag": (rng.random(n) < 0.03).astype(float),
        "one": 1.0,
    })
    if pounds:
        frame["pounds"] = rng.gamma(0.5, 800.0, n)
    return frame


def _ratios(units: pd.DataFrame, numerator: str, denominator: str, min_rows: int, monkeypatch) -> pd.DataFrame:
    monkeypatch.setattr(compute, "COLLAPSE_MIN_ROWS", min_rows)
    builder = MetricBuilder.__new__(MetricBuilder)
    builder.rows, builder._grouping = [], None
    builder.add_ratio(units, "m", numerator, denominator, 100.0,
                      breakdowns=("all", "fsm", "income_quintile", "council", "severity_band"), min_denominator=0)
    return pd.concat(builder.rows, ignore_index=True)


@pytest.mark.parametrize("numerator, denominator", [("flag", "one"), ("months", "flag"), ("pounds", "one")])
def test_metrics_summed_by_cells_equal_row_by_row_sums_bit_for_bit(numerator, denominator, monkeypatch) -> None:
    """Collapsing units into (date, group) cells first gives the same values, to the last bit,
    including groups whose denominator is zero (absent) and pounds (never collapsed)."""
    units = _units(120_000, seed=3, pounds=True)
    by_cells = _ratios(units, numerator, denominator, 1, monkeypatch)
    by_rows = _ratios(units, numerator, denominator, len(units) + 1, monkeypatch)
    assert len(by_rows) > 3 * 40
    pd.testing.assert_frame_equal(by_cells, by_rows, check_exact=True)


def test_cells_are_used_only_for_whole_numbers(monkeypatch) -> None:
    units = _units(60_000, seed=4, pounds=True)
    builder = MetricBuilder.__new__(MetricBuilder)
    builder._grouping = None
    monkeypatch.setattr(compute, "COLLAPSE_MIN_ROWS", 1)
    _, _, _, cells = builder.grouping(units, ("all", "fsm", "council"))
    assert cells is not None and len(cells[1]) <= 3 * 2 * 40 < len(units)
    assert compute.exact_in_any_order(units["months"].to_numpy())
    assert not compute.exact_in_any_order(units["pounds"].to_numpy())
    assert not compute.exact_in_any_order(np.array([0.5, 1.0]))
    assert not compute.exact_in_any_order(np.array([np.nan, 1.0]))


METRICS_PEAK_BYTES_PER_CHILD_LIMIT = 600  # one row per pupil and census year took about 1,000 at this horizon


def test_metrics_do_not_keep_a_row_per_pupil_and_year() -> None:
    """Peak memory allocated while computing a replicate's metrics, per child row, over the national
    horizon (January 2025 to August 2036, twelve censuses): about 350 bytes with each census and
    year summed into (date, group) cells as it is read (the children table behind the
    need-standardised gaps is what is left), about 1,000 when every census and year was kept as a
    frame of one row per pupil, a cost that grew with every simulated year."""
    model = SendModel(small_config(end="2036-08"), seed=SEED).run()
    tracemalloc.start()
    try:
        compute_metrics(model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    per_child = peak / len(model.children)
    assert per_child <= METRICS_PEAK_BYTES_PER_CHILD_LIMIT, f"{per_child:.0f} bytes per child row at the metrics' peak"
