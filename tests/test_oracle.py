"""The vectorised EHCP pipeline against the object-per-agent oracle: identical results on the same draws.

Both start from the same start population and seed and run the same stages (identification,
SEN support, requests, decisions, EP advice, plans issued and settings named; `sim/oracle/pipeline.py`).
After every month the child state the pipeline touches must be equal bit for bit, and so must
the month's events: who was identified, who requested (and whether the parent did), every
decision (refused or not, and the weeks it took), EP advice, completed assessments, plans issued
and the setting named in each.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.schema import ScenarioConfig
from sim.oracle.agents import ChildAgent
from sim.oracle.draws import KeyedDraws
from sim.oracle.model import OracleModel
from sim.oracle.pipeline import PIPELINE_COLUMNS, PIPELINE_EVENTS, PipelineModel
from sim.population.state import EHCP, MAINSTREAM, REQUESTED
from sim.random_streams import RandomStreams, child_key

SEED = 20250101


def pipeline_config(councils: int, scale: float, months: int, overrides: dict | None = None) -> ScenarioConfig:
    """`councils` councils of 60,000 x `scale` pupils, from January 2025 for `months` months."""
    year, month = 2025 + (months - 1) // 12, (months - 1) % 12 + 1
    data = {"population": {"councils": councils, "pupils_per_council": 60000, "scale": scale}, "run": {"end": f"{year}-{month:02d}"}}
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    return ScenarioConfig.model_validate(data)


def state_differences(vectorised: PipelineModel, oracle: OracleModel) -> list[str]:
    """Columns where some child's state differs between the two (with the first differing rows), and
    the school and council state the pipeline sets (budget pressure, bought-in EP hours)."""
    differences = []
    for column in PIPELINE_COLUMNS:
        arrays = getattr(vectorised.children, column)
        agents = np.array([getattr(child, column) for child in oracle.children], dtype=arrays.dtype)
        rows = np.flatnonzero(arrays != agents)
        if len(rows):
            differences.append(f"{column}: {len(rows)} children differ, rows {rows[:5].tolist()}")
    if not np.array_equal(vectorised.schools.budget_pressure, [school.budget_pressure for school in oracle.schools]):
        differences.append("schools' budget pressure")
    if not np.array_equal(vectorised.councils.ep_locum_hours, [council.ep_locum_hours for council in oracle.councils]):
        differences.append("councils' bought-in EP hours")
    return differences


def event_differences(vectorised: PipelineModel, oracle: OracleModel, t: int) -> list[str]:
    """Event logs of month `t` that differ (rows, or any of the event's columns)."""
    differences = []
    for name, columns in PIPELINE_EVENTS.items():
        mine = vectorised.events.frame(name)
        mine = mine[mine["month"] == t].sort_values("row", kind="stable").reset_index(drop=True)
        theirs = oracle.frame(name)
        theirs = theirs[theirs["month"] == t].reset_index(drop=True)
        if len(mine) != len(theirs) or not np.array_equal(mine["row"].to_numpy(), theirs["row"].to_numpy()):
            differences.append(f"{name} in month {t}: {len(mine)} vectorised vs {len(theirs)} oracle events")
            continue
        for column in columns if len(mine) else ():  # an empty log has no event columns
            expected = mine[column].to_numpy()
            if not np.array_equal(expected, theirs[column].to_numpy().astype(expected.dtype)):
                differences.append(f"{name}.{column} in month {t}")
    return differences


def run_side_by_side(config: ScenarioConfig, months: int) -> tuple[PipelineModel, OracleModel]:
    """Step both month by month, failing at the first month they differ."""
    vectorised = PipelineModel(config, seed=SEED)
    oracle = OracleModel(vectorised)
    assert not state_differences(vectorised, oracle), "the oracle must start from the same state"
    for t in range(months):
        vectorised.step()
        oracle.step()
        differences = state_differences(vectorised, oracle) + event_differences(vectorised, oracle, t)
        assert not differences, f"month {t}: " + "; ".join(differences)
    return vectorised, oracle


def assert_pipeline_exercised(oracle: OracleModel) -> None:
    """Equality would be empty if nothing happened: every stage must have acted, both ways."""
    counts = {name: len(oracle.frame(name)) for name in PIPELINE_EVENTS}
    for name in ("identified", "request", "decision", "ep_advice", "assessment", "plan_issued", "placement"):
        assert counts[name] > 0, f"no {name} events: {counts}"
    requests, decisions, assessments = oracle.frame("request"), oracle.frame("decision"), oracle.frame("assessment")
    assert requests["by_parent"].any() and not requests["by_parent"].all()
    assert decisions["refused"].any() and not decisions["refused"].all()
    assert assessments["plan"].any()
    placements = oracle.frame("placement")
    assert (placements["placement"] == MAINSTREAM).any() and (placements["placement"] != MAINSTREAM).any()


def test_keyed_draws_reproduce_random_streams():
    streams = RandomStreams(SEED)
    draws = KeyedDraws(streams)
    rng = np.random.default_rng(1)
    keys = child_key(rng.integers(0, 400, 2000).astype(np.int16), rng.integers(0, 2**31, 2000))
    keys = np.concatenate([keys, np.array([0, 2**64 - 1, 2**64 - 3], dtype=np.uint64)])  # incl. a wrapped negative month
    for process, month, draw in (
        ("identification", 0, 0),
        ("request-who", 17, 0),
        ("advice-class", 0, 0),
        ("placement-preference", 140, 2),
    ):
        expected = streams.uniform(process, month, keys, draw)
        got = np.array([draws.uniform(process, month, int(key), draw) for key in keys])
        assert np.array_equal(expected, got), process


def test_oracle_needs_an_unstepped_model():
    vectorised = PipelineModel(pipeline_config(1, 0.02, 2), seed=SEED)
    vectorised.step()
    with pytest.raises(ValueError, match="unstepped"):
        OracleModel(vectorised)


@pytest.mark.parametrize("councils, scale", [(1, 0.1), (2, 0.05)], ids=["one-council", "two-councils"])
def test_oracle_matches_vectorised_pipeline(councils, scale):
    """A year (across a September, when the children on roll change) of identical months."""
    _, oracle = run_side_by_side(pipeline_config(councils, scale, 12), 12)
    assert_pipeline_exercised(oracle)


def test_oracle_matches_under_rationing():
    """A panel and EP service far short of demand, EP time by severity: queue order decides who is
    served, and the carried fraction of panel capacity and bought-in EP time are exercised."""
    overrides = {
        "decision": {"decisions_per_month_per_1000_pupils": 0.7},
        "assessment": {"ep_hours_per_month_per_1000_pupils": 8.0, "priority": "severity", "ep_locum_max_share": 0.3},
    }
    vectorised, oracle = run_side_by_side(pipeline_config(2, 0.05, 10, overrides), 10)
    assert_pipeline_exercised(oracle)
    c = vectorised.children
    assert ((c.pipeline == REQUESTED) & (c.pipeline_since < vectorised.month - 2)).any(), "the panel never rationed"
    partly = (c.ep_hours_received > 0) & (c.ep_hours_received < vectorised.config.assessment.ep_hours_per_assessment)
    assert partly.any(), "EP time never ran out mid-assessment"
    assert (vectorised.councils.ep_locum_hours > 0).any(), "no council bought in EP time"
    assert (c.support_level == EHCP).sum() > 0


def test_comparison_detects_a_changed_rule(monkeypatch):
    """The comparison is not vacuous: refusing five percentage points more often in the oracle is caught."""
    original = ChildAgent.refusal_probability
    monkeypatch.setattr(ChildAgent, "refusal_probability", lambda self: min(original(self) + 0.05, 1.0))
    with pytest.raises(AssertionError, match="decision"):
        run_side_by_side(pipeline_config(1, 0.1, 12), 12)


@pytest.mark.slow
def test_oracle_matches_vectorised_pipeline_for_two_years():
    """Three councils of 12,000 pupils over two years (two Septembers)."""
    _, oracle = run_side_by_side(pipeline_config(3, 0.2, 24), 24)
    assert_pipeline_exercised(oracle)
