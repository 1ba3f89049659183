"""Children, schools and councils as Mesa agents, each rule of the EHCP pipeline written for one object.

These are the rules of `sim/processes/identification.py`, `support.py`, `requests.py`,
`family.py` (private reports), `decisions.py` and `assessment.py`, restated one child (or one
council) at a time in plain Python, so that a reader can check them line by line against the
statute-shaped story of the route, and the tests can check the vectorised processes against them.

Reproducing the vectorised arithmetic exactly needs three kinds of care, each marked where used:

- **float32 state.** Severity, advocacy, trust, support intensity, EP hours and the request
  fraction are float32 columns, and numpy computes an expression in float32 when it combines a
  float32 column with a Python number (NEP 50: a Python float does not widen the array). So
  `0.7 * severity` is a float32 product, and `severity < 0.3` compares with float32(0.3). The
  oracle stores the exact float32 values as Python floats and rounds with `f32()` wherever numpy
  would compute in float32 (+, -, *, / of two float32 values rounded once to float32 are exact,
  so computing in float64 and rounding gives the same bits).
- **float32 transcendental functions.** `np.exp` and `np.power` on float32 arrays use numpy's own
  vectorised routines, which are not correctly rounded (they differ from `math.exp` in the last
  bit for a large share of arguments). `exp32`/`pow32` call the same numpy routines on one value,
  which give the same bits as on an array; float64 terms use `math`, whose last-bit differences
  from numpy's routines (about 1e-16 relative) cannot change a comparison with a uniform draw in
  any realistic run.
- **Queue order.** Councils rank waiting requests by `request_month + request_fraction` in float32
  (int16 plus float32) for the decision panel but in float64 for EP time, and break ties by row
  (numpy's lexsort is stable); the oracle sorts on the same keys.
"""

from __future__ import annotations

import math
import struct

import mesa
import numpy as np

from sim.population.build import LATE_TYPES
from sim.population.state import (
    ASSESSING,
    EHCP,
    IDLE,
    INCLUSION_BASE,
    INDEPENDENT_SPECIAL,
    MAINSTREAM,
    NEVER,
    NONE,
    REQUESTED,
    SEN_SUPPORT,
    STATE_SPECIAL,
    TARGETED_PLUS,
)
from sim.population.year_groups import YEAR_6, YEAR_11
from sim.timeline import WEEKS_PER_MONTH

NEVER_MONTH = int(NEVER)
UINT64 = 1 << 64
_FLOAT32 = struct.Struct("f")


def f32(x: float) -> float:
    """Round to the nearest float32 (what numpy stores, or computes, for a float32 column).

    Through `struct` (a C cast, round to nearest, as numpy's) rather than `np.float32`, which costs
    twice as much per call: the oracle should be timed as plain Python, not as numpy scalars."""
    return _FLOAT32.unpack(_FLOAT32.pack(x))[0]


def exp32(x: float) -> float:
    """numpy's float32 exp of one value: the same bits it gives inside a float32 array."""
    return float(np.exp(np.float32(x)))


def pow32(base: float, exponent: float) -> float:
    """numpy's float32 power (the exponent is a Python float, so numpy makes it float32 too)."""
    return float(np.power(np.float32(base), np.float32(exponent)))


def severity_term(severity: float, elasticity: float) -> float:
    """max(severity, 0.001) ** elasticity, as numpy computes it for a float32 severity column."""
    return pow32(max(severity, f32(1e-3)), elasticity)


class SchoolAgent(mesa.Agent):
    """A school: what its notional SEN budget can give the children it supports this month."""

    def __init__(
        self,
        model: mesa.Model,
        index: int,
        council: int,
        inclusiveness: float,
        expertise: float,
        fsm_share: float,
        sen_budget: float,
        budget_pressure: float,
        phase: int,
        base_places: int,
    ) -> None:
        super().__init__(model)
        self.index = index
        self.council = council
        self.phase = phase
        self.base_places = base_places
        self.inclusiveness = inclusiveness
        self.expertise = expertise
        self.fsm_share = fsm_share
        self.sen_budget = sen_budget
        self.budget_pressure = budget_pressure
        self.demand = 0.0  # £ a year of support its children want this month

    def set_budget_pressure(self) -> None:
        """Demand over the notional SEN budget; schools without one (special, independent) feel none."""
        self.budget_pressure = self.demand / max(self.sen_budget, 1.0) if self.sen_budget > 0 else 0.0


class CouncilAgent(mesa.Agent):
    """A council: its decision panel and its educational psychologists, each a queue in arrival order."""

    def __init__(
        self,
        model: mesa.Model,
        index: int,
        decisions_per_month: float,
        ep_hours_per_month: float,
        gatekeeping: float,
        request_multiplier: float,
        advice_speed: float,
        special_places: float,
    ) -> None:
        super().__init__(model)
        self.index = index
        self.special_places = special_places
        self.decisions_per_month = decisions_per_month
        self.ep_hours_per_month = ep_hours_per_month
        self.gatekeeping = gatekeeping
        self.request_multiplier = request_multiplier
        self.advice_speed = advice_speed
        self.ep_locum_hours = 0.0

    def panel_capacity(self, t: int) -> int:
        """Whole decisions this month, carrying the fraction from month to month."""
        return math.floor(self.decisions_per_month * (t + 1)) - math.floor(self.decisions_per_month * t)

    def decide(self, waiting: list[ChildAgent], t: int) -> None:
        """The panel decides the earliest requests (float32 arrival time, then row) up to its capacity."""
        waiting = sorted(waiting, key=lambda child: (f32(child.request_month + child.request_fraction), child.row))
        for child in waiting[: max(self.panel_capacity(t), 0)]:
            child.receive_decision(t)

    def locum_hours(self, backlog_hours: float) -> float:
        """EP hours bought in when the backlog exceeds what own EPs clear in the tolerated months."""
        a = self.model.config.assessment
        own = self.ep_hours_per_month
        return min(max(backlog_hours - a.ep_backlog_tolerance_months * own, 0.0), a.ep_locum_max_share * own)


class ChildAgent(mesa.Agent):
    """One child and family: the state the EHCP pipeline reads and writes, and its per-child rules."""

    def __init__(self, model: mesa.Model, row: int, state: dict) -> None:
        super().__init__(model)
        self.row = row
        self.on_roll = False
        self.__dict__.update(state)

    # -- identification -------------------------------------------------------------------------
    def identification_probability(self) -> float:
        """Monthly chance the school notices the need (the hazard of `identification.py`)."""
        p, school = self.model.config.identification, self.model.schools[self.home_school]
        late = self.need_type in LATE_TYPES and self.year_group <= YEAR_6
        age = p.age_profile[min(max(self.year_group, 0), len(p.age_profile) - 1)]
        rate = p.monthly_rate * age * severity_term(self.severity, p.severity_elasticity)  # float64: the age profile is a float64 array
        rate = (
            rate
            * (p.late_types_multiplier if late else 1.0)
            * school.inclusiveness
            * (p.expertise_floor + school.expertise + 0.0)
            * exp32(f32(f32(p.advocacy_effect) * f32(self.advocacy - 0.5)))
            * math.exp(-p.deprived_school_under_identification * (school.fsm_share - self.model.config.population.fsm_share))
        )
        return 1.0 - math.exp(-rate)

    def maybe_identified(self, t: int) -> bool:
        """An unidentified need may be noticed; the child then starts on SEN support."""
        if not (self.severity > 0 and not self.identified and self.year_group <= YEAR_11):
            return False
        if self.model.draws.uniform("identification", t, self.key) >= self.identification_probability():
            return False
        self.identified = True
        if self.support_level == NONE:
            self.support_level = SEN_SUPPORT
            self.support_since = t
        return True

    def maybe_support_ends(self, t: int) -> bool:
        """At the support review closing each cycle, SEN support ends if the need has (nearly) resolved."""
        if self.support_level != SEN_SUPPORT:
            return False
        cycle = self.model.config.requests.review_cycle_months
        removal = f32(self.model.config.identification.removal_severity)  # compared in float32
        if not (self.severity < removal and (t - self.support_since) % cycle == cycle - 1):
            return False
        self.support_level = NONE
        self.isp = False
        self.identified = self.severity > 0
        return True

    def maybe_support_restarts(self, t: int) -> bool:
        """At the same review, a need the school still knows that has grown back above the
        removal threshold goes back on SEN support."""
        if not (self.identified and self.support_level == NONE and self.year_group <= YEAR_11):
            return False
        cycle = self.model.config.requests.review_cycle_months
        removal = f32(self.model.config.identification.removal_severity)  # compared in float32
        if not (self.severity >= removal and (t - self.support_since) % cycle == cycle - 1):
            return False
        self.support_level = SEN_SUPPORT
        self.support_since = t
        return True

    # -- support --------------------------------------------------------------------------------
    def school_age(self) -> bool:
        return self.year_group <= YEAR_11

    def wants_school_led_support(self, t: int) -> bool:
        lapsed = self.support_resume_month != NEVER_MONTH and self.support_resume_month > t
        return self.school_age() and not lapsed and self.support_level in (SEN_SUPPORT, TARGETED_PLUS)

    def wanted_support(self) -> float:
        """Support wanted from the school: the need, up to what the school's expertise can give."""
        ceiling = self.model.config.sen_support.max_intensity * self.model.schools[self.school].expertise
        return min(self.severity, ceiling)

    def plan_in_mainstream(self) -> bool:
        return self.school_age() and self.support_level == EHCP and self.placement in (MAINSTREAM, INCLUSION_BASE)

    def plan_capacity(self) -> float:
        """Most support a plan can deliver in the child's setting (float32, plus provision won on appeal)."""
        s = self.model.config.sen_support
        if self.placement in (STATE_SPECIAL, INDEPENDENT_SPECIAL):
            return math.inf
        cap = s.inclusion_base_max_intensity if self.placement == INCLUSION_BASE else s.plan_mainstream_max_intensity
        return f32(f32(cap) + self.plan_uplift)

    def unmet(self) -> bool:
        """Support below `sen_support.match_fraction` of the need (float32, as `support.is_matched`)."""
        return self.support_intensity < f32(f32(self.model.config.sen_support.match_fraction) * self.severity)

    # -- requests -------------------------------------------------------------------------------
    def may_request(self, t: int) -> bool:
        r = self.model.config.requests
        cooled = self.last_refusal_month == NEVER_MONTH or t - self.last_refusal_month >= r.cooldown_months
        return self.year_group <= YEAR_11 and self.severity > 0 and self.support_level < EHCP and self.pipeline == IDLE and cooled

    def peer_plan_share(self) -> float:
        """Share of the families this family knows whose child, on roll, holds a plan."""
        children = self.model.children
        with_plan = sum(1 for row in self.ties if children[row].on_roll and children[row].support_level == EHCP)
        return with_plan / max(len(self.ties), 1)

    def request_hazards(self, t: int, parent_strength: float = 1.0) -> tuple[float, float]:
        """Monthly request hazards (school, parent), as `requests.hazards`."""
        model, r = self.model, self.model.config.requests
        unmet = self.unmet()
        common = (
            severity_term(self.severity, r.severity_elasticity)
            * math.exp(r.unmet_effect * unmet)
            * model.propensity_trend(t)
            * model.anticipation(t)
            * model.closure(t)
            * model.councils[self.council].request_multiplier
            * r.age_profile[min(max(self.year_group, 0), len(r.age_profile) - 1)]
        )
        ready = (
            self.support_level == SEN_SUPPORT and t - self.support_since >= r.review_cycles_before_school_request * r.review_cycle_months
        )
        pressure = min(max(model.schools[self.school].budget_pressure - 1.0, 0.0), r.budget_pressure_cap)  # overstretch beyond the cap adds nothing
        school = r.school_monthly_rate * common * math.exp(r.budget_pressure_effect * pressure) if ready else 0.0
        parent = (
            r.parent_monthly_rate
            * common
            * exp32(f32(f32(parent_strength * r.advocacy_effect) * f32(self.advocacy - 0.5)))
            * math.exp(r.private_report_effect * self.private_report)
            * exp32(f32(f32(r.trust_effect) * f32(0.5 - self.trust)))
            * math.exp(r.peer_effect * self.peer_plan_share())
        )
        return school, parent

    def maybe_request(self, t: int) -> bool:
        """The school or the parent may request an EHC needs assessment; the draw says who."""
        if not self.may_request(t):
            return False
        draws = self.model.draws
        school, parent = self.request_hazards(t)
        total = school + parent
        if draws.uniform("request", t, self.key) >= 1.0 - math.exp(-total):
            return False
        by_parent = draws.uniform("request-who", t, self.key) < parent / max(total, 1e-12)
        self.pipeline = REQUESTED
        self.pipeline_since = t
        self.request_month = t
        self.request_fraction = f32(draws.uniform("request-when", t, self.key))
        self.request_by_parent = by_parent
        self.ep_hours_received = 0.0
        self.ep_done_month = NEVER_MONTH
        self.model.log("request", t, self.row, by_parent=by_parent)
        if by_parent:
            self.maybe_buy_report(t)
        return True

    def budget_left(self) -> float:
        """The family's SEND budget minus what it has spent (float32 sums, as the columns)."""
        spent = f32(f32(self.spent_reports + self.spent_representation) + self.spent_tutoring)
        return f32(self.family_budget - spent)

    def maybe_buy_report(self, t: int) -> None:
        """A requesting parent buys a private report if the family can afford one and is motivated."""
        f = self.model.config.family
        if self.private_report or not self.budget_left() >= f32(f.private_report_cost):
            return
        if self.model.draws.uniform("family-report", t, self.key) >= f32(f32(f.report_purchase_at_full_advocacy) * self.advocacy):
            return
        self.private_report = True
        self.private_reports_bought = min(self.private_reports_bought + 1, 127)
        self.spent_reports = f32(self.spent_reports + f32(f.private_report_cost))
        self.model.log("private_report", t, self.row)

    # -- decision -------------------------------------------------------------------------------
    def refusal_probability(self) -> float:
        """Refusal to assess: likelier for parent requests and under gatekeeping, less with stronger evidence."""
        d = self.model.config.decision
        parent = self.request_by_parent
        logit = f32(f32(d.refusal_intercept) + f32(f32(d.severity_effect) * f32(self.severity - 1.0)))  # float32 sum
        logit = (
            logit
            + d.parent_request_effect * parent
            + d.private_report_effect * (parent and self.private_report)
            + d.gatekeeping_effect * self.model.councils[self.council].gatekeeping
        )
        return 1.0 / (1.0 + math.exp(-logit))

    def receive_decision(self, t: int) -> None:
        refused = self.model.draws.uniform("decision", t, self.key) < self.refusal_probability()
        weeks = f32((t + 0.5 - self.request_month - self.request_fraction) * WEEKS_PER_MONTH)
        self.model.log("decision", t, self.row, refused=refused, weeks=weeks, by_parent=self.request_by_parent)
        if refused:
            self.pipeline = IDLE
            self.last_refusal_month = t
        else:
            self.pipeline = ASSESSING
            self.pipeline_since = t

    # -- assessment -----------------------------------------------------------------------------
    def waiting_for_ep(self) -> bool:
        return self.pipeline == ASSESSING and self.ep_done_month == NEVER_MONTH

    def ep_hours_remaining(self) -> float:
        return max(f32(self.model.config.assessment.ep_hours_per_assessment - self.ep_hours_received), 0.0)

    def receive_ep_hours(self, hours: float, t: int) -> None:
        a = self.model.config.assessment
        self.ep_hours_received = f32(self.ep_hours_received + f32(hours))
        if self.ep_hours_received >= f32(a.ep_hours_per_assessment - 1e-6):  # compared in float32
            self.ep_done_month = t
            self.model.log("ep_advice", t, self.row)

    def plan_probability(self) -> float:
        a = self.model.config.assessment
        mild = self.severity < f32(self.model.config.reviews.plan_needs_met_severity)
        base = a.plan_issued_probability * a.mild_need_plan_ratio if mild else a.plan_issued_probability
        # a private report multiplies the odds of issuing (float64, numpy's exp as in the array)
        factor = float(np.exp(np.float64(self.model.config.decision.private_report_issue_effect * float(self.private_report))))
        return base * factor / (1.0 - base + base * factor)

    def prefers_special(self, t: int) -> bool:
        """The parent's preference for a special school, rising with severity and advocacy, falling
        with trust in mainstream. Every term is float32 (so is numpy's logistic of it)."""
        p, family = self.model.config.placement, self.model.config.family
        logit = f32(f32(p.special_preference_intercept) + f32(f32(p.special_preference_severity) * f32(self.severity - 2.0)))
        logit = f32(logit + f32(f32(p.special_preference_trust) * f32(self.trust - 0.5)))
        logit = f32(logit + f32(f32(family.special_preference_advocacy) * f32(self.advocacy - 0.5)))
        probability = f32(1.0 / f32(1.0 + exp32(-logit)))
        return self.model.draws.uniform("placement-preference", t, self.key) < probability

    def no_suitable_free_place(self, t: int) -> bool:
        """Some children find no free state place that suits the need: treated as when schools are full."""
        return self.model.draws.uniform("placement-independent-by-need", t, self.key) < self.model.config.placement.independent_when_places_free

    def pushes_for_independent(self, t: int) -> bool:
        """Without a state place, the council names an independent school: the family pushes
        (likelier with advocacy) or the council commissions one (float32, capped at 1)."""
        p = self.model.config.placement
        chance = min(f32(f32(p.independent_if_full_base) + f32(f32(p.independent_if_full_advocacy) * self.advocacy)), 1.0)
        return self.model.draws.uniform("placement-independent", t, self.key) < chance

    def cannot_travel(self, t: int) -> bool:
        """Offered a special or independent place, a family without council transport may be
        unable to make the journey (likelier with fewer resources)."""
        f, draws = self.model.config.family, self.model.draws
        no_transport = draws.uniform("placement-transport", t, self.key) >= f.council_transport_share
        cannot = draws.uniform("placement-travel", t, self.key) < f32(f32(f.travel_decline_without_transport) * f32(1.0 - self.advocacy))
        return no_transport and cannot

    def maybe_assessment_completes(self, t: int) -> bool:
        """Once EP advice is in and the statutory minimum has passed, other advice and drafting may
        complete; most completed assessments end in a plan. Returns whether a plan was issued."""
        a, draws = self.model.config.assessment, self.model.draws
        if not (
            self.pipeline == ASSESSING
            and self.ep_done_month != NEVER_MONTH
            and t - self.request_month >= a.minimum_months
            and t - self.ep_done_month >= a.months_after_ep_advice
        ):
            return False
        # the slow-advice class is fixed per request: keyed on month 0 and key XOR the request month
        # (a request before the start has a negative month, which numpy wraps to uint64)
        slow = draws.uniform("advice-class", 0, self.key ^ (self.request_month % UINT64)) < a.slow_advice_share
        completion = a.slow_advice_monthly_completion if slow else a.other_advice_monthly_completion
        completion = 1.0 - (1.0 - completion) ** self.model.councils[self.council].advice_speed
        if draws.uniform("assessment-advice", t, self.key) >= completion:
            return False
        plan = draws.uniform("assessment-outcome", t, self.key) < self.plan_probability()
        self.model.log("assessment", t, self.row, plan=plan)
        self.pipeline = IDLE
        if plan:
            arrived = f32(self.request_month + self.request_fraction)  # int16 + float32: float32
            weeks = f32((t + draws.uniform("assessment-when", t, self.key) - arrived) * WEEKS_PER_MONTH)
            self.model.log("plan_issued", t, self.row, weeks=weeks, by_parent=self.request_by_parent)
            self.support_level = EHCP
            self.support_since = t
            self.plan_start_month = t
            self.identified = True
        else:
            self.last_refusal_month = t
        return plan
