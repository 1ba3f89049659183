"""The comparison's faster ways to the same numbers: each is checked against the slower way it replaced.

Why: the equity table, the group codes and the t quantile were rewritten for the national
comparison's 17 million children; a table that changed in its last bit would break the promise
that results are identical at the same seed, so each fast path is compared bit for bit with the
grouping, factorising or scipy.stats call it replaced, on random data with several replicates,
missing groups and both directions of "better".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.experiments import compare as compare_module
from sim.metrics.intervals import t_half_width


def _paired(rng: np.random.Generator, n: int = 4000, replicates=(0, 1, 3)) -> pd.DataFrame:
    """A paired table shaped like `pair_children(columns=ANALYSIS_COLUMNS)`'s, with random values."""
    need_types = pd.Categorical(rng.choice(["ASD", "SEMH", "SLCN", "MLD", None], n),
                                categories=["SLCN", "SEMH", "MLD", "ASD", "PD"])  # PD never occurs
    need_b, need_r = rng.integers(0, 40, n).astype(np.int16), rng.integers(0, 40, n).astype(np.int16)
    frame = {"replicate": rng.choice(replicates, n), "child": rng.permutation(n).astype(np.uint64),
             "fsm_b": rng.random(n) < 0.3, "income_quintile_b": rng.choice([1, 2, 4, 5], n).astype(np.int8),
             "need_type_b": need_types, "severity_b": rng.choice([0.0, 0.2, 0.5, 0.9], n).astype(np.float32)}
    for run, need in (("b", need_b), ("r", need_r)):
        frame[f"need_months_{run}"] = need
        frame[f"unmet_months_{run}"] = (need * rng.random(n)).astype(np.int16)
        frame[f"matched_months_{run}"] = (need * rng.random(n)).astype(np.int16)
        frame[f"months_to_matched_support_{run}"] = np.where(rng.random(n) < 0.4, np.nan, rng.integers(0, 30, n))
        frame[f"matched_within_a_year_{run}"] = np.where(rng.random(n) < 0.4, np.nan, rng.integers(0, 2, n))
        frame[f"ks4_em4_{run}"] = rng.choice([-1, 0, 1], n).astype(np.int8)
        frame[f"suspensions_{run}"] = rng.integers(0, 4, n).astype(np.int16)
        frame[f"excluded_{run}"] = rng.random(n) < 0.05
        frame[f"neet_{run}"] = rng.choice([-1, 0, 1], n).astype(np.int8)
    return pd.DataFrame(frame)


@pytest.mark.parametrize("better", ["lower", "higher"])
@pytest.mark.parametrize("metric", [m.name for m in compare_module.PAIRED_METRICS])
def test_cell_sums_give_the_grouped_means_bit_for_bit(metric, better):
    """Every breakdown's per-replicate cells from sums over the fine cells equal grouping per
    breakdown, for every whole-number metric (the matched share is not one, and stays grouped)."""
    paired = _paired(np.random.default_rng(7))
    groups = compare_module._group_codes(paired)
    codes, values = compare_module._small_integer_codes(paired["replicate"].to_numpy())
    fine = compare_module._fine_cells(codes, len(values), groups)
    b, r, keep = compare_module.child_values(paired, metric)
    baseline, reform = b[keep], r[keep]
    whole = compare_module._whole_numbers(baseline) and compare_module._whole_numbers(reform)
    assert whole == (metric != "matched_support_share")
    if not whole:
        return
    summed = compare_module._cells_by_sums(baseline, reform, better, fine, keep, values, groups)
    grouped = compare_module._cells_by_groupby(baseline, reform, better, codes[keep], keep, values, groups)
    assert [len(f) for f in summed] == [len(f) for f in grouped] and len(summed) == len(compare_module.BREAKDOWNS)
    for fast, slow in zip(summed, grouped):
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)


def test_child_values_are_the_per_child_series():
    """The arrays the equity table reads are the values, masks and NaNs of `per_child_values`."""
    paired = _paired(np.random.default_rng(3))
    for spec in compare_module.PAIRED_METRICS:
        b, r, mask = compare_module.per_child_values(paired, spec.name)
        assert isinstance(b, pd.Series) and b.index.equals(paired.index)
        b_array, r_array, mask_array = compare_module.child_values(paired, spec.name)
        np.testing.assert_array_equal(b.to_numpy(), b_array)
        np.testing.assert_array_equal(r.to_numpy(), r_array)
        np.testing.assert_array_equal(mask.to_numpy(), mask_array)


@pytest.mark.parametrize("values", [np.array([5, 1, 1, 4, 5, 2], dtype=np.int8), np.array([3, 10**9, 3, 7]), np.array([], dtype=np.int64)])
def test_small_integer_codes_are_a_sorted_factorisation(values):
    """Lookup codes (small range) and sorted codes (wide range) both equal `np.unique`'s inverse."""
    codes, distinct = compare_module._small_integer_codes(values)
    expected_distinct, expected_codes = np.unique(values.astype(np.int64), return_inverse=True)
    np.testing.assert_array_equal(distinct, expected_distinct)
    np.testing.assert_array_equal(codes, expected_codes)


@pytest.mark.parametrize("categorical", [True, False])
def test_text_codes_group_as_the_text_does(categorical):
    """Codes in the order of the labels as text, missing values read "nan", from a categorical's own
    codes or from the values: the same groups, in the same order, as factorising the text."""
    raw = ["E09", "E06", None, "E10", "E06", "E09"]
    values = pd.Series(pd.Categorical(raw, categories=["E10", "E09", "E06", "E99"]) if categorical else raw)
    codes, labels = compare_module.text_codes(values)
    expected_codes, expected_labels = pd.factorize(np.array(["nan" if v is None else v for v in raw], dtype=object), sort=True)
    np.testing.assert_array_equal(labels[codes], np.asarray(expected_labels, dtype=object)[expected_codes])
    assert list(np.unique(codes)) == sorted(np.unique(codes)) and list(labels[np.unique(codes)]) == list(expected_labels)


def test_the_t_quantile_is_scipy_stats_own():
    """The intervals' quantile (`scipy.special.stdtrit`) is bit for bit `scipy.stats.t.ppf`."""
    for n in (2, 3, 5, 10, 31, 1000):
        values = np.arange(n, dtype=float) ** 1.5
        sd = float(values.std(ddof=1))
        assert t_half_width(values) == float(stats.t.ppf(0.975, n - 1)) * sd / np.sqrt(n)
