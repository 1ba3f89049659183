"""The month as a plan of named stages: order, calendar, the reform's switch, timing, `sendsim plan`."""

from __future__ import annotations

from typer.testing import CliRunner

from sim.cli import app
from sim.population.institutions import PRIMARY, SECONDARY

from conftest import build_model


def names(stages) -> list[str]:
    return [stage.name for stage in stages]


def test_each_stage_runs_once_in_each_month_it_applies_to() -> None:
    model = build_model(councils=1, pupils=3000).run()
    months = model.n_months
    septembers = sum(model.timeline.calendar(t)[1] == 9 for t in range(months))
    aprils_after_start = sum(model.timeline.calendar(t)[1] == 4 for t in range(1, months))
    assert model.timer.calls["need onset, growth and resolution"] == months
    assert model.timer.calls["identification by the school"] == months
    assert model.timer.calls["year rollover, phase transfers and their reviews"] == septembers
    assert model.timer.calls["new financial year"] == aprils_after_start
    assert all(seconds >= 0 for seconds in model.timer.seconds.values())


def test_school_led_support_is_set_before_families_decide_to_request_and_outcomes_follow_the_route() -> None:
    model = build_model(councils=1, pupils=3000)
    order = names(model.stages(model.context()))
    assert order.index("need onset, growth and resolution") < order.index("identification by the school")
    assert order.index("identification by the school") < order.index("SEN support within the notional SEN budget")
    assert order.index("SEN support within the notional SEN budget") < order.index("requests for an EHC needs assessment")
    assert order.index("annual reviews of plans") < order.index("attainment progress")
    assert order[-2:] == ["monthly system counts", "calendar-year accumulators closed"]


def test_the_tiered_route_swaps_its_plan_at_the_legal_switch() -> None:
    model = build_model({"run": {"route": "tiered"}}, councils=1, pupils=3000, end="2030-08")
    route = model.route
    switch = route.transition.switch
    model.month = switch - 1
    before = names(route.stages(model.context()))
    model.month = switch
    after = names(route.stages(model.context()))
    assert "requests for an EHC needs assessment (anticipation surge)" in before
    assert "referrals for specialist assessment" not in before
    assert "referrals for specialist assessment" in after
    assert not any(name.startswith("requests for an EHC needs assessment") for name in after)


def test_school_groups_exist_as_soon_as_the_population_is_built() -> None:
    model = build_model(councils=2, pupils=3000)
    mainstream = (model.schools.phase == PRIMARY) | (model.schools.phase == SECONDARY)
    assert (model.schools.group[mainstream] >= 0).all()
    assert (model.schools.group[~mainstream] == -1).all()


def test_sendsim_plan_prints_both_plans_of_a_reform_with_times(tmp_path) -> None:
    config = tmp_path / "reform.yaml"
    config.write_text("extends: " + str((__import__("pathlib").Path(__file__).resolve().parents[1] / "configs" / "reform_white_paper.yaml"))
                      + "\npopulation: {scale: 0.05}\n")
    result = CliRunner().invoke(app, ["plan", str(config), "--end", "2030-01"])
    assert result.exit_code == 0, result.output
    assert "(from the start)" in result.output and "(after the switch)" in result.output
    assert "referrals for" in result.output  # (the table may wrap the rest of the name)
    assert "stepped in" in result.output
