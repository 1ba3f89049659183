"""Confidence intervals for a mean over replicates: Student's t.

Why t and not percentiles: with the handful of replicates a comparison can afford (2-10), the
2.5th and 97.5th percentiles of the replicate values are close to their minimum and maximum and
say nothing about the uncertainty of the *mean* that a report quotes. The t-interval
m ± t(n-1) · s / √n is the standard interval for a mean of independent replicates (each with its
own seed). It covers run-to-run (Monte Carlo) noise only: not uncertainty in the parameters,
which needs an ensemble over them (`sendsim experiment` with uncertainties).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import stdtrit

LEVEL = 0.95


def t_half_width(values, level: float = LEVEL) -> float:
    """Half-width of the t-interval for the mean of `values` (NaN ignored); 0 when all are equal;
    NaN with fewer than two values (one replicate gives no spread)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = len(v)
    if n < 2:
        return math.nan
    sd = float(v.std(ddof=1))
    if sd == 0.0:
        return 0.0
    # Student's t quantile; the very function `scipy.stats.t.ppf` calls, without importing
    # scipy.stats (seconds of a comparison's start, before its workers can begin)
    return float(stdtrit(n - 1, 1 - (1 - level) / 2)) * sd / math.sqrt(n)


def t_bounds(values, level: float = LEVEL) -> tuple[float, float]:
    """(lo, hi) of the t-interval for the mean; with one value both are that value; NaN when empty."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return math.nan, math.nan
    mean = float(v.mean())
    if len(v) == 1:
        return mean, mean
    half = t_half_width(v, level)
    return mean - half, mean + half


def t_lo(values, level: float = LEVEL) -> float:
    return t_bounds(values, level)[0]


def t_hi(values, level: float = LEVEL) -> float:
    return t_bounds(values, level)[1]
