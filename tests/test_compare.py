"""Paired baseline-vs-reform comparison (sim.experiments.compare, sim.report.compare_report).

The central claim: replicate r of any scenario with the same root seed holds the same children
with the same luck, so a "reform" identical to the baseline changes nothing for anyone. If that
fails, every winners-and-losers number is noise. A reform that does change policy must then
show a change, and runs of different populations must refuse to be compared.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import sim.experiments.compare as compare_module
import sim.experiments.resources as resources
from sim.config import validate_config
from sim.experiments.compare import (
    PAIRED_METRICS,
    UnpairedRunsError,
    cost_table,
    paired_equity,
    stock_table,
)
from sim.experiments.runner import combine, run_replicates, run_routes
from sim.report.comparison import compare_with_reports

PUPILS = 3000
END = "2027-08"
REPLICATES = 2
BASE = {"run": {"end": END}, "population": {"pupils_per_council": PUPILS}}
FEWER_REFUSALS = {**BASE, "decision": {"refusal_intercept": -2.5}}  # councils refuse fewer requests


def _run(data: dict):
    return combine(run_replicates(validate_config(data), REPLICATES, workers=1))


@pytest.fixture(scope="module")
def baseline():
    return _run(BASE)


@pytest.fixture(scope="module")
def baseline_again():
    """A second, independent run of the baseline (not the same frames): the no-op reform."""
    return _run(BASE)


@pytest.fixture(scope="module")
def reform():
    return _run(FEWER_REFUSALS)


def _equity(b, r, **kwargs) -> pd.DataFrame:
    (bm, _, bc), (rm, _, rc) = b, r
    return paired_equity(bc, rc, bm, rm, **kwargs)


def test_a_reform_identical_to_the_baseline_changes_nothing_for_any_child(baseline, baseline_again):
    equity = _equity(baseline, baseline_again)
    shown = equity[~equity["suppressed"]]
    assert set(shown["metric"]) == {m.name for m in PAIRED_METRICS}
    assert {"all", "fsm", "income_quintile", "need_type", "severity_band", "fsm_gap"} <= set(shown["by"])
    for column in ("change", "change_lo", "change_hi"):
        assert (shown[column] == 0).all(), column
    assert (shown["baseline"] == shown["reform"]).all()
    children = shown[~shown["by"].isin(["fsm_gap", "income_gap"])]
    assert (children["share_unchanged"] == 1).all()
    assert (children["share_better_off"] == 0).all() and (children["share_worse_off"] == 0).all()

    (_, bs, _), (_, rs, _) = baseline, baseline_again
    costs = cost_table(bs, rs)
    assert len(costs) and (costs["change"] == 0).all()
    stock = stock_table(baseline[0], baseline_again[0])
    assert (stock.loc[stock["route"] == "change", "mean"] == 0).all()


def test_fewer_refusals_change_outcomes_and_every_child_is_better_worse_or_unchanged(baseline, reform):
    equity = _equity(baseline, reform)
    overall = equity[(equity["by"] == "all") & (equity["metric"] == "unmet_need_months")].iloc[0]
    assert overall["change"] != 0
    assert overall["share_unchanged"] < 1
    children = equity[~equity["suppressed"] & ~equity["by"].isin(["fsm_gap", "income_gap"])]
    total = children[["share_better_off", "share_worse_off", "share_unchanged"]].sum(axis=1)
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    # the change is the paired per-child change: it equals reform minus baseline means
    np.testing.assert_allclose(children["change"], children["reform"] - children["baseline"], atol=1e-9)
    assert (children["change_lo"] <= children["change"] + 1e-12).all()
    assert (children["change"] <= children["change_hi"] + 1e-12).all()
    assert (cost_table(baseline[1], reform[1])["change"] != 0).any()


def test_runs_of_different_populations_refuse_to_be_paired(baseline):
    other_seed = _run({**BASE, "run": {"end": END, "seed": 7}})
    with pytest.raises(UnpairedRunsError, match="runs are not paired: different populations"):
        _equity(baseline, other_seed)
    metrics, _, children = baseline
    fewer = children[children["child"] != children["child"].iloc[0]]
    with pytest.raises(UnpairedRunsError, match="runs are not paired: different populations"):
        paired_equity(children, fewer, metrics, metrics)


def test_cells_with_few_children_are_suppressed(baseline, reform):
    equity = _equity(baseline, reform)
    sizes = equity["n_children"].sort_values().to_numpy()
    threshold = float(np.median(sizes))  # some cells fall below it, some do not
    equity = _equity(baseline, reform, small_cell=threshold)
    small = equity["n_children"] < threshold
    assert small.any() and (~small).any()
    assert (equity["suppressed"] == small).all()
    values = ["baseline", "reform", "change", "change_lo", "change_hi", "share_better_off", "share_unchanged"]
    assert equity.loc[small, values].isna().all().all()
    assert equity.loc[~small & ~equity["by"].isin(["fsm_gap", "income_gap"]), values].notna().all().all()


def test_compare_scenarios_writes_both_runs_the_tables_and_a_report_with_the_equity_table(tmp_path):
    out = tmp_path / "comparison"
    reform_other_seed = {**FEWER_REFUSALS, "run": {"end": END, "seed": 99}}  # run with the baseline's seed
    calls = []
    result = compare_with_reports(BASE, reform_other_seed, REPLICATES, out, workers=1,
                               progress=lambda route, done, total: calls.append((route, done, total)))
    assert calls[-1] == ("reform", REPLICATES, REPLICATES)
    for route in ("baseline", "reform"):
        for name in ("manifest.json", "metrics.parquet", "system.parquet", "children.parquet"):
            assert (out / route / name).is_file(), f"{route}/{name}"
    for name in ("manifest.json", "equity.parquet", "equity.csv", "costs.parquet", "costs.csv", "ehcp_stock.csv",
                 "report.md", "report.html"):
        assert (out / name).is_file(), name
    assert len(list((out / "figures").glob("*.png"))) == 4
    assert not list(tmp_path.glob(".comparison.tmp-*"))  # written atomically: no leftovers

    manifest = json.loads((out / "manifest.json").read_text())
    seed = manifest["seed"]
    assert manifest["reform"]["seed_as_given"] == 99
    assert manifest["baseline"]["config_sha256"] != manifest["reform"]["config_sha256"]
    for route in ("baseline", "reform"):
        run_manifest = json.loads((out / route / "manifest.json").read_text())
        assert run_manifest["seed"] == seed and run_manifest["config"]["run"]["seed"] == seed
        assert run_manifest["replicate_seeds"] == manifest["replicate_seeds"]

    report = (out / "report.md").read_text()
    assert "Equity impact" in report
    assert "| Income quintile 1 (lowest) |" in report and "| Free school meals (FSM) |" in report
    assert manifest["baseline"]["config_sha256"] in report and manifest["reform"]["config_sha256"] in report
    html = (out / "report.html").read_text()
    assert "<table>" in html and "Income quintile 1 (lowest)" in html
    equity = pd.read_parquet(out / "equity.parquet")
    pd.testing.assert_frame_equal(equity, result["equity"].reset_index(drop=True), check_dtype=False)


def test_matched_within_a_year_is_defined_for_the_same_children_under_any_policy(baseline, reform):
    """Unlike months to matched support, the within-a-year share conditions on nothing the policy
    changes: both runs define it for the same children, and it agrees with the months column."""
    (_, _, bc), (_, _, rc) = baseline, reform
    paired = bc.merge(rc, on=["replicate", "child"], suffixes=("_b", "_r"))
    assert len(paired) == len(bc) == len(rc)
    defined = paired["matched_within_a_year_b"].notna()
    assert defined.sum() > 100
    assert (defined == paired["matched_within_a_year_r"].notna()).all()
    for run in "br":
        months = paired[f"months_to_matched_support_{run}"]
        value = paired[f"matched_within_a_year_{run}"]
        assert set(value[defined].unique()) <= {0.0, 1.0}
        assert (value[defined & (months <= 12)] == 1).all()
        assert (value[defined & ~(months <= 12)] == 0).all()
    # the reform (fewer refusals) changes who is matched within a year, and the metric sees it
    changed = (paired["matched_within_a_year_b"] != paired["matched_within_a_year_r"]) & defined
    assert changed.any()


def test_a_comparison_that_will_not_fit_is_refused_before_either_route_runs(tmp_path, monkeypatch):
    """Both routes' memory is checked before the baseline runs: checked between the routes, the
    second counted the memory the first route's finished run still held as taken and was refused
    after the first had run (8 minutes for the national comparison at full scale)."""
    config = validate_config({"population": {"councils": 1, "pupils_per_council": 1000}, "run": {"end": "2025-06"}})
    available = int(resources.estimate_bytes(config, 2, 1, runs=2) / resources.USABLE_SHARE) - 1
    assert resources.estimate_bytes(config, 2, 1) < resources.USABLE_SHARE * available  # each route alone would pass
    ran = []
    monkeypatch.setattr(compare_module, "run_routes", lambda *args, **kwargs: ran.append(args) or {})
    monkeypatch.setattr(resources, "available_bytes", lambda: available)
    with pytest.raises(resources.InsufficientMemoryError, match="the comparison"):
        compare_module.compare_scenarios(config, config, 2, tmp_path / "out", workers=1)
    assert ran == []


def test_both_routes_in_one_pool_of_two_workers_give_the_serial_tables(baseline, reform):
    """The routes' replicates run side by side in two processes (`run_routes`), and each table is
    exactly the one the same replicate gives run on its own in this process (the fixtures)."""
    configs = {"baseline": validate_config(BASE), "reform": validate_config(FEWER_REFUSALS)}
    done = []
    outputs = run_routes(configs, REPLICATES, workers=2, on_done=lambda route, out: done.append((route, out.replicate)))
    assert sorted(done) == [(route, r) for route in configs for r in range(REPLICATES)]
    for route, serial in (("baseline", baseline), ("reform", reform)):
        assert [o.replicate for o in outputs[route]] == list(range(REPLICATES))
        for pooled, alone in zip(combine(outputs[route]), serial):
            pd.testing.assert_frame_equal(pooled, alone, check_exact=True)


def test_one_replicate_of_each_route_runs_on_two_workers_when_both_fit(tmp_path, monkeypatch):
    """With one replicate and two workers the comparison asks for both routes at once; when the
    memory available holds one worker but not two, it runs them one after the other (the same
    tables) rather than refusing."""
    config = validate_config({"population": {"councils": 1, "pupils_per_council": 1000}, "run": {"end": "2025-06"}})
    asked = []

    def fake_routes(configs, replicates, root_seed=None, workers=None, on_done=None):
        asked.append(workers)
        raise RuntimeError("stop here")

    monkeypatch.setattr(compare_module, "run_routes", fake_routes)
    monkeypatch.setattr(compare_module, "capped_workers", lambda workers: workers)
    both = resources.estimate_bytes(config, 1, 2, runs=2)
    assert both > resources.estimate_bytes(config, 1, 1, runs=2)  # two at once are counted as two workers
    for available, expected in ((both / resources.USABLE_SHARE + 1, 2), (both / resources.USABLE_SHARE - 1, 1)):
        monkeypatch.setattr(resources, "available_bytes", lambda available=available: int(available))
        with pytest.raises(RuntimeError, match="stop here"):
            compare_module.compare_scenarios(config, config, 1, tmp_path / f"out{expected}", workers=2)
        assert asked[-1] == expected


def test_pairing_only_some_columns_gives_the_same_rows_and_values(baseline, reform):
    """`pair_children(columns=...)` (the comparison pairs once, on the columns its tables read)
    returns the rows of the full join in (replicate, child) order with the same values, whatever
    the order of the input rows; a repeated key is refused."""
    (_, _, bc), (_, _, rc) = baseline, reform
    full = bc.merge(rc, on=["replicate", "child"], suffixes=("_b", "_r")).sort_values(["replicate", "child"])
    shuffled = rc.sample(frac=1.0, random_state=1)
    paired = compare_module.pair_children(bc, shuffled, columns=compare_module.ANALYSIS_COLUMNS)
    assert {f"{c}_{run}" for c in compare_module.ANALYSIS_COLUMNS for run in "br"} <= set(paired.columns)
    for column in paired.columns:
        pd.testing.assert_series_equal(paired[column], full[column].reset_index(drop=True), check_exact=True)
    with pytest.raises(UnpairedRunsError, match="repeats"):
        compare_module.pair_children(pd.concat([bc, bc.iloc[:1]]), rc)
