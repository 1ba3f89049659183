"""England's councils: table-driven heterogeneity, exact council blocks, council-level spread."""

from __future__ import annotations

import numpy as np
import pytest

from sim.calibration.councils import model_values, published_values, spread_table
from sim.config import ConfigError, load_config, validate_config
from sim.metrics import children_table, compute_metrics
from sim.model import SendModel


def test_a_block_of_councils_is_an_exact_slice_of_the_whole_run() -> None:
    """Councils first..first+k-1 run alone give the same children, draws and results as in a
    run of all councils: national runs can be split over processes without changing results."""
    base = {"run": {"end": "2027-08", "route": "tiered"}}
    whole = SendModel(validate_config({**base, "population": {"pupils_per_council": 2500, "councils": 3}}), seed=4).run()
    block = SendModel(validate_config({**base, "population": {"pupils_per_council": 2500, "councils": 1, "first_council": 2}}), seed=4).run()
    identity = {"la_code": str, "la_name": str, "region_name": str}  # categoricals: the whole run has more categories
    a = children_table(whole).astype(identity)
    a = a[a["council"] == 2].set_index("child").sort_index()
    b = children_table(block).astype(identity).set_index("child").sort_index()
    assert len(b) > 0 and a.equals(b)
    ma, mb = compute_metrics(whole), compute_metrics(block)
    ma = ma[(ma["by"] == "council") & (ma["group"] == "2")].reset_index(drop=True)
    mb = mb[mb["by"] == "council"].reset_index(drop=True)
    assert ma[["date", "metric", "group"]].equals(mb[["date", "metric", "group"]])
    # identical children and events; ratios agree to rounding (sums over more rows in another order)
    np.testing.assert_allclose(ma["value"].to_numpy(), mb["value"].to_numpy(), rtol=1e-12, atol=1e-12)


def test_the_england_config_instantiates_every_council_with_its_own_profile() -> None:
    config = load_config("configs/england.yaml")
    model = SendModel(config, seed=1)
    councils = model.councils
    assert len(councils) == 153
    assert np.ptp(councils.pupils) > 10 * np.min(councils.pupils)  # from Isles of Scilly to Hampshire
    for name in ("request_multiplier", "appeal_multiplier", "gatekeeping_base", "advice_speed"):
        assert np.std(getattr(councils, name)) > 0, name


def test_a_council_block_beyond_the_table_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="first_council"):
        validate_config({"population": {"council_table": "england", "councils": 10, "first_council": 150}})


@pytest.fixture(scope="module")
def england_metrics():
    config = load_config("configs/england.yaml", overrides={"run": {"end": "2026-03"}, "population": {"scale": 0.03}})
    return compute_metrics(SendModel(config, seed=2).run())


def test_council_refusal_rates_follow_the_published_ones(england_metrics) -> None:
    table = spread_table(model_values(england_metrics), published_values())
    refusal = table[(table["measure"] == "refusal_rate") & (table["source"] == "model")].iloc[0]
    assert refusal["councils"] >= 140
    assert refusal["correlation"] > 0.5


def test_council_timeliness_keeps_the_published_order(england_metrics) -> None:
    table = spread_table(model_values(england_metrics), published_values())
    timeliness = table[(table["measure"] == "within_20_weeks") & (table["source"] == "model")].iloc[0]
    assert timeliness["correlation"] > 0.5
    assert timeliness["iqr"] > 15  # a real spread, not one national value


def test_a_deprived_council_has_more_fsm_families_and_more_need(tmp_path) -> None:
    """The council table's deprivation index shifts FSM log-odds; need follows FSM, income quintiles stay national."""
    from sim.config.council_table import load_council_table

    table = load_council_table()
    table = table.iloc[:2].copy()
    table["pupils_est"] = 6000
    table["fsm_share"] = [0.12, 0.45]
    table["deprivation_index"] = np.log(table["fsm_share"] / (1 - table["fsm_share"])) - np.log(0.26 / 0.74)
    path = tmp_path / "two.csv"
    table.to_csv(path, index=False)
    config = validate_config({"run": {"end": "2025-03"}, "population": {"council_table": str(path), "councils": 2}})
    model = SendModel(config, seed=3)
    start = model.timeline.start_year
    kids = children_table(model.run())
    on_roll = kids[kids["entry_year"].between(start - 12, start - 1)]  # Reception-Year 11 at the start census
    assert len(on_roll) > 10_000
    fsm = on_roll.groupby("council")["fsm"].mean()
    assert fsm[0] == pytest.approx(0.12, abs=0.02) and fsm[1] == pytest.approx(0.45, abs=0.03)
    need = on_roll.groupby("council")["severity"].apply(lambda s: (s > 0).mean())
    assert need[1] > need[0] * 1.15  # FSM raises the odds of need 2.5-fold
    q1 = on_roll.groupby("council")["income_quintile"].apply(lambda q: (q == 1).mean())
    assert q1[1] > 2 * q1[0]


def test_council_ehcp_rates_and_appeal_rates_follow_the_published_ones(england_metrics) -> None:
    """Real denominators: EHCP % of census pupils and appeals per appealable decision, matched by la_code."""
    table = spread_table(model_values(england_metrics), published_values()).set_index(["measure", "source"])
    ehcp_model, ehcp_published = table.loc[("ehcp_rate", "model")], table.loc[("ehcp_rate", "published")]
    assert ehcp_model["councils"] == 153
    assert ehcp_model["correlation"] > 0.5
    assert abs(ehcp_model["q50"] - ehcp_published["q50"]) < 0.6  # % of pupils: same level (5.4% published)
    appeals = table.loc[("appeal_rate", "model")]
    assert appeals["councils"] >= 140 and appeals["correlation"] > 0.5
    assert abs(appeals["iqr_over_median"] - table.loc[("appeal_rate", "published"), "iqr_over_median"]) < 0.5


def test_council_values_are_keyed_by_la_code(england_metrics) -> None:
    model = model_values(england_metrics)
    assert model["la_code"].str.fullmatch(r"E(06|08|09|10)\d{6}").all()
    assert set(model["la_code"]) == set(published_values()["la_code"])
