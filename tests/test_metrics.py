"""Metric definitions that are easy to get subtly wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.metrics.compute import SEVERITY_LABELS, MetricBuilder, collapse_to_cells


def _units(quintile: np.ndarray, matched_share: np.ndarray, band: np.ndarray) -> pd.DataFrame:
    n = len(quintile)
    return pd.DataFrame({
        "date": pd.Timestamp("2030-01-01"),
        "income_quintile": pd.Categorical.from_codes(quintile, ["1", "2", "3", "4", "5"]),
        "severity_band": pd.Categorical.from_codes(band, list(SEVERITY_LABELS)),
        "need_months": np.full(n, 12.0),
        "matched_months": 12.0 * matched_share,
    })


def _index(units: pd.DataFrame) -> float:
    builder = MetricBuilder.__new__(MetricBuilder)
    builder.rows = []
    builder.concentration(units)
    return float(builder.rows[0]["value"].iloc[0])


def test_concentration_index_is_positive_when_richer_families_get_more_matched_support() -> None:
    rng = np.random.default_rng(0)
    quintile = rng.integers(0, 5, 5000)
    band = rng.integers(1, 5, 5000)
    assert _index(_units(quintile, 0.3 + 0.1 * quintile, band)) > 0.1
    assert _index(_units(quintile, 0.7 - 0.1 * quintile, band)) < -0.1


def test_concentration_index_is_zero_when_support_does_not_depend_on_income() -> None:
    rng = np.random.default_rng(1)
    quintile = rng.integers(0, 5, 20000)
    band = rng.integers(1, 5, 20000)
    assert abs(_index(_units(quintile, np.full(20000, 0.5), band))) < 1e-12


def test_concentration_index_adjusts_for_need() -> None:
    """Richer children having milder needs (and so more matched support) is not inequity."""
    rng = np.random.default_rng(2)
    quintile = rng.integers(0, 5, 20000)
    band = np.where(quintile >= 3, 1, 3)  # the better-off are in the mild band
    share = np.where(band == 1, 0.8, 0.3)  # support depends on need only
    assert abs(_index(_units(quintile, share, band))) < 1e-9


def _ratio_rows(frame: pd.DataFrame, numerator: str, denominator: str) -> pd.DataFrame:
    builder = MetricBuilder.__new__(MetricBuilder)
    builder.rows = []
    builder._grouping = None
    builder.add_ratio(frame, "m", numerator, denominator, 100.0, breakdowns=("all", "fsm", "income_quintile", "sen_status"))
    return pd.concat(builder.rows, ignore_index=True).sort_values(["by", "group", "date"]).reset_index(drop=True)


def test_summing_units_into_cells_first_gives_the_same_ratios_bit_for_bit() -> None:
    """Collapsing a census into (group) cells before the breakdowns changes no value: counts are whole
    numbers, whose sums are exact in any order; groups present with units are present with cells."""
    rng = np.random.default_rng(3)
    n = 60_000  # above COLLAPSE_MIN_ROWS: the unit-level frame takes add_ratio's own cell path too
    units = pd.DataFrame({
        "fsm": pd.Categorical.from_codes(rng.integers(0, 2, n), ["non_fsm", "fsm"]),
        "income_quintile": pd.Categorical.from_codes(rng.integers(0, 5, n), ["1", "2", "3", "4", "5"]),
        "sen_status": pd.Categorical.from_codes(rng.choice(4, n, p=[0.8, 0.15, 0.0, 0.05]),
                                                ["no_sen", "sen_support", "targeted_plus", "ehcp"]),
    })
    months = rng.integers(0, 13, n)
    flag = rng.random(n) < 0.1
    cells = collapse_to_cells(units, {"one": None, "flag": flag, "months": months})
    assert len(cells) < 50 and cells["one"].sum() == n and cells["months"].sum() == months.sum()
    assert "targeted_plus" not in set(cells["sen_status"].astype(str))  # no unit there: no cell, no row
    units["date"] = cells["date"] = pd.Timestamp("2030-01-01")
    units["one"], units["flag"], units["months"] = 1.0, flag.astype(float), months.astype(float)
    for numerator, denominator in (("flag", "one"), ("months", "one"), ("flag", "months")):
        before, after = _ratio_rows(units, numerator, denominator), _ratio_rows(cells, numerator, denominator)
        pd.testing.assert_frame_equal(before, after, check_exact=True)


def test_cells_refuse_amounts_that_are_not_whole_numbers() -> None:
    """Sums of fractional amounts depend on their order: collapsing them would move the last bits."""
    units = pd.DataFrame({"fsm": pd.Categorical.from_codes(np.array([0, 1, 1]), ["non_fsm", "fsm"])})
    with pytest.raises(ValueError, match="whole-number"):
        collapse_to_cells(units, {"pounds": np.array([1.5, 2.0, 3.25])})
