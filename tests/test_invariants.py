"""Invariants checked every month of a small run: the model never loses children, never holds
negative queues or capacities, never puts a child in an impossible state, books every pound it
spends exactly once, and never fills a special school beyond the places it has.

One run (two councils, January 2025 to August 2027) is stepped month by month and every check
is made after every step, so a failure names the month where the rule first broke.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.finance_ledger import HIGH_NEEDS, LINE_INDEX
from sim.population.institutions import INDEPENDENT, PRIMARY, SECONDARY, SPECIAL
from sim.population.state import (
    APPEAL_PLACEMENT,
    APPEAL_REFUSAL,
    ASSESSING,
    EHCP,
    IDLE,
    INCLUSION_BASE,
    INDEPENDENT_SPECIAL,
    MAINSTREAM,
    NEET,
    NEVER,
    NONE,
    PLACEMENT_NAMES,
    REQUESTED,
    STATE_SPECIAL,
    ChildArrays,
)

from conftest import build_model

# columns that describe who a child and family are: fixed for life
IDENTITY_COLUMNS = ("council", "key", "entry_year", "fsm", "income_quintile", "advocacy", "family_budget", "trust", "ties")


def _count_by_council(council: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(council[mask], minlength=n)


def cohort_sizes(model) -> np.ndarray:
    """Children per year of entry in each council; the build makes every cohort the same size."""
    ch = model.children
    n = len(model.councils)
    years = np.unique(ch.entry_year)
    table = np.array([np.bincount(ch.council[ch.entry_year == y], minlength=n) for y in years])
    assert np.all(table == table[0]), "every entry cohort of a council should be the same size"
    assert np.all(table[0] > 0)
    return table[0]


class MonthlyChecker:
    """Holds what must be remembered between months, and checks one month at a time."""

    def __init__(self, model) -> None:
        self.model = model
        ch = model.children
        self.identity = {name: getattr(ch, name).copy() for name in IDENTITY_COLUMNS}
        self.n_rows = len(ch)
        self.n_councils = len(model.councils)
        self.cohort = cohort_sizes(model)
        self.deficit = model.councils.deficit.copy()
        self.opening_deficit = model.councils.deficit.copy()
        self.opening_special_overfill = self._special_overfill(model.month)
        self.preschool_special_arrivals = np.zeros(self.n_councils)
        self.months_checked = 0

    # -- helpers ---------------------------------------------------------------------------
    def _slice(self, t: int) -> ChildArrays:
        lo, hi = self.model.on_roll(t)
        return self.model.children.view(lo, hi)

    def _special_occupancy(self, t: int) -> np.ndarray:
        c = self._slice(t)
        return _count_by_council(c.council, (c.placement == STATE_SPECIAL) & (c.year_group <= 13), self.n_councils)

    def _special_overfill(self, t: int) -> np.ndarray:
        return self._special_occupancy(t) - np.floor(self.model.councils.special_places)

    def _base_occupancy(self, t: int) -> np.ndarray:
        c = self._slice(t)
        return np.bincount(c.school[c.placement == INCLUSION_BASE], minlength=len(self.model.schools))

    # -- before / after a step -------------------------------------------------------------
    def before(self) -> None:
        m = self.model
        t = m.month
        self.t = t
        self.special_before = self._special_occupancy(t)
        self.base_before = self._base_occupancy(t)
        self.capacity_before = m.councils.special_places.copy()
        c = self._slice(t)
        # new Reception entrants arriving this September already placed in a special school
        arriving = (c.year_group < 0) & (c.placement == STATE_SPECIAL)
        self.preschool_special_arrivals += _count_by_council(c.council, arriving, self.n_councils)
        self.was_state_special = (c.placement == STATE_SPECIAL).copy()
        self.events_before = {name: m.events.count(name) for name in ("assessment", "mediation", "appeal")}
        self.ep_before = c.ep_hours_received.copy()

    def after(self) -> None:
        m, t = self.model, self.t
        assert m.month == t + 1
        self.check_children_conserved(t)
        self.check_no_negatives(t)
        self.check_pipeline_states(t)
        self.check_placements(t)
        self.check_money(t)
        self.check_special_capacity(t)
        self.check_inclusion_bases(t)
        self.check_ep_time(t)
        self.months_checked += 1

    # -- the invariants --------------------------------------------------------------------
    def check_children_conserved(self, t: int) -> None:
        m = self.model
        ch = m.children
        assert len(ch) == self.n_rows, f"month {t}: rows were added or removed"
        for name in ChildArrays.column_names():
            assert len(getattr(ch, name)) == self.n_rows, f"month {t}: column {name} changed length"
        for name, before in self.identity.items():
            assert np.array_equal(getattr(ch, name), before), f"month {t}: identity column {name} changed"
        assert len(np.unique(ch.key)) == self.n_rows, "child keys must be unique"
        lo, hi = m.on_roll(t)
        c = ch.view(lo, hi)
        # Reception to Year 13: fourteen whole cohorts per council
        on_roll = np.bincount(c.council, minlength=self.n_councils)
        assert np.array_equal(on_roll, 14 * self.cohort), f"month {t}: on roll {on_roll}, expected {14 * self.cohort}"
        for council in range(self.n_councils):
            years = c.year_group[c.council == council]
            assert np.array_equal(np.bincount(years, minlength=14), np.full(14, self.cohort[council])), (
                f"month {t}, council {council}: year groups are not whole cohorts")
        assert np.array_equal(c.year_group, (m.timeline.academic_year(t) - c.entry_year).astype(np.int8))
        # the recorder's pupil count is Reception to Year 11
        assert np.array_equal(m.recorder.system["pupils"][t], 12 * self.cohort)

    def check_no_negatives(self, t: int) -> None:
        m = self.model
        for name, values in m.recorder.system.items():
            if name == "deficit":
                continue  # a council may be in surplus
            assert np.all(np.isfinite(values[t])), f"month {t}: recorder {name} not finite"
            assert np.all(values[t] >= 0), f"month {t}: recorder {name} negative: {values[t]}"
        councils = m.councils
        for name in ("ep_hours_per_month", "decisions_per_month", "special_places", "high_needs_income", "spend_this_year"):
            assert np.all(getattr(councils, name) >= 0), f"month {t}: council {name} negative"
        assert np.all(m.schools.base_places >= 0)
        assert np.all(m.schools.sen_budget >= 0) and np.all(m.schools.sen_spend >= 0) and np.all(m.schools.budget_pressure >= 0)
        ch = m.children
        assert np.all(np.isfinite(ch.severity)) and np.all(ch.severity >= 0), f"month {t}: negative severity"
        assert np.all(ch.support_intensity >= 0), f"month {t}: negative support"
        assert np.all(ch.ep_hours_received >= 0), f"month {t}: negative EP hours received"
        assert np.all(ch.ep_hours_received <= m.config.assessment.ep_hours_per_assessment + 1e-3), (
            f"month {t}: a child received more EP time than an assessment needs")
        for name in ("suspensions", "need_months", "unmet_months", "matched_months", "year_need_months",
                     "year_unmet_months", "year_matched_months", "year_suspensions"):
            assert np.all(getattr(ch, name) >= 0), f"month {t}: {name} negative"
        assert np.all(ch.unmet_months + ch.matched_months == ch.need_months)
        assert np.all(np.isfinite(ch.attainment))

    def check_pipeline_states(self, t: int) -> None:
        ch = self.model.children
        assert np.all(np.isin(ch.pipeline, (IDLE, REQUESTED, ASSESSING, APPEAL_REFUSAL, APPEAL_PLACEMENT)))
        assert np.all(np.isin(ch.support_level, (NONE, 1, 2, EHCP)))
        plan = ch.support_level == EHCP
        stuck = plan & np.isin(ch.pipeline, (REQUESTED, ASSESSING, APPEAL_REFUSAL))
        assert not stuck.any(), (
            f"month {t}: {stuck.sum()} plan holders are also requesting/being assessed/appealing a refusal "
            f"(pipeline {np.bincount(ch.pipeline[stuck], minlength=5)})")
        # a plan holder has a start month; nobody else does
        assert np.all(ch.plan_start_month[plan] != NEVER)
        assert np.all(ch.plan_start_month[~plan] == NEVER)
        c = self._slice(t)
        # assessment bookkeeping: EP advice is only marked done once the hours are in
        done = (c.pipeline == ASSESSING) & (c.ep_done_month != NEVER)
        assert np.all(c.ep_done_month[done] <= t)
        # an open appeal has a hearing date; requests and assessments have a request month
        appealing = np.isin(c.pipeline, (APPEAL_REFUSAL, APPEAL_PLACEMENT))
        assert np.all(c.hearing_month[appealing] != NEVER)
        in_process = np.isin(c.pipeline, (REQUESTED, ASSESSING))
        assert np.all(c.request_month[in_process] != NEVER)
        assert np.all(c.request_month[in_process] <= t)
        # identified support: anyone with support has been identified
        assert np.all(c.identified[c.support_level > NONE])

    def check_placements(self, t: int) -> None:
        m = self.model
        ch = m.children
        assert np.all((ch.placement >= 0) & (ch.placement < len(PLACEMENT_NAMES))), f"month {t}: placement code out of range"
        assert np.all((ch.school >= 0) & (ch.school < len(m.schools)))
        assert np.all((ch.home_school >= 0) & (ch.home_school < len(m.schools)))
        c = self._slice(t)
        phase = m.schools.phase
        # a child's schools belong to its own council
        assert np.array_equal(m.schools.council[c.school], c.council), f"month {t}: a child attends another council's school"
        assert np.array_equal(m.schools.council[c.home_school], c.council)
        school_age = c.year_group <= 11
        home_phase = phase[c.home_school[school_age]]
        expected = np.where(c.year_group[school_age] >= 7, SECONDARY, PRIMARY)
        assert np.array_equal(home_phase, expected), f"month {t}: home school in the wrong phase"
        # the setting matches the school attended
        for code, school_phase in ((STATE_SPECIAL, SPECIAL), (INDEPENDENT_SPECIAL, INDEPENDENT)):
            rows = c.placement == code
            assert np.all(phase[c.school[rows]] == school_phase), f"month {t}: {PLACEMENT_NAMES[code]} pupil not in such a school"
        mainstream = school_age & np.isin(c.placement, (MAINSTREAM, INCLUSION_BASE))
        assert np.array_equal(c.school[mainstream], c.home_school[mainstream]), f"month {t}: mainstream pupil away from home school"
        # inclusion base places are only used where a school has a base
        assert np.all(m.schools.base_places[c.school[c.placement == INCLUSION_BASE]] > 0)
        # post-16 and NEET only from Year 12
        assert np.all(c.year_group[np.isin(c.placement, (NEET,))] >= 12)
        # school-age children in special schools hold a plan
        special = school_age & np.isin(c.placement, (STATE_SPECIAL, INDEPENDENT_SPECIAL))
        assert np.all(c.support_level[special] == EHCP), f"month {t}: {np.sum(c.support_level[special] != EHCP)} special-school pupils without a plan"

    def check_money(self, t: int) -> None:
        m = self.model
        amounts = m.ledger.amounts
        assert np.all(np.isfinite(amounts)) and np.all(amounts >= 0), f"month {t}: negative or non-finite booking"
        assert np.all(amounts[t + 1:] == 0), f"month {t}: money booked in a future month"
        councils = m.councils
        spend = amounts[t][:, HIGH_NEEDS].sum(axis=1)
        income = m.recorder.system["high_needs_income"][t]
        assert np.allclose(income, councils.high_needs_income)
        # finance.update_deficit: deficit_t = deficit_{t-1} + high-needs spend - income / 12
        expected = self.deficit + spend - income / 12
        assert np.allclose(councils.deficit, expected, rtol=1e-12, atol=1e-3), f"month {t}: deficit moved by more than the ledger"
        self.deficit = councils.deficit.copy()
        assert np.allclose(m.recorder.system["deficit"][t], councils.deficit)
        # spend this financial year = the ledger's high-needs spend since April (or the start)
        fy_start = max(0, t - ((m.timeline.calendar(t)[1] - 4) % 12))
        booked_this_year = amounts[fy_start:t + 1][:, :, HIGH_NEEDS].sum(axis=(0, 2))
        assert np.allclose(councils.spend_this_year, booked_this_year, rtol=1e-12, atol=1e-3)
        # transactional lines: each logged event is booked once at its unit cost (inflated)
        f = m.config.finance
        inflation = (1 + f.cost_inflation) ** (t / 12)
        for event, line, unit in (("assessment", "assessment", f.assessment_cost), ("mediation", "mediation", f.mediation_cost),
                                  ("appeal", "tribunal", f.tribunal_cost)):
            new_events = m.events.count(event) - self.events_before[event]
            booked = amounts[t, :, LINE_INDEX[line]].sum()
            assert booked == pytest.approx(new_events * unit * inflation, rel=1e-9, abs=1e-6), (
                f"month {t}: {line} booked £{booked:,.0f} for {new_events} events")
        # standing lines: placements of plan holders this month, at annual rates / 12
        c = self._slice(t)
        k = inflation / 12
        plan = (c.support_level == EHCP) & (c.year_group <= 13) & (c.placement != NEET)
        for code, line, unit in ((STATE_SPECIAL, "state_special", f.state_special_cost),
                                 (INDEPENDENT_SPECIAL, "independent_special", f.independent_special_cost),
                                 (INCLUSION_BASE, "inclusion_base", f.inclusion_base_cost)):
            n = _count_by_council(c.council, plan & (c.placement == code), self.n_councils)
            assert np.allclose(amounts[t, :, LINE_INDEX[line]], n * unit * k, rtol=1e-9), f"month {t}: {line} line does not match places"

    def check_special_capacity(self, t: int) -> None:
        """What sim/processes/placement.py guarantees about state special places.

        Placement decisions (new plans, reviews, tribunal orders) only hand out free places,
        ranked within each council, so a month can only end above floor(places) if it started
        there (opening overfill from the census layout, or Reception entrants who arrived
        holding a special placement). Otherwise occupancy never exceeds the places.
        """
        m = self.model
        occupancy = self._special_occupancy(t)
        places = np.floor(m.councils.special_places)
        assert np.all(occupancy <= np.maximum(places, self.special_before)), (
            f"month {t}: state special occupancy {occupancy} above places {places} and above the {self.special_before} "
            f"already there at the start of the month")
        # if anyone was newly placed in a state special school this month, the council ended within its places
        c = self._slice(t)
        entered = (c.placement == STATE_SPECIAL) & ~self.was_state_special
        newly = _count_by_council(c.council, entered, self.n_councils)
        over = occupancy > places
        assert not np.any(over & (newly > 0)), f"month {t}: {newly} new special placements while over capacity"
        # cumulatively: overfill is bounded by the opening overfill plus preschool arrivals
        bound = np.maximum(self.opening_special_overfill, 0) + self.preschool_special_arrivals
        assert np.all(occupancy - places <= bound), f"month {t}: overfill {occupancy - places} exceeds {bound}"

    def check_ep_time(self, t: int) -> None:
        """EP hours handed out in a month never exceed the council's EP capacity, and none are
        left idle while children who were in the queue at allocation still wait for advice."""
        m = self.model
        c = self._slice(t)
        served_by_child = np.maximum(c.ep_hours_received - self.ep_before, 0.0).astype(np.float64)
        served = np.bincount(c.council, weights=served_by_child, minlength=self.n_councils)
        capacity = m.councils.ep_hours_per_month + m.councils.ep_locum_hours  # own plus bought-in time
        assert np.all(served <= capacity * (1 + 1e-4) + 1e-3), f"month {t}: EP hours served {served} above capacity {capacity}"
        heard = m.events.frame("tribunal_outcome")
        heard_now = heard.loc[heard["month"] == t, "row"].to_numpy() - m.on_roll(t)[0]
        waiting = (c.pipeline == ASSESSING) & (c.ep_done_month == NEVER)
        waiting[heard_now] = False  # joined the queue after this month's EP time was allocated
        still_queued = _count_by_council(c.council, waiting, self.n_councils) > 0
        assert np.allclose(served[still_queued], capacity[still_queued], rtol=1e-4), (
            f"month {t}: EP time left idle ({served} of {capacity}) while children wait")

    def check_inclusion_bases(self, t: int) -> None:
        """Bases are filled only up to their places (the opening layout may start over)."""
        occupancy = self._base_occupancy(t)
        places = self.model.schools.base_places
        assert np.all(occupancy <= np.maximum(places, self.base_before)), f"month {t}: an inclusion base was overfilled"


@pytest.fixture(scope="module")
def checked_run():
    model = build_model()
    checker = MonthlyChecker(model)
    failures = []
    while not model.finished:
        checker.before()
        model.step()
        try:
            checker.after()
        except AssertionError as exc:  # keep stepping: report every broken month, first one first
            failures.append(exc)
    return model, checker, failures


def test_every_month_keeps_all_invariants(checked_run) -> None:
    model, checker, failures = checked_run
    assert checker.months_checked == model.n_months - len(failures)
    if failures:
        messages = sorted({str(f).splitlines()[0] for f in failures})
        raise AssertionError(f"{len(failures)} of {model.n_months} months broke an invariant; first: {failures[0]}\n"
                             + "\n".join(messages[:20]))


@pytest.mark.parametrize("check", [
    "check_children_conserved", "check_no_negatives", "check_pipeline_states", "check_placements",
    "check_money", "check_special_capacity", "check_inclusion_bases", "check_ep_time",
])
def test_each_invariant_holds_every_month(check: str) -> None:
    """The same checks, one at a time, so a failure report names which rule broke."""
    model = build_model()
    checker = MonthlyChecker(model)
    while not model.finished:
        checker.before()
        model.step()
        getattr(checker, check)(checker.t)


def test_children_are_conserved_across_the_run(finished_model) -> None:
    """Every child ever on roll is one row for the whole run, whatever happened to them."""
    m = finished_model
    ch = m.children
    cohort = cohort_sizes(m)
    # Reception to Year 11 (the census pupils) are the configured pupils, up to rounding to whole cohorts
    pupils = m.config.population.pupils_per_council * m.config.population.scale
    assert np.all(np.abs(12 * cohort - pupils) < 12)
    assert np.all(np.diff(ch.entry_year) >= 0), "rows must stay ordered by entry year (on-roll slices are contiguous)"
    # every cohort on roll at some point in the run is there (a cohort due in the September after
    # the end may be built too), with no gaps between cohorts
    first, last = m.timeline.academic_year(0) - 13, m.timeline.academic_year(m.n_months - 1)
    built = np.unique(ch.entry_year)
    assert built[0] == first and built[-1] >= last and np.all(np.diff(built) == 1)
    assert built[-1] <= m.timeline.calendar(m.n_months - 1)[0]


def test_deficit_equals_opening_deficit_plus_ledger_spend_less_income(finished_model, config) -> None:
    """Over the whole run: deficit_t = deficit_0 + sum(high-needs spend) - sum(income / 12)."""
    m = finished_model
    spend = m.ledger.amounts[:, :, HIGH_NEEDS].sum(axis=2)
    income = m.recorder.system["high_needs_income"]
    opening = config.finance.opening_deficit_share * config.finance.high_needs_income_per_pupil * np.asarray(m.councils.pupils)
    expected = opening + np.cumsum(spend - income / 12, axis=0)
    assert np.allclose(m.recorder.system["deficit"], expected, rtol=1e-10)
    assert np.allclose(m.councils.deficit, expected[-1], rtol=1e-10)
    # income rises only in April, by the configured uplift
    months = np.array([m.timeline.calendar(t)[1] for t in range(m.n_months)])
    ratio = income[1:] / income[:-1]
    april = months[1:] == 4
    assert np.allclose(ratio[april], 1 + config.finance.high_needs_income_growth)
    assert np.allclose(ratio[~april], 1.0)


def test_ledger_books_only_known_lines_and_holders(finished_model) -> None:
    frame = finished_model.ledger.frame(finished_model.timeline)
    assert set(frame["budget_holder"]) <= {"school", "council_high_needs", "council_general_fund", "central_reform"}
    assert frame["amount"].ge(0).all()
    # the EHCP route books nothing to the reform's central budget
    assert frame.loc[frame["budget_holder"] == "central_reform", "amount"].sum() == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_invariants_hold_to_the_default_horizon(seed: int) -> None:
    """Past the end of the statutory override (March 2028) and through eleven Septembers."""
    model = build_model(seed=seed, councils=1, pupils=3000, end="2036-08")
    checker = MonthlyChecker(model)
    while not model.finished:
        checker.before()
        model.step()
        checker.after()
    assert checker.months_checked == model.n_months


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_invariants_hold_for_larger_councils_over_the_default_horizon(seed: int) -> None:
    model = build_model(seed=seed, councils=2, pupils=30000, end="2036-08")
    checker = MonthlyChecker(model)
    while not model.finished:
        checker.before()
        model.step()
        checker.after()


def test_everyone_in_a_special_school_holds_a_plan(finished_model) -> None:
    m = finished_model
    lo, hi = m.on_roll(m.n_months - 1)
    c = m.children.view(lo, hi)
    special = np.isin(c.placement, (STATE_SPECIAL, INDEPENDENT_SPECIAL))
    assert np.all(c.support_level[special] == EHCP)


def test_every_occupied_state_special_place_is_paid_for(finished_model) -> None:
    m = finished_model
    t = m.n_months - 1
    lo, hi = m.on_roll(t)
    c = m.children.view(lo, hi)
    occupied = np.bincount(c.council[(c.placement == STATE_SPECIAL) & (c.year_group <= 13)], minlength=len(m.councils))
    k = (1 + m.config.finance.cost_inflation) ** (t / 12) / 12
    paid_places = m.ledger.amounts[t, :, LINE_INDEX["state_special"]] / (m.config.finance.state_special_cost * k)
    assert np.allclose(paid_places, occupied)
