"""Test functions with known sensitivity indices, run through the whole experiment engine.

Why: a sensitivity pipeline (design → tasks → executor → store → analysis) can be wrong in ways
that still produce plausible-looking numbers (a shuffled design row, a dropped task). Running a
function whose Sobol' indices are known analytically checks the whole chain in seconds.
"""

from __future__ import annotations

import math

import pandas as pd

ISHIGAMI_A = 7.0
ISHIGAMI_B = 0.1
TEST_DATE = pd.Timestamp("2025-01-01")


def ishigami_value(x1: float, x2: float, x3: float, a: float = ISHIGAMI_A, b: float = ISHIGAMI_B) -> float:
    """f = sin x1 + a sin^2 x2 + b x3^4 sin x1 (Ishigami & Homma 1990), x_i ~ U[-pi, pi].

    Known first-order indices for a=7, b=0.1: S1 = 0.314, S2 = 0.442, S3 = 0; total ST3 = 0.244.
    """
    return math.sin(x1) + a * math.sin(x2) ** 2 + b * x3**4 * math.sin(x1)


def ishigami(values: dict[str, float]) -> pd.DataFrame:
    """One-row tidy frame (date, metric, by, group, value), like `compute_metrics` returns."""
    value = ishigami_value(float(values["x1"]), float(values["x2"]), float(values["x3"]))
    return pd.DataFrame({
        "date": pd.Series([TEST_DATE], dtype="datetime64[us]"),
        "metric": pd.Series(["ishigami"], dtype="string"),
        "by": pd.Series(["all"], dtype="string"),
        "group": pd.Series(["all"], dtype="string"),
        "value": pd.Series([value], dtype="float64"),
    })


TEST_FUNCTIONS = {"ishigami": ishigami}
