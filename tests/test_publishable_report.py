"""The comparison report a think tank can publish, the reform taken apart, and the transition cohort.

What must hold for the numbers to be quoted safely: the HTML page carries its figures with it;
the first thing a reader sees says what was simulated (the right population), in what money and
how sure; gaps never get a percentage change; value for money never divides a saving; intervals
are t-intervals; a decomposition's contributions add up to the whole reform; the transition
cohort's fates add up to everyone in it.
"""

from __future__ import annotations

import base64
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.config import validate_config
from sim.experiments.decompose import (
    Component,
    DecompositionError,
    contributions,
    load_components,
    needed_subsets,
    plan_components,
)
from sim.experiments.headline import cost_effectiveness
from sim.metrics.intervals import t_bounds, t_half_width
from sim.report.compare_report import write_compare_report
from sim.report.comparison import compare_with_reports

END = "2031-08"  # past the legal switch (September 2029) and the first legacy moves (September 2030)
PUPILS = 2000
REPLICATES = 2
BASE = {"run": {"end": END}, "population": {"pupils_per_council": PUPILS}}
REFORM = {**BASE, "name": "reform_small", "run": {"end": END, "route": "tiered"},
          "transition": {"anticipation_multiplier": 1.33}}
COMPONENTS = [Component("legal_switch", "The legal switch",
                        {"transition.legal_switch": "2075-09", "transition.legacy_review_from": "2075-09",
                         "transition.no_change_before": "2075-09"}),
              Component("anticipation", "The anticipation surge", {"transition.anticipation_multiplier": None})]


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("publishable") / "comparison"
    result = compare_with_reports(BASE, REFORM, REPLICATES, out, workers=1, components=COMPONENTS, shapley=True)
    return out, result


def _md_table_rows(text: str, first_cell: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and line.split("|")[1].strip().startswith(first_cell):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


# ---- the page ---------------------------------------------------------------------------------
def test_report_html_copied_alone_to_another_directory_still_shows_its_figures(comparison, tmp_path):
    out, _ = comparison
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(out / "report.html", alone / "report.html")
    html = (alone / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img[^>]*\ssrc="([^"]+)"', html)
    figures_in_markdown = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (out / "report.md").read_text(encoding="utf-8"))
    assert len(sources) == len(figures_in_markdown) >= 5  # four route figures and the waterfall
    for src in sources:
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing else is fetched from a file: no stylesheet, script or relative link
    assert not re.findall(r'<(?:link|script)\b', html)
    relative = [h for h in re.findall(r'href="([^"]+)"', html) if not h.startswith(("#", "http"))]
    assert relative == []
    assert '<nav class="toc">' in html and html.count('<li><a href="#') >= 6


def test_read_this_first_box_states_the_simulated_population_and_what_intervals_cover(comparison):
    out, result = comparison
    system = result["baseline"]["system"]
    first = system[system["date"] == system["date"].min()]
    pupils = first.groupby("replicate")["pupils"].sum().mean()
    md = (out / "report.md").read_text(encoding="utf-8")
    box_start = md.index("> **Read this first**")
    assert box_start < md.index("## Headline") < md.index("## Figures") < md.index("## Equity impact")
    box = md[box_start:md.index("## Headline")]
    assert f"1 simulated council with {pupils:,.0f} pupils" in box
    assert f"{REPLICATES} paired replicates" in box and f"from 2025-01 to {END}" in box
    assert "run-to-run (Monte Carlo) noise only" in box and "t-intervals" in box
    assert "England" in box and "cash" in box  # a sample run: England-scaled money is explained
    assert "Too few replicates" in box  # two replicates of a tiny council cannot be enough
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<section class="box"><h2>Read this first</h2>' in html


def test_gap_rows_never_show_a_relative_change(comparison):
    out, result = comparison
    equity = result["equity"]
    gaps = equity[equity["by"].isin(["fsm_gap", "income_gap"])]
    assert len(gaps) and gaps["relative_change"].isna().all()
    md = (out / "report.md").read_text(encoding="utf-8")
    rows = _md_table_rows(md, "**Gap:")
    assert rows
    for row in rows:
        assert row[4] == "–", row  # the "Relative change" column
    assert "%" not in "".join(cell for row in rows for cell in row[1:4])


def test_need_codes_are_spelled_out(comparison):
    out, _ = comparison
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "SLCN (speech, language and communication needs)" in md
    assert "| SEMH | social, emotional and mental health |" in md


def test_need_standardised_gaps_lead_the_report_when_the_table_exists(comparison, tmp_path):
    out, result = comparison
    copy = tmp_path / "with_gaps"
    shutil.copytree(out, copy)
    fixture = pd.DataFrame([
        {"metric": "unmet_need_months", "contrast": contrast, "component": component, "unit": "months",
         "better": "lower", "baseline": base, "baseline_lo": base - 0.2, "baseline_hi": base + 0.2,
         "reform": base - 0.5, "reform_lo": base - 0.8, "reform_hi": base - 0.2, "change": -0.5,
         "change_lo": -0.7, "change_hi": -0.3, "replicates": 2}
        for contrast in ("fsm_minus_non_fsm", "q1_minus_q5")
        for component, base in (("raw", 1.5), ("at_equal_need", 0.9), ("different_needs", 0.6))])
    fixture.to_csv(copy / "need_standardised_gaps.csv", index=False)
    manifest = result["manifest"]
    write_compare_report(copy, result["equity"], result["costs"], result["stock"], manifest)
    md = (copy / "report.md").read_text(encoding="utf-8")
    assert md.index("## Headline") < md.index("## Disadvantage gaps at equal need") < md.index("## Figures")
    rows = _md_table_rows(md, "**FSM minus not FSM: at equal need")
    assert rows and rows[0][1] == "+0.90 [+0.70, +1.10]" and rows[0][3] == "−0.50 [−0.70, −0.30]"
    assert len(_md_table_rows(md, "Income quintile 1 minus quintile 5")) == 2  # raw and different needs


# ---- intervals and value for money ----------------------------------------------------------------
def test_t_interval_uses_students_t_and_collapses_with_one_replicate():
    values = [1.0, 2.0, 3.0]
    assert t_half_width(values) == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-6)
    assert t_bounds(values) == pytest.approx((2 - 2.484138, 2 + 2.484138), rel=1e-6)
    assert t_bounds([5.0]) == (5.0, 5.0)
    assert t_half_width([4.0, 4.0]) == 0.0
    assert all(math.isnan(v) for v in t_bounds([]))


def _replicates(spend, months, better=100, worse=10):
    n = len(spend)
    return pd.DataFrame({"spend": spend, "child_months_avoided": months,
                         "children_better_off": [better] * n, "children_worse_off": [worse] * n})


def test_value_for_money_divides_only_a_cost_by_a_benefit_never_a_saving():
    costly = cost_effectiveness(_replicates([2e6, 4e6], [1000.0, 3000.0])).set_index("measure")
    assert costly.loc["net_cost_per_child_month_avoided", "value"] == pytest.approx(3e6 / 2000)
    assert costly.loc["net_cost_per_child_better_off", "value"] == pytest.approx(3e6 / 90)
    dominant = cost_effectiveness(_replicates([-2e6, -4e6], [1000.0, 3000.0]))
    assert dominant["verdict"].iloc[0].startswith("dominant")
    assert not dominant["measure"].str.contains("per_").any()  # no ratio of a saving
    trade_off = cost_effectiveness(_replicates([-2e6, -4e6], [-1000.0, -3000.0], better=10, worse=100))
    assert list(trade_off["measure"]) == ["net_cost", "child_months_avoided", "net_children_better_off",
                                         "saving_per_child_month_added"]
    assert trade_off.set_index("measure").loc["saving_per_child_month_added", "value"] == pytest.approx(1500.0)
    dominated = cost_effectiveness(_replicates([2e6, 4e6], [-1000.0, -3000.0]))
    assert dominated["verdict"].iloc[0].startswith("dominated") and not dominated["measure"].str.contains("per_").any()


# ---- the decomposition ----------------------------------------------------------------------------
def test_shapley_and_sequential_contributions_add_up_and_shapley_is_fair():
    names = ["a", "b", "c"]
    effect = {"a": 1.0, "b": -2.0, "c": 0.5}

    def v(subset):  # additive effects plus an a-b interaction of 3
        value = sum(effect[n] for n in subset) + (3.0 if {"a", "b"} <= set(subset) else 0.0)
        return pd.DataFrame({"replicate": [0, 1], "x": [value, value + 0.1]}).set_index("replicate")

    subsets = needed_subsets(names, shapley=True)
    assert len(subsets) == 8
    values = {s: v(s) for s in subsets}
    per_rep = contributions(values, names, shapley=True)
    total = per_rep[per_rep["method"] == "total"].set_index("replicate")["value"]
    residual = per_rep[per_rep["method"] == "residual"].set_index("replicate")["value"]
    for method in ("sequential", "shapley"):
        parts = per_rep[per_rep["method"] == method].groupby("replicate")["value"].sum()
        pd.testing.assert_series_equal(residual + parts, total, check_names=False)
    shapley = per_rep[(per_rep["method"] == "shapley") & (per_rep["replicate"] == 0)].set_index("component")["value"]
    assert shapley["a"] == pytest.approx(1.0 + 1.5) and shapley["b"] == pytest.approx(-2.0 + 1.5)
    assert shapley["c"] == pytest.approx(0.5)
    alone = per_rep[(per_rep["method"] == "alone") & (per_rep["replicate"] == 0)].set_index("component")["value"]
    assert alone["a"] == pytest.approx(1.0)


def test_a_real_decomposition_adds_up_to_the_whole_reform_replicate_by_replicate(comparison):
    out, result = comparison
    table = pd.read_csv(out / "decomposition.csv")
    assert set(table["method"]) == {"residual", "alone", "sequential", "shapley", "total"}
    assert set(table["component"]) == {"route_residual", "legal_switch", "anticipation", "total"}
    equity = result["equity"]
    whole = equity[(equity["metric"] == "unmet_need_months") & (equity["by"] == "all")].iloc[0]
    total = table[(table["method"] == "total") & (table["outcome"] == "unmet_need_months")].iloc[0]
    assert total["value"] == pytest.approx(whole["change"], abs=1e-9)  # the reform run itself, reused
    for method in ("sequential", "shapley"):
        parts = table[(table["method"].isin([method, "residual"])) & (table["outcome"] == "unmet_need_months")]
        assert parts["value"].sum() == pytest.approx(total["value"], abs=1e-9)
    # the anticipation surge ends before the switch: it cannot move plans to ISPs, so the legal
    # switch carries every loser the switch creates; the surge alone changes requests only
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Which part of the reform does what" in md and "figures/decomposition_waterfall.png" in md


def test_components_that_do_not_fit_the_reform_are_refused_naming_the_key(tmp_path):
    baseline, reform = validate_config(BASE), validate_config(REFORM)
    with pytest.raises(DecompositionError, match="reform.no_such_key"):
        plan_components(baseline, reform, [Component("x", "x", {"reform.no_such_key": 1})])
    with pytest.raises(DecompositionError, match="transition.anticipation_multiplier"):
        plan_components(baseline, reform, [Component("x", "x", {"transition.anticipation_multiplier": None}),
                                           Component("y", "y", {"transition.anticipation_multiplier": 1.0})])
    with pytest.raises(DecompositionError, match="anticipation_multiplier"):
        plan_components(baseline, reform, [Component("x", "x", {"transition.anticipation_multiplier": -1.0})])
    plan = plan_components(baseline, reform, [Component("switch", "s", {"transition.legal_switch": "2075-09"})],
                           hold=("run.route",))
    remaining = [c for c in plan.components if c.name == "remaining"]
    assert remaining and remaining[0].off == {"transition.anticipation_multiplier": 1.0}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"components": [{"name": "a", "label": "a"}]}))
    with pytest.raises(DecompositionError, match="when_off"):
        load_components(bad)


def test_the_white_paper_components_file_fits_the_white_paper():
    from sim.config import load_config

    components, hold, reform_file = load_components("configs/components/white_paper.yaml")
    assert reform_file is not None and reform_file.name == "reform_white_paper.yaml"
    plan = plan_components(load_config("configs/baseline.yaml"), load_config(reform_file), components, hold)
    assert [c.name for c in plan.components] == ["funding_universal", "experts_at_hand", "inclusion_bases",
                                                 "legal_switch", "protections", "anticipation"]


# ---- the transition cohort ------------------------------------------------------------------------
def test_transition_cohort_fates_add_up_and_groups_partition_the_cohort(comparison):
    out, result = comparison
    table = pd.read_csv(out / "transition_cohort.csv", dtype={"group": str})
    wide = table.pivot_table(index=["by", "group"], columns="measure", values="value")
    assert wide.loc[("all", "all"), "children"] > 50
    fates = wide[["kept_plan", "moved_to_isp", "plan_ended"]].sum(axis=1)
    assert np.allclose(fates, 100.0)
    assert wide.loc[("all", "all"), "moved_to_isp"] > 0  # the legacy review moved some plans
    for by in ("fsm", "income_quintile"):
        assert wide.loc[by, "children"].sum() == pytest.approx(wide.loc[("all", "all"), "children"])
    reform_children = result["reform"]["children"]
    held = reform_children[reform_children["ehcp_at_switch"]]
    assert set(held["plan_after_switch"]) <= {"kept_plan", "moved_to_isp", "plan_ended"}
    assert (reform_children.loc[~reform_children["ehcp_at_switch"], "plan_after_switch"] == "").all()
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## The transition cohort: children holding a plan at the switch" in md


# ---- experiment reports: lever sweeps against the lever's value ------------------------------------
def test_the_experiment_report_plots_each_lever_sweep_against_the_lever_value(tmp_path):
    import json

    from sim.report.experiment_report import lever_sweeps, write_experiment_report

    root = tmp_path / "sweep"
    years = [3, 5, 8]
    design = pd.DataFrame({"point_id": [0, 1, 2], "reform.inclusion_base_rollout_years": years})
    root.mkdir()
    design.to_parquet(root / "design.parquet", index=False)
    (root / "manifest.json").write_text(json.dumps({
        "kind": "sendsim-experiment", "name": "sweep", "design": {"method": "grid"},
        "levers": {"reform.inclusion_base_rollout_years": years}}))
    rng = np.random.default_rng(1)
    rows = []
    for point, lever in enumerate(years):
        for replicate in range(3):
            rows.append({"date": pd.Timestamp("2030-01-01"), "metric": "unmet_need_months", "by": "all",
                         "group": "all", "value": 2.0 * lever + rng.normal(0, 0.1), "point_id": point,
                         "replicate": replicate, "block": 0, "task_id": f"t{point}-{replicate}"})
    directory = root / "runs" / "scenario=reform"
    directory.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(directory / "all.parquet", index=False)
    md, _ = write_experiment_report(root)
    sweeps = pd.read_csv(root / "analysis" / "lever_sweeps.csv")
    assert list(sweeps["value"]) == years
    assert np.allclose(sweeps["mean"], [6.0, 10.0, 16.0], atol=0.3)  # the outcome follows the lever's value
    assert (sweeps["lo"] < sweeps["mean"]).all() and (sweeps["hi"] > sweeps["mean"]).all()
    text = md.read_text()
    assert "## Lever sweeps" in text and "figures/lever_sweeps.png" in text
    assert (root / "figures" / "lever_sweeps.png").stat().st_size > 5_000
    assert lever_sweeps({"levers": {}}, design, pd.DataFrame({"point_id": [0], "y": [1.0]})).empty


# ---- the command ------------------------------------------------------------------------------------
def test_sendsim_decompose_writes_the_table_waterfall_and_manifest_and_refuses_a_bad_components_file(tmp_path):
    import json

    from typer.testing import CliRunner

    from sim.cli import app

    (tmp_path / "base.yaml").write_text(yaml.safe_dump(
        {"name": "tiny_base", "run": {"end": "2030-08"}, "population": {"pupils_per_council": 1500}}))
    (tmp_path / "reform_tiny.yaml").write_text(yaml.safe_dump(
        {"extends": "base.yaml", "name": "tiny_reform", "run": {"route": "tiered"},
         "transition": {"anticipation_multiplier": 1.5}}))
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "tiny.yaml").write_text(yaml.safe_dump(
        {"hold": ["run.route"], "components": [{"name": "anticipation", "label": "The surge",
                                                 "when_off": {"transition.anticipation_multiplier": None}}]}))
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(app, ["decompose", str(tmp_path / "base.yaml"), str(tmp_path / "reform_tiny.yaml"),
                                 "--replicates", "1", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "decomposition.csv")
    assert {"residual", "alone", "sequential", "shapley", "total"} == set(table["method"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["components"][0]["when_off"] == {"transition.anticipation_multiplier": 1.0}
    assert manifest["components"][0]["when_on"] == {"transition.anticipation_multiplier": 1.5}
    assert (out / "figures" / "decomposition_waterfall.png").is_file() and (out / "decomposition.html").is_file()

    (tmp_path / "components" / "bad.yaml").write_text(yaml.safe_dump(
        {"components": [{"name": "x", "when_off": {"transition.no_such_thing": 1}}]}))
    bad_out = tmp_path / "bad_out"
    result = runner.invoke(app, ["decompose", str(tmp_path / "base.yaml"), str(tmp_path / "reform_tiny.yaml"),
                                 "--components", str(tmp_path / "components" / "bad.yaml"), "--out", str(bad_out)])
    assert result.exit_code == 2 and "transition.no_such_thing" in result.output
    assert not bad_out.exists()


def test_real_prices_deflate_each_financial_year_to_2025_26(comparison):
    from sim.experiments.compare import cost_table
    from sim.experiments.headline import deflator_for

    _, result = comparison
    bs, rs = result["baseline"]["system"], result["reform"]["system"]
    cash = cost_table(bs, rs)
    real = cost_table(bs, rs, deflator_for("real_2025_26", 0.02))
    assert deflator_for("cash", 0.02) is None
    keys = ["measure", "holder", "period"]
    both = cash.merge(real, on=keys, suffixes=("_cash", "_real"))
    spend = both[(both["measure"] == "spend") & (both["holder"] == "total")]
    assert len(spend) >= 3
    for _, row in spend.iterrows():
        year = int(row["period"][:4])
        assert row["baseline_real"] == pytest.approx(row["baseline_cash"] / 1.02 ** (year - 2025))
        assert row["change_real"] == pytest.approx(row["change_cash"] / 1.02 ** (year - 2025))
    supported = both[both["measure"] == "children_supported"]
    assert np.allclose(supported["baseline_cash"], supported["baseline_real"])  # counts are not money


def test_sendsim_compare_warns_about_too_few_replicates_and_reports_in_real_prices(tmp_path):
    import json

    from typer.testing import CliRunner

    from sim.cli import app

    (tmp_path / "base.yaml").write_text(yaml.safe_dump(
        {"name": "tiny_base", "run": {"end": "2027-08"}, "population": {"pupils_per_council": 1500}}))
    (tmp_path / "reform.yaml").write_text(yaml.safe_dump(
        {"extends": "base.yaml", "name": "tiny_reform", "decision": {"refusal_intercept": -2.5}}))
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["compare", str(tmp_path / "base.yaml"), str(tmp_path / "reform.yaml"), "--replicates", "2",
            "--workers", "1", "--out", str(out)]
    result = runner.invoke(app, [*args, "--prices", "real"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Too few replicates" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["report"]["price_base"] == "real_2025_26"
    assert "real terms, 2025-26 prices" in (out / "report.md").read_text(encoding="utf-8")
    bad = runner.invoke(app, [*args, "--prices", "nominal"])
    assert bad.exit_code == 2 and "--prices must be cash or real" in bad.output
