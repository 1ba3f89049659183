"""Councils by identity: configs choose councils by name, code or region; outputs carry la_code,
name and region; a council gets the same children and draws alone as in a larger run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.config import ConfigError, load_config
from sim.config.council_table import council_identity
from sim.metrics import children_table, compute_metrics, system_table
from sim.model import SendModel
from sim.report.population_text import describe_simulated

SHORT = {"run": {"end": "2025-12"}}
BIRMINGHAM = "E08000025"


def _england(population: dict, scale: float = 0.004) -> object:
    return load_config("configs/england.yaml", overrides={**SHORT, "population": {"scale": scale, **population}})


@pytest.fixture(scope="module")
def birmingham():
    config = _england({"councils": ["Birmingham"]})
    return config, SendModel(config, seed=5).run()


def test_a_council_chosen_by_name_is_labelled_by_code_name_and_region(birmingham) -> None:
    config, model = birmingham
    assert config.population.councils == 1 and config.population.council_names == ["Birmingham"]
    kids = children_table(model)
    assert len(kids) > 0
    assert set(kids["la_code"].astype(str)) == {BIRMINGHAM}
    assert set(kids["la_name"].astype(str)) == {"Birmingham"} and set(kids["region_name"].astype(str)) == {"West Midlands"}
    metrics = compute_metrics(model)
    assert set(metrics.loc[metrics["by"] == "council", "group"]) == {BIRMINGHAM}
    system = system_table(model)
    assert set(system["la_code"].astype(str)) == {BIRMINGHAM} and set(system["la_name"].astype(str)) == {"Birmingham"}
    text = describe_simulated(config.model_dump(mode="json"), system.assign(replicate=0))
    pupils = int(system.loc[system["date"] == system["date"].min(), "pupils"].sum())
    assert f"Birmingham ({BIRMINGHAM}, West Midlands)" in text and f"{pupils:,} pupils" in text
    assert "60,000" not in text


def test_a_council_alone_is_the_same_council_as_in_a_block_by_row(birmingham) -> None:
    """By name or by row (first_council) Birmingham gets the same children and draws: one id per council."""
    _, model = birmingham
    identity = council_identity("england")
    row = int(identity.index[identity["la_code"] == BIRMINGHAM][0])
    by_row = SendModel(_england({"councils": 1, "first_council": row}), seed=5).run()
    a, b = children_table(model).set_index("child"), children_table(by_row).set_index("child")
    assert (a["council"] == row).all()
    pd.testing.assert_frame_equal(a, b)


@pytest.fixture(scope="module")
def north_east():
    config = _england({"region": "north east"}, scale=0.002)
    return config, SendModel(config, seed=2).run()


def test_a_region_by_name_simulates_its_councils(north_east) -> None:
    config, model = north_east
    identity = council_identity("england")
    north_east = identity[identity["region_name"] == "North East"]
    assert config.population.councils == len(north_east) == 12
    system = system_table(model)
    assert set(system["la_code"].astype(str)) == set(north_east["la_code"])
    assert set(system["region_name"].astype(str)) == {"North East"}
    metrics = compute_metrics(model)
    groups = set(metrics.loc[(metrics["by"] == "council") & (metrics["metric"] == "ehcp_share_pupils"), "group"])
    assert groups == set(north_east["la_code"])
    text = describe_simulated(config.model_dump(mode="json"), system)
    assert text.startswith("12 councils (region North East)")


def test_councils_by_code_and_old_code_in_table_order() -> None:
    config = _england({"councils": ["manchester", BIRMINGHAM, "202"]})  # 202 = Camden
    identity = council_identity("england")
    from sim.config.council_table import simulated_councils

    chosen = simulated_councils(config.population)
    assert list(chosen["la_name"]) == sorted(["Manchester", "Birmingham", "Camden"], key=lambda n: identity.set_index("la_name").loc[n, "la_code"])
    assert np.all(np.diff(chosen["row"]) > 0)


@pytest.mark.parametrize(("population", "message"), [
    ({"councils": ["Brimingham"]}, "did you mean Birmingham"),
    ({"region": "Northwest"}, "unknown region 'Northwest'; the regions are"),
    ({"councils": ["Leeds"], "region": "London"}, "not both"),
    ({"councils": 5, "region": "North East", "first_council": 10}, "exceeds the 12 councils selected"),
])
def test_unknown_councils_and_regions_are_refused_by_name(population, message) -> None:
    with pytest.raises(ConfigError, match=message):
        _england(population)


def test_all_councils_without_a_table_is_refused() -> None:
    from sim.config import validate_config

    with pytest.raises(ConfigError, match="needs population.council_table"):
        validate_config({"population": {"councils": "all"}})


def test_a_block_of_a_region_is_an_exact_slice_of_the_region_run(north_east) -> None:
    """Experiments split a selection into blocks (first_council, councils within the selection)."""
    _, model = north_east
    block_config = _england({"region": "North East", "first_council": 5, "councils": 2}, scale=0.002)
    block = SendModel(block_config, seed=2).run()
    identity = {"la_code": str, "la_name": str, "region_name": str}
    whole = children_table(model).astype(identity)
    part = children_table(block).astype(identity)
    codes = set(part["la_code"])
    assert len(codes) == 2 and codes <= set(whole["la_code"])
    pd.testing.assert_frame_equal(whole[whole["la_code"].isin(codes)].set_index("child").sort_index(),
                                  part.set_index("child").sort_index())
