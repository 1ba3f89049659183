"""Metric definitions that are easy to get subtly wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.metrics.compute import SEVERITY_LABELS, MetricBuilder


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
