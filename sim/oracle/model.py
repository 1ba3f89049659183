"""The oracle: the EHCP pipeline as a plain Mesa model, one `ChildAgent` per child.

It starts from the start population of a vectorised model (the same children, schools, councils
and seed), copies every value it needs into Python objects, and from then on shares nothing with
the arrays. Each month runs the stages of `sim/oracle/pipeline.py` in the same order, as loops
over agents in row order. Where a stage couples children (a school's budget shared out, a
council's panel and EP queue), the model gathers each school's or council's children and the
school or council agent hands out the scarce resource, in queue order. Draws come from the same counter-based streams
(`KeyedDraws`), so a child's luck in the oracle is its luck in the vectorised model.
"""

from __future__ import annotations

import math
from collections import defaultdict

import mesa
import numpy as np
import pandas as pd

from sim.model import SendModel
from sim.oracle.agents import ChildAgent, CouncilAgent, SchoolAgent, f32
from sim.oracle.draws import KeyedDraws
from sim.oracle.pipeline import PIPELINE_EVENTS
from sim.population.institutions import INDEPENDENT, SPECIAL
from sim.population.state import EHCP, INCLUSION_BASE, INDEPENDENT_SPECIAL, MAINSTREAM, POST16, REQUESTED, STATE_SPECIAL
from sim.population.year_groups import YEAR_11, YEAR_12, YEAR_13

# the child columns the oracle copies into each agent
CHILD_STATE: tuple[str, ...] = (
    "key",
    "council",
    "entry_year",
    "year_group",
    "school",
    "home_school",
    "advocacy",
    "trust",
    "private_report",
    "family_budget",
    "spent_reports",
    "spent_representation",
    "spent_tutoring",
    "need_type",
    "severity",
    "identified",
    "support_level",
    "support_intensity",
    "support_since",
    "support_resume_month",
    "pipeline",
    "pipeline_since",
    "request_month",
    "request_fraction",
    "request_by_parent",
    "ep_hours_received",
    "ep_done_month",
    "last_refusal_month",
    "plan_start_month",
    "isp",
    "placement",
    "plan_uplift",
    "private_reports_bought",
    "preferred_special",
    "special_wanted",
    "special_secured",
    "excluded",
)


class OracleModel(mesa.Model):
    """The EHCP pipeline, one object per child, from the start population of `source` (not yet stepped)."""

    def __init__(self, source: SendModel) -> None:
        if source.month != 0:
            raise ValueError("the oracle starts from an unstepped model's start population")
        super().__init__(rng=source.seed)
        self.config = source.config
        self.timeline = source.timeline
        self.draws = KeyedDraws(source.streams)
        self.month = 0
        tr = self.config.transition
        self.anticipation_window = (self.timeline.month_index(tr.anticipation_from), self.timeline.month_index(tr.anticipation_to))
        self.events: dict[str, list[dict]] = defaultdict(list)
        s, k = source.schools, source.councils
        self.schools = [
            SchoolAgent(
                self,
                i,
                int(s.council[i]),
                float(s.inclusiveness[i]),
                float(s.expertise[i]),
                float(s.fsm_share[i]),
                float(s.sen_budget[i]),
                float(s.budget_pressure[i]),
                int(s.phase[i]),
                int(s.base_places[i]),
            )
            for i in range(len(s))
        ]
        self.councils = [
            CouncilAgent(
                self,
                i,
                float(k.decisions_per_month[i]),
                float(k.ep_hours_per_month[i]),
                float(k.gatekeeping[i]),
                float(k.request_multiplier[i]),
                float(k.advice_speed[i]),
                float(k.special_places[i]),
            )
            for i in range(len(k))
        ]
        columns = {name: getattr(source.children, name).tolist() for name in CHILD_STATE}
        ties = source.children.ties.tolist()
        self.children = []
        for row in range(len(source.children)):
            state = {name: values[row] for name, values in columns.items()}
            state["ties"] = tuple(tie for tie in ties[row] if tie >= 0)
            self.children.append(ChildAgent(self, row, state))

    def log(self, name: str, t: int, row: int, **columns) -> None:
        self.events[name].append({"month": t, "row": row, **columns})

    def frame(self, name: str) -> pd.DataFrame:
        """The event log `name` as a table (month, row, the event's columns), ordered by month and row."""
        columns = ("month", "row", *PIPELINE_EVENTS[name])
        frame = pd.DataFrame(self.events.get(name, []), columns=list(columns))
        return frame.sort_values(["month", "row"], kind="stable").reset_index(drop=True)

    def anticipation(self, t: int) -> float:
        """Surge of requests before a reform switch (1 outside the window), as `requests.anticipation`."""
        start, end = self.anticipation_window
        return self.config.transition.anticipation_multiplier if start <= t <= end else 1.0

    def propensity_trend(self, t: int) -> float:
        """The secular rise in request propensity (from `requests.propensity_trend_anchor`, else the start), as `requests.propensity_trend`."""
        r = self.config.requests
        anchor = 0 if r.propensity_trend_anchor is None else self.timeline.month_index(r.propensity_trend_anchor)
        return (1 + r.propensity_trend_per_year) ** ((t - anchor) / 12.0)

    def closure(self, t: int) -> float:
        """Requests while schools were closed in the first lockdown (1 outside the window), as `requests.closure`."""
        r = self.config.requests
        start, end = self.timeline.month_index(r.closure_from), self.timeline.month_index(r.closure_to)
        return r.closure_multiplier if start <= t <= end else 1.0

    def children_on_roll(self, t: int) -> list[ChildAgent]:
        """Reception to Year 13 this academic year, in row order; marks every child on or off roll."""
        academic_year = self.timeline.academic_year(t)
        on_roll = []
        for child in self.children:
            child.on_roll = academic_year - 13 <= child.entry_year <= academic_year
            if child.on_roll:
                on_roll.append(child)
        return on_roll

    def step(self) -> None:
        """One month of the pipeline, stage by stage as in `pipeline.pipeline_stages`."""
        t = self.month
        on_roll = self.children_on_roll(t)
        self.identify(on_roll, t)
        self.allocate_support(on_roll, t)
        for child in on_roll:
            child.maybe_request(t)
        self.decide(on_roll, t)
        self.allocate_ep_time(on_roll, t)
        issued = [child for child in on_roll if child.maybe_assessment_completes(t)]
        self.name_settings(issued, on_roll, t)
        self.month += 1

    def identify(self, on_roll: list[ChildAgent], t: int) -> None:
        """Identification, then the support review for needs that have resolved (each child on its own)."""
        for child in on_roll:
            if child.maybe_identified(t):
                self.log("identified", t, child.row)
        for child in on_roll:
            if child.maybe_support_ends(t):
                self.log("support_ended", t, child.row)
        for child in on_roll:
            if child.maybe_support_restarts(t):
                self.log("support_restarted", t, child.row)

    def allocate_support(self, on_roll: list[ChildAgent], t: int) -> None:
        """Each school shares its notional SEN budget among the children it supports; plans deliver
        up to their setting's capacity.

        The school's demand is summed over its children in row order (as numpy's bincount does),
        and the plans it supports in mainstream are added after the school-led support.
        """
        s = self.config.sen_support
        led_demand = [0.0] * len(self.schools)
        plans_in_mainstream = [0] * len(self.schools)
        led = []
        for child in on_roll:
            child.support_intensity = 0.0
            if child.wants_school_led_support(t):
                wanted = child.wanted_support()
                led.append((child, wanted))
                led_demand[child.school] += wanted * s.cost_per_intensity_unit
            elif child.plan_in_mainstream():
                plans_in_mainstream[child.school] += 1
        inflation = (1 + self.config.finance.cost_inflation) ** (t / 12)  # demand priced in cash, as the budget
        for school in self.schools:
            school.demand = (led_demand[school.index] + plans_in_mainstream[school.index] * s.mainstream_contribution) * inflation
            school.set_budget_pressure()
        for child, wanted in led:
            squeeze = min(1.0, 1.0 / max(self.schools[child.school].budget_pressure, 1e-9))
            child.support_intensity = f32(wanted * squeeze)
        for child in on_roll:
            if child.school_age() and child.support_level == EHCP:
                child.support_intensity = min(child.severity, child.plan_capacity())
        self.break_down_mainstream_placements(on_roll, t)

    def break_down_mainstream_placements(self, on_roll: list[ChildAgent], t: int) -> None:
        """A plan in mainstream whose support falls short of the need may break down (a yearly
        hazard, drawn monthly); the council then names a setting as for a new plan."""
        rate = self.config.placement.mainstream_breakdown_per_year
        if rate <= 0:
            return
        chance = 1.0 - float(np.exp(-rate / 12.0))  # numpy's exp, as the vectorised rule
        broken = [
            child for child in on_roll
            if child.plan_in_mainstream() and child.unmet() and self.draws.uniform("placement-breakdown", t, child.key) < chance
        ]
        for child in broken:
            self.log("placement_breakdown", t, child.row)
        self.name_settings(broken, on_roll, t)

    def decide(self, on_roll: list[ChildAgent], t: int) -> None:
        """Each council's panel decides requests that arrived before this month."""
        waiting = defaultdict(list)
        for child in on_roll:
            if child.pipeline == REQUESTED and child.pipeline_since < t:
                waiting[child.council].append(child)
        for council in self.councils:
            council.decide(waiting[council.index], t)

    def allocate_ep_time(self, on_roll: list[ChildAgent], t: int) -> None:
        """Each council's EP hours (own plus bought-in) go to its assessments in queue order.

        Ordering subtlety: the vectorised code finds the hours ahead of a child in its council's
        queue from one running total over all councils' queues (councils in index order) minus
        the total at the start of the council's queue. In floating point that is not always the
        council's own running total, so the oracle keeps the same global running total to stay
        bit-exact; with one council the two are the same.
        """
        a = self.config.assessment
        for council in self.councils:
            council.ep_locum_hours = 0.0
        queue = [child for child in on_roll if child.waiting_for_ep()]
        if not queue:
            return
        if a.priority == "severity":
            queue.sort(key=lambda child: (child.council, -child.severity, child.row))
        else:
            queue.sort(key=lambda child: (child.council, child.request_month + child.request_fraction, child.row))
        remaining = [child.ep_hours_remaining() for child in queue]
        backlog = [0.0] * len(self.councils)
        for child, hours in zip(queue, remaining):
            backlog[child.council] += hours
        for council in self.councils:
            council.ep_locum_hours = council.locum_hours(backlog[council.index])
        total, council_start, current = 0.0, 0.0, None
        for child, hours in zip(queue, remaining):
            total += hours
            if child.council != current:
                current, council_start = child.council, total - hours
            ahead = total - hours - council_start
            council = self.councils[child.council]
            available = council.ep_hours_per_month + council.ep_locum_hours
            child.receive_ep_hours(min(max(available - ahead, 0.0), hours), t)

    def name_settings(self, issued: list[ChildAgent], on_roll: list[ChildAgent], t: int) -> None:
        """The council names a setting in each new plan, as `placement.place` (appeals aside).

        Parents who prefer a special school get a state place while the council has one (most
        severe first), else an independent place if they push hard enough, else mainstream; the
        others go to mainstream, into an inclusion base if their school's has room (most severe
        first). Ordering subtleties: ties in severity go to the earlier child in the list being
        ranked (numpy's lexsort is stable), and the mainstream list is the children who wanted
        mainstream followed by those refused a special place, not row order; free places are
        counted once, before anyone moves.
        """
        if not issued:
            return
        wants = {child.row: child.prefers_special(t) for child in issued}
        for child in issued:
            child.preferred_special = wants[child.row]
            child.special_wanted = child.special_wanted or wants[child.row]
        special = [child for child in issued if wants[child.row]]
        mainstream = [child for child in issued if not wants[child.row]]
        occupied = [0] * len(self.councils)
        for child in on_roll:
            if child.placement == STATE_SPECIAL and child.year_group <= YEAR_13:
                occupied[child.council] += 1
        free = [math.floor(council.special_places) - occupied[council.index] for council in self.councils]
        placed = self.most_severe_first(special, lambda child: child.council, free)
        placed = {row for row in placed if not self.children[row].no_suitable_free_place(t)}
        stuck = {child.row for child in special if child.cannot_travel(t)}  # the journey, not the place, fails
        declined = [child for child in special if child.row in placed and child.row in stuck]
        got_place = [child for child in special if child.row in placed and child.row not in stuck]
        no_place = [child for child in special if child.row not in placed]
        self.move_to(got_place, STATE_SPECIAL, SPECIAL, t)
        pushing = [child for child in no_place if child.pushes_for_independent(t)]
        declined += [child for child in pushing if child.row in stuck]
        pushes = [child for child in pushing if child.row not in stuck]
        self.move_to(pushes, INDEPENDENT_SPECIAL, INDEPENDENT, t)
        for child in got_place + pushes:
            child.special_secured = True
        pushed = {child.row for child in pushing}
        refused = [child for child in no_place if child.row not in pushed]
        self.place_in_mainstream(mainstream + refused + declined, on_roll)
        for child in declined:
            self.log("travel_declined", t, child.row)
        for child in issued:
            self.log("placement", t, child.row, placement=child.placement, preferred_special=wants[child.row])

    @staticmethod
    def most_severe_first(children: list[ChildAgent], group, free: list[int]) -> set[int]:
        """Rows of the children who get one of their group's free places, most severe first."""
        taken: dict[int, int] = defaultdict(int)
        chosen = set()
        for child in sorted(children, key=lambda child: (group(child), -child.severity)):  # stable: ties keep list order
            if taken[group(child)] < max(free[group(child)], 0):
                taken[group(child)] += 1
                chosen.add(child.row)
        return chosen

    def move_to(self, children: list[ChildAgent], placement: int, phase: int, t: int) -> None:
        """Into a special (or independent) school of the child's council, drawn uniformly."""
        for child in children:
            child.placement = placement
        options = [school for school in self.schools if school.phase == phase]
        if not children or not options:
            return
        for council in sorted({child.council for child in children}):
            own = [school.index for school in options if school.council == council]
            for child in children:
                if child.council == council:
                    pick = int(self.draws.uniform("placement-school", t, child.key) * len(own))
                    child.school = own[min(pick, len(own) - 1)]

    def place_in_mainstream(self, children: list[ChildAgent], on_roll: list[ChildAgent]) -> None:
        """Back to the home school (post-16 after Year 11); the most severe into its inclusion base if it has room."""
        children = [child for child in children if not child.excluded]  # excluded pupils stay in alternative provision
        for child in children:
            child.school = child.home_school
            if child.year_group >= YEAR_12:
                child.placement = POST16
        children = [child for child in children if child.year_group <= YEAR_11]
        for child in children:
            child.placement = MAINSTREAM
        in_base = [0] * len(self.schools)
        for child in on_roll:
            if child.placement == INCLUSION_BASE:
                in_base[child.school] += 1
        free = [school.base_places - in_base[school.index] for school in self.schools]
        threshold = f32(self.config.placement.inclusion_base_min_severity)  # compared in float32
        severe = [child for child in children if child.severity >= threshold]
        into_base = self.most_severe_first(severe, lambda child: child.school, free)
        for child in severe:
            if child.row in into_base:
                child.placement = INCLUSION_BASE
