"""Behavioural numbers that used to be written in the code are parameters, and each one acts.

Why: a number in the code is invisible to sensitivity analysis and to a reader of
docs/PARAMETERS.md. Each test sets one of them away from its default and checks the rule follows
it (so a parameter cannot be declared and then silently ignored). Defaults equal the values the
code had, so results at the same seed did not move (the golden test checks that).
"""

from __future__ import annotations

import numpy as np

from sim.population.state import ASSESSING, SEN_SUPPORT
from sim.processes import disputes, outcomes, requests

from conftest import build_model


def _school_age(ctx, n: int) -> np.ndarray:
    rows = np.flatnonzero(ctx.c.year_group <= 11)[:n]
    assert len(rows) == n
    return rows


def test_appeal_probability_never_exceeds_its_cap() -> None:
    for cap in (0.95, 0.2):
        ctx = build_model({"disputes": {"appeal_probability_cap": cap}}).context()
        rows = _school_age(ctx, 300)
        ctx.c.advocacy[rows] = 1.0
        ctx.councils.appeal_multiplier[:] = 1000.0  # channels far beyond any cap
        p = disputes.appeal_probability(ctx, rows, "refusal_to_assess")
        assert p.max() == np.float64(cap)  # strong channels hit the cap, and not beyond


def test_neet_probability_cap_bounds_the_share_neet() -> None:
    ctx = build_model({"outcomes": {"neet_probability_cap": 0.0, "neet_base": 0.9}}).context()
    rows = _school_age(ctx, 2000)
    outcomes.neet_at_16(ctx, rows)
    assert not ctx.c.neet[rows].any()
    ctx = build_model({"outcomes": {"neet_base": 0.9, "neet_fsm_multiplier": 10.0, "neet_no_ks4_multiplier": 10.0}}).context()
    outcomes.neet_at_16(ctx, rows)
    share, cap = ctx.c.neet[rows].mean(), ctx.config.outcomes.neet_probability_cap
    assert abs(share - cap) < 4 * np.sqrt(cap * (1 - cap) / len(rows))  # the default cap binds for everyone


def test_school_requests_stop_rising_at_the_budget_pressure_cap() -> None:
    ctx = build_model({"requests": {"budget_pressure_cap": 1.0}}).context()
    rows = _school_age(ctx, 200)
    ctx.c.support_level[rows] = SEN_SUPPORT
    ctx.c.support_since[rows] = ctx.t - 100
    ctx.c.severity[rows] = 1.0
    school = ctx.c.school[rows]
    ctx.schools.budget_pressure[school] = 2.0  # overstretched by exactly the cap
    at_cap, _ = requests.hazards(ctx, rows)
    ctx.schools.budget_pressure[school] = 6.0
    beyond, _ = requests.hazards(ctx, rows)
    assert at_cap.min() > 0
    np.testing.assert_array_equal(at_cap, beyond)


def test_assessments_in_flight_at_the_start_follow_their_parameters() -> None:
    model = build_model({"census": {"in_flight_max_wait_months": 3, "in_flight_parent_request_share": 1.0}})
    c = model.children
    in_flight = c.pipeline == ASSESSING
    assert in_flight.sum() > 20
    assert c.request_month[in_flight].min() >= -3
    assert c.request_by_parent[in_flight].all()
    default = build_model().children
    assert default.request_month[default.pipeline == ASSESSING].min() < -3  # the default allows long waits
