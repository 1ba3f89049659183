"""Need-standardised disadvantage gaps (sim.metrics.gaps): the arithmetic, the need it stands on, the outputs.

The claim users quote is "at equal need, FSM children wait X months longer". That is only true
if (1) the standardisation recovers a known within-need difference and reports none where
there is none, (2) the need it standardises on is the same for the same child under every
policy, and (3) a reform identical to the baseline moves no gap at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.cli import _print_need_standardised_gaps
from sim.config import validate_config
from sim.config.schema import NEED_TYPES
from sim.experiments.runner import combine, run_replicates
from sim.metrics import children_table, compute_metrics
from sim.metrics.compute import SEVERITY_LABELS, severity_band
from sim.metrics.gaps import (
    BAND_COLUMNS,
    CONTRASTS,
    COVERAGE,
    GAP_COLUMNS,
    GAP_METRICS,
    gap_change_by_severity,
    gap_comparison,
    gap_tables,
    need_cells,
    need_standardised_gaps,
    severity_band_gaps,
    standardise,
    t_interval,
)
from sim.model import SendModel
from sim.population.state import EHCP
from sim.report.comparison import compare_with_reports

END = "2027-08"
SMALL = {"run": {"end": END}, "population": {"scale": 0.1}}
FEWER_REFUSALS = {**SMALL, "decision": {"refusal_intercept": -2.5}}  # councils refuse fewer requests
REPLICATES = 2


# ---- the arithmetic, on synthetic children with known answers -------------------------------
def _synthetic(cell_means_a: dict, cell_means_b: dict, counts_a: dict, counts_b: dict):
    """Children of two groups with a fixed value per cell: (value, in_a, in_b, cell)."""
    values, in_a, cells = [], [], []
    for group, means, counts in ((True, cell_means_a, counts_a), (False, cell_means_b, counts_b)):
        for cell, n in counts.items():
            values += [means[cell]] * n
            in_a += [group] * n
            cells += [cell] * n
    value = pd.Series(values, dtype=float)
    in_a = pd.Series(in_a)
    return value, in_a, ~in_a, pd.Series(cells)


def test_identical_treatment_at_equal_need_gives_no_gap_at_equal_need_whatever_the_need_mix():
    means = {"mild|ASD": 1.0, "severe|ASD": 6.0, "complex|SLD": 10.0}
    counts_a = {"mild|ASD": 10, "severe|ASD": 30, "complex|SLD": 60}  # the group with more severe needs
    counts_b = {"mild|ASD": 70, "severe|ASD": 20, "complex|SLD": 10}
    value, a, b, cell = _synthetic(means, means, counts_a, counts_b)
    result = standardise(value, a, b, cell, cell.value_counts())
    assert result["raw"] == pytest.approx(0.1 * 1 + 0.3 * 6 + 0.6 * 10 - (0.7 * 1 + 0.2 * 6 + 0.1 * 10))
    assert result["raw"] > 4
    assert result["at_equal_need"] == pytest.approx(0.0, abs=1e-12)
    assert result["different_needs"] == pytest.approx(result["raw"])
    assert result[COVERAGE] == pytest.approx(100.0)


def test_a_known_treatment_effect_within_every_cell_is_recovered_at_equal_need():
    means_b = {"mild|ASD": 1.0, "severe|SEMH": 5.0, "complex|PMLD": 12.0}
    means_a = {cell: m + 2.5 for cell, m in means_b.items()}  # 2.5 worse in every cell
    counts_a = {"mild|ASD": 5, "severe|SEMH": 40, "complex|PMLD": 55}
    counts_b = {"mild|ASD": 80, "severe|SEMH": 15, "complex|PMLD": 5}
    value, a, b, cell = _synthetic(means_a, means_b, counts_a, counts_b)
    result = standardise(value, a, b, cell, cell.value_counts())
    assert result["at_equal_need"] == pytest.approx(2.5)
    assert result["raw"] > 2.5 + 5  # most of the raw gap is the need mix
    assert result["raw"] == result["at_equal_need"] + result["different_needs"]


def test_the_reference_distribution_weights_cell_gaps_and_empty_cells_are_left_out_and_reported():
    # cell gaps 1 (mild) and 3 (severe); a "complex" cell has group A only and carries no gap
    means_a = {"mild|ASD": 2.0, "severe|ASD": 8.0, "complex|ASD": 20.0}
    means_b = {"mild|ASD": 1.0, "severe|ASD": 5.0}
    value, a, b, cell = _synthetic(means_a, means_b, {"mild|ASD": 10, "severe|ASD": 10, "complex|ASD": 5},
                                   {"mild|ASD": 10, "severe|ASD": 10})
    reference = pd.Series({"mild|ASD": 60.0, "severe|ASD": 20.0, "complex|ASD": 20.0})
    result = standardise(value, a, b, cell, reference)
    assert result["at_equal_need"] == pytest.approx((60 * 1 + 20 * 3) / 80)
    assert result[COVERAGE] == pytest.approx(80.0)
    assert result["raw"] == pytest.approx(value[a].mean() - value[b].mean())
    # no comparison child with a defined value at all: nothing to compare
    none = standardise(value.where(a), a, b, cell, reference)
    assert np.isnan(none["raw"]) and np.isnan(none["at_equal_need"]) and none[COVERAGE] == 0


def test_t_interval_is_the_student_interval_for_the_mean_over_replicates():
    mean, lo, hi, n = t_interval([1.0, 2.0, 3.0, np.nan])
    half = stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)
    assert (mean, n) == (2.0, 3)
    assert lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)
    assert t_interval([4.0, 4.0]) == (4.0, 4.0, 4.0, 2)
    one = t_interval([5.0])
    assert one[0] == 5.0 and np.isnan(one[1]) and np.isnan(one[2]) and one[3] == 1


# ---- on real runs -----------------------------------------------------------------------------
def _run(data: dict):
    return combine(run_replicates(validate_config(data), REPLICATES, workers=1))


@pytest.fixture(scope="module")
def baseline():
    return _run(SMALL)


@pytest.fixture(scope="module")
def reform():
    return _run(FEWER_REFUSALS)


def test_first_need_is_the_need_at_the_start_or_at_first_onset_and_the_same_under_another_policy(baseline, reform):
    config = validate_config(SMALL)
    start = SendModel(config, seed=7)
    severity_at_start = start.children.severity.copy()
    model = SendModel(config, seed=7).run()
    table = children_table(model)
    rows = np.flatnonzero(model.children.entry_year <= model.timeline.academic_year(model.n_months - 1))
    had_need = severity_at_start[rows] > 0
    assert np.allclose(table["first_severity"].to_numpy()[had_need], severity_at_start[rows][had_need])
    onsets = model.events.frame("need_onset")
    later = onsets.drop_duplicates("row")
    later = later[severity_at_start[later["row"].to_numpy()] == 0]
    assert len(later) > 50
    by_row = pd.Series(table["first_severity"].to_numpy(), index=rows)
    assert np.allclose(by_row[later["row"].to_numpy()].to_numpy(), later["severity"].to_numpy())
    assert ((table["first_severity"] > 0) == (table["first_need_type"] != "none")).all()
    # the need standardised on is drawn before the policy acts: identical child by child across routes
    (_, _, bc), (_, _, rc) = baseline, reform
    paired = bc.merge(rc, on=["replicate", "child"], suffixes=("_b", "_r"))
    assert len(paired) == len(bc)
    assert (paired["first_severity_b"] == paired["first_severity_r"]).all()
    assert (paired["first_need_type_b"] == paired["first_need_type_r"]).all()
    # ...while the end-of-run need does move with the policy (why it is not used)
    assert (paired["severity_b"] != paired["severity_r"]).any()


def test_ever_columns_agree_with_the_end_state_and_the_event_log():
    model = SendModel(validate_config(SMALL), seed=3).run()
    table = children_table(model)
    lo, hi = model.on_roll(model.n_months - 1)
    key_to_pos = pd.Series(np.arange(len(table)), index=table["child"].to_numpy())
    holding = model.children.key[lo:hi][model.children.support_level[lo:hi] == EHCP]
    assert len(holding) > 10 and table["ever_ehcp"].to_numpy()[key_to_pos[holding].to_numpy()].all()
    issued = model.children.key[model.events.frame("plan_issued")["row"].to_numpy()]
    assert len(issued) > 10 and table["ever_ehcp"].to_numpy()[key_to_pos[issued].to_numpy()].all()
    requested = model.children.key[model.events.frame("request")["row"].to_numpy()]
    assert table.set_index("child").loc[np.unique(requested), "ever_requested"].all()
    assert table["ever_requested"].sum() == len(np.unique(requested))
    assert 0 < table["ever_special_school"].sum() < table["ever_ehcp"].sum()


def test_raw_gap_is_exactly_at_equal_need_plus_different_needs_for_every_metric(baseline):
    (_, _, children) = baseline
    wide = need_standardised_gaps(children)
    assert len(wide) == REPLICATES * len(CONTRASTS) * len(GAP_METRICS)
    assert set(wide["metric"]) == {m.name for m in GAP_METRICS}
    filled = wide.dropna(subset=["raw", "at_equal_need"])
    assert len(filled) >= 0.9 * len(wide)
    assert (filled["raw"] == filled["at_equal_need"] + filled["different_needs"]).all()
    assert ((filled[COVERAGE] > 0) & (filled[COVERAGE] <= 100)).all()
    # the severity bands' contributions add up to the headline gap at equal need
    bands = severity_band_gaps(children).groupby(["replicate", "metric", "contrast"])["contribution"].sum(min_count=1)
    joined = filled.set_index(["replicate", "metric", "contrast"])["at_equal_need"]
    np.testing.assert_allclose(bands.reindex(joined.index).to_numpy(), joined.to_numpy(), atol=1e-9)


def test_metrics_table_holds_the_gaps_per_replicate_dated_at_the_end_of_the_run():
    model = SendModel(validate_config(SMALL), seed=5).run()
    metrics = compute_metrics(model)
    rows = metrics[metrics["by"].isin(["fsm_gap", "income_q1_q5_gap"])]
    assert set(rows["by"]) == {"fsm_gap", "income_q1_q5_gap"}
    assert set(rows["group"]) == {"raw", "at_equal_need", "different_needs", COVERAGE}
    assert set(rows["metric"]) == {m.name for m in GAP_METRICS}
    assert (rows["date"] == model.timeline.timestamp(model.n_months - 1)).all()
    wide = rows.pivot_table(index=["metric", "by"], columns="group", values="value")
    np.testing.assert_allclose(wide["raw"], wide["at_equal_need"] + wide["different_needs"], atol=1e-12)


def test_paired_gap_tables_summarise_both_routes_and_the_change_per_replicate(baseline, reform):
    (_, _, bc), (_, _, rc) = baseline, reform
    table = gap_comparison(bc, rc)
    assert list(table.columns) == GAP_COLUMNS
    assert len(table) == len(GAP_METRICS) * len(CONTRASTS) * 3
    assert set(table["better"]) == {"lower", "higher"}
    # change = reform - baseline inside each replicate; its mean is the difference of the means
    both = table.dropna(subset=["baseline", "reform", "change"])
    full = both[both["replicates"] == REPLICATES]
    np.testing.assert_allclose(full["change"], full["reform"] - full["baseline"], atol=1e-9)
    assert (full["change"].abs() > 1e-9).any()  # fewer refusals move some gap
    ehcp = table[(table["metric"] == "ehcp_receipt") & (table["component"] == "at_equal_need")]
    assert ehcp["replicates"].eq(REPLICATES).all()
    bands = gap_change_by_severity(bc, rc)
    assert list(bands.columns) == BAND_COLUMNS
    # the comparison makes both tables in one pass: exactly the same tables
    together = gap_tables(bc, rc)
    pd.testing.assert_frame_equal(together[0], table, check_exact=True)
    pd.testing.assert_frame_equal(together[1], bands, check_exact=True)
    other_children = rc.assign(child=rc["child"].to_numpy()[::-1])  # a different population
    with pytest.raises(ValueError, match="same children"):
        gap_comparison(bc, other_children)
    contribution = bands[bands["measure"] == "contribution"].groupby(["metric", "contrast"])["change"].sum()
    headline = table[table["component"] == "at_equal_need"].set_index(["metric", "contrast"])["change"]
    stable = ["unmet_need_months", "ehcp_receipt", "request_made", "suspensions"]  # same children covered in both runs
    for metric in stable:
        for contrast in CONTRASTS:
            assert contribution[(metric, contrast)] == pytest.approx(headline[(metric, contrast)], abs=1e-9)


def test_compare_writes_the_gap_tables_and_a_no_op_reform_changes_no_gap(tmp_path: Path, capsys):
    out = tmp_path / "comparison"
    result = compare_with_reports({"name": "base", **SMALL}, {"name": "same", **SMALL}, REPLICATES, out, workers=1,
                               run_summaries=False)
    for name in ("need_standardised_gaps.csv", "need_standardised_gaps.parquet", "gap_change_by_severity.csv"):
        assert name in result["manifest"]["files"]
    csv = pd.read_csv(out / "need_standardised_gaps.csv")
    parquet = pd.read_parquet(out / "need_standardised_gaps.parquet")
    assert list(csv.columns) == list(parquet.columns) == GAP_COLUMNS
    assert set(csv["contrast"]) == {"fsm_minus_non_fsm", "q1_minus_q5"}
    assert set(csv["component"]) == {"raw", "at_equal_need", "different_needs"}
    defined = csv.dropna(subset=["baseline"])
    assert len(defined) >= 0.9 * len(csv)
    assert (defined[["change", "change_lo", "change_hi"]] == 0).all().all()
    assert (defined["baseline"] == defined["reform"]).all()
    bands = pd.read_csv(out / "gap_change_by_severity.csv")
    assert list(bands.columns) == BAND_COLUMNS
    assert set(bands["severity_band"]) == {"mild", "moderate", "severe", "complex"}
    assert (bands.dropna(subset=["baseline"])["change"] == 0).all()
    metrics = pd.read_parquet(out / "baseline" / "metrics.parquet")
    gaps = metrics[metrics["by"] == "fsm_gap"]
    assert sorted(gaps["replicate"].unique()) == list(range(REPLICATES))
    # the terminal table of `sendsim compare`
    _print_need_standardised_gaps(result["need_standardised_gaps"])
    printed = capsys.readouterr().out
    assert "at equal need" in printed and "FSM - non-FSM" in printed and "Q1 - Q5" in printed
    assert "+0.00 [+0.00, +0.00]" in printed


@pytest.mark.slow
def test_in_the_default_baseline_lowest_income_children_fare_worse_at_equal_need():
    """What the measurement finds in the default baseline (quarter scale, four replicates).

    Compared at the same first need, quintile 1 children are matched within a year less often,
    reach matched support later, spend more months with need unmet (and a smaller share of their
    need-months matched) and hold an EHCP less often
    than quintile 5 children: each 95% t interval over replicates excludes zero. The raw EHCP gap
    points the other way (quintile 1 children have more and more severe needs) — the reason the
    raw gap cannot be read as access.
    """
    from sim.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "baseline.yaml", {"population": {"scale": 0.25}})
    _, _, children = combine(run_replicates(config, 4, workers=2))
    wide = need_standardised_gaps(children)
    income = wide[wide["contrast"] == "q1_minus_q5"].set_index(["metric", "replicate"])

    def interval(metric: str, component: str = "at_equal_need") -> tuple[float, float]:
        _, lo, hi, n = t_interval(income.loc[metric, component])
        assert n == 4
        return lo, hi

    assert interval("matched_within_a_year")[1] < 0
    assert interval("months_to_matched_support")[0] > 0
    assert interval("unmet_need_months")[0] > 0
    assert interval("matched_support_share")[1] < 0
    assert interval("ehcp_receipt")[1] < 0
    assert interval("ehcp_receipt", "raw")[0] > 0


def test_need_cells_are_the_cells_of_each_childs_band_and_need_type_labels(baseline):
    """`need_cells` reads the band from the severity and looks each need-type label up once; the
    cells are those of looking up every child's band and need-type label."""
    _, _, children = baseline
    severity = children["first_severity"].to_numpy(dtype=np.float64)
    band = pd.Index(list(SEVERITY_LABELS)).get_indexer(severity_band(severity))
    need_type = pd.Index(list(NEED_TYPES)).get_indexer(children["first_need_type"].astype(str))
    expected = np.where((severity > 0) & (need_type >= 0), band * len(NEED_TYPES) + need_type, -1)
    cells = need_cells(children)
    np.testing.assert_array_equal(cells, expected)
    assert (cells >= 0).any() and (cells == -1).any()
