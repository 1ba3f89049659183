"""Council results of a paired comparison (sim.experiments.council_impact, sim.report.maps):
per-council table keyed by la_code, deprivation deciles and regions pooled from the same sums as
the equity table, and hex maps of England."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.config import load_config
from sim.experiments.council_impact import VALUE_COLUMNS, deprivation_deciles
from sim.report.comparison import compare_with_reports
from sim.report.maps import hex_layout

# four North West councils from the most and least deprived (FSM 47% to 12%): one region, so the
# region row pools exactly the children of the equity table's "all" row
COUNCILS = ["Manchester", "Blackpool", "Trafford", "Cheshire East"]
OVERRIDES = {"run": {"end": "2030-03"}, "population": {"councils": COUNCILS, "scale": 0.01}}
REFORM = {"decision": {"refusal_intercept": -2.5}}  # councils refuse far fewer requests


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("england") / "comparison"
    baseline = load_config("configs/england.yaml", overrides=OVERRIDES)
    reform = load_config("configs/england.yaml", overrides={**OVERRIDES, **REFORM, "name": "fewer_refusals"})
    return out, compare_with_reports(baseline, reform, 2, out, workers=1, run_summaries=False)


def test_the_comparison_writes_council_tables_and_maps(comparison) -> None:
    out, _ = comparison
    for name in ("council_impact.csv", "council_impact_by_decile.csv", "council_impact_by_region.csv"):
        assert (out / name).is_file(), name
    for stem in ("unmet_need_baseline", "unmet_need_change", "high_needs_spend_baseline", "high_needs_spend_change"):
        path = out / "figures" / f"council_map_{stem}.png"
        assert path.is_file() and path.stat().st_size > 10_000, stem
    page = (out / "councils.md").read_text(encoding="utf-8")
    assert "## By council deprivation decile" in page and "Manchester" in page and "figures/council_map_unmet_need_change.png" in page
    assert "| 10 | 2 |" in page and "| 2 | 2 |" in page  # Manchester and Blackpool; Trafford and Cheshire East (integers)
    table = pd.read_csv(out / "council_impact.csv")
    assert sorted(table["la_name"]) == sorted(COUNCILS)
    assert set(table["region_name"]) == {"North West"}
    assert table["la_code"].str.fullmatch(r"E0[68]\d{6}").all()
    assert set(VALUE_COLUMNS) <= set(table.columns)


def test_deprivation_deciles_follow_the_fsm_share() -> None:
    deciles = deprivation_deciles("england").set_index("la_name")
    assert deciles["deprivation_decile"].value_counts().between(15, 16).all()
    assert deciles.loc["Manchester", "deprivation_decile"] == 10 and deciles.loc["Wokingham", "deprivation_decile"] == 1
    assert deciles.groupby("deprivation_decile")["fsm_share"].max().is_monotonic_increasing


def test_pooled_councils_reproduce_the_equity_table(comparison) -> None:
    """The region row pools the same children as the equity table's all row: same change, same baseline."""
    _, result = comparison
    region = result["councils"]["council_impact_by_region"].iloc[0]
    equity = result["equity"]
    row = equity[(equity["metric"] == "unmet_need_months") & (equity["by"] == "all")].iloc[0]
    assert region["unmet_need_months_change"] == pytest.approx(row["change"], rel=1e-9, abs=1e-9)
    assert region["unmet_need_months_baseline"] == pytest.approx(row["baseline"], rel=1e-9)
    assert region["unmet_need_months_change_lo"] == pytest.approx(row["change_lo"], rel=1e-9, abs=1e-9)
    gap = equity[(equity["metric"] == "unmet_need_months") & (equity["by"] == "fsm_gap")].iloc[0]
    assert region["fsm_gap_unmet_need_months_raw_change"] == pytest.approx(gap["change"], rel=1e-9, abs=1e-9)
    assert region["children_with_need"] == pytest.approx(row["n_children"], rel=1e-9)


def test_council_values_match_the_run_metrics(comparison) -> None:
    """EHCPs per 100 pupils in January 2030 and high-needs spending per pupil agree with the run's own tables."""
    _, result = comparison
    table = result["councils"]["council_impact"].set_index("la_code")
    metrics = result["baseline"]["metrics"]
    ehcp = metrics[(metrics["metric"] == "ehcp_share_pupils") & (metrics["by"] == "council")
                   & (metrics["date"] == pd.Timestamp("2030-01-01"))].groupby("group")["value"].mean()
    assert len(ehcp) == len(COUNCILS)
    np.testing.assert_allclose(table.loc[ehcp.index, "ehcps_per_100_pupils_2030_baseline"], ehcp, rtol=1e-9)
    assert table["ehcps_per_100_pupils_2035_baseline"].isna().all()  # beyond the run
    assert (table["high_needs_spend_per_pupil_baseline"] > 0).all()
    assert (table["cost_per_child_supported_baseline"] > 0).all()
    # fewer refusals: more plans by 2030 (a few dozen pupils per council at this scale: pooled over councils)
    assert (table["ehcps_per_100_pupils_2030_change"] >= 0).all()
    assert result["councils"]["council_impact_by_region"]["ehcps_per_100_pupils_2030_change"].iloc[0] > 0


def test_the_hex_layout_places_every_council_of_the_table() -> None:
    layout = hex_layout()
    deciles = deprivation_deciles("england")
    assert len(layout) == 153 and set(layout["la_code"]) == set(deciles["la_code"])
    assert not layout.duplicated(["x", "y"]).any()
    north = layout.set_index("name")
    assert north.loc["Northumberland", "y"] > north.loc["Birmingham", "y"] > north.loc["Cornwall", "y"]
