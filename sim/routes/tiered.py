"""The reform: universal -> Targeted -> Targeted Plus -> Specialist, with dual running.

Before the legal switch the current EHCP route keeps running (with the anticipation surge),
while reform funding already raises school expertise and universal provision and Experts at
Hand ramp up. From the switch, identified children enter the tier matching their need with an
ISP; specialist EHCPs need an assessment against package thresholds; legacy plans are
reassessed at phase transfer under the configured protections (docs/MODEL.md).
"""

from __future__ import annotations

import numpy as np

from sim.month_plan import Stage
from sim.population.institutions import SECONDARY, CouncilTable, SchoolTable
from sim.population.state import EHCP, SEN_SUPPORT, TARGETED_PLUS
from sim.population.year_groups import YEAR_11
from sim.processes import assessment, calendar, disputes, identification, placement, requests, support, tiers
from sim.processes.finance import inflation
from sim.random_streams import RandomStreams
from sim.routes.ehcp import EhcpRoute
from sim.routes.transition import Transition
from sim.step_context import StepContext
from sim.timeline import Timeline


class TieredRoute(EhcpRoute):
    name = "tiered"

    def __init__(self, config, timeline: Timeline, schools: SchoolTable, councils: CouncilTable,
                 streams: RandomStreams) -> None:
        super().__init__(config)
        self.transition = Transition(config, timeline)
        # the order in which each council's schools open inclusion bases: drawn per council (block-exact)
        keys = np.empty(len(schools))
        for council in np.unique(schools.council):
            mine = np.flatnonzero(schools.council == council)
            keys[mine] = streams.generator("inclusion-base-rollout", int(councils.global_id[council])).random(len(mine))
        self.base_order = np.lexsort((keys, schools.council))
        self.initial_base_places = schools.base_places.copy()
        self._booked_base_places = schools.base_places.copy()  # capital is booked for places opened after the start
        self.entered_new_rules = False
        self._base_time = np.array([], dtype=np.int64)
        self.dual_running_plan = [
            Stage("identification (reform training raises school expertise)", self.identify),
            Stage("Experts at Hand for higher needs on SEN support, then school-led support", self.support_with_experts),
            Stage("requests for an EHC needs assessment (anticipation surge)", requests.step),
            Stage("decisions whether to assess", self.decide),
            Stage("EP advice in queue order", assessment.allocate_ep_time),
            Stage("assessments completed: plans issued, settings named", self.complete_assessments),
            Stage("appeals withdrawn while waiting for a hearing", disputes.withdrawals),
            Stage("tribunal hearings", disputes.hear_appeals),
            Stage("annual reviews of plans", self.review_plans),
            Stage("central reform funds booked", self.book_reform_funds),
        ]
        self.new_rules_plan = [
            Stage("enter the new rules (once, at the switch)", self.enter_new_rules),
            Stage("identification, straight into the tier matching need", self.identify_into_tiers),
            Stage("ISPs for everyone at Targeted or above", tiers.give_isps),
            Stage("yearly ISP reviews: escalate, de-escalate or end", tiers.isp_reviews),
            Stage("legacy plans due to move to an ISP", tiers.apply_legacy_moves),
            Stage("Targeted Plus: Experts at Hand and inclusion-base time, then school-led support", self.support_with_experts),
            Stage("complaints about Targeted support", tiers.complaints),
            Stage("referrals for specialist assessment", tiers.referrals),
            Stage("decisions whether to assess", self.decide),
            Stage("EP advice in queue order", assessment.allocate_ep_time),
            Stage("specialist assessments against package thresholds", self.complete_specialist_assessments),
            Stage("appeals withdrawn while waiting for a hearing", disputes.withdrawals),
            Stage("tribunal hearings", disputes.hear_appeals),
            Stage("annual reviews of plans", self.review_plans),
            Stage("a plan ceased at review leaves the child at Targeted with an ISP", tiers.give_isps),
            Stage("central reform funds booked", self.book_reform_funds),
        ]

    def stages(self, ctx: StepContext) -> list[Stage]:
        return self.new_rules_plan if self.switched(ctx) else self.dual_running_plan

    def switched(self, ctx: StepContext) -> bool:
        return self.transition.switched(ctx.t)

    def enter_new_rules(self, ctx: StepContext) -> None:
        """Once, at the switch: everyone on school-led support is placed in the tier matching need
        with an ISP (so nobody loses Experts at Hand support they had during dual running); in a
        steady-state scenario (switch at the start) the whole plan stock is also reassessed."""
        if self.entered_new_rules or not self.switched(ctx):
            return
        c = ctx.c
        stock = np.flatnonzero((c.year_group <= YEAR_11) & (c.support_level == SEN_SUPPORT))
        tiers.place_in_tiers(ctx, stock)
        if self.transition.switch <= 0:
            tiers.review_legacy_plans(ctx, np.flatnonzero((c.support_level == EHCP) & c.legacy_ehcp))
        self.entered_new_rules = True

    def identify(self, ctx: StepContext) -> None:
        """The school notices need; reform training raises expertise as it rolls out."""
        identification.step(ctx, expertise_boost=tiers.expertise_gain(ctx))

    def identify_into_tiers(self, ctx: StepContext) -> None:
        """Entry at any layer: a newly identified child goes straight to the tier matching need."""
        found = identification.step(ctx, expertise_boost=tiers.expertise_gain(ctx))
        tiers.place_in_tiers(ctx, found)

    def support_with_experts(self, ctx: StepContext) -> None:
        """Experts at Hand days (shared in school groups) and inclusion-base time add to school-led
        support, which the universal offer also raises."""
        boost = self._experts_and_bases(ctx, self.switched(ctx))
        support.allocate(ctx, extra_capacity=tiers.universal_provision_gain(ctx), boost=boost)

    def complete_specialist_assessments(self, ctx: StepContext) -> None:
        """A specialist EHCP only where assessed need reaches a package threshold."""
        assessment.issue_plans(ctx, on_issued=self.name_setting, on_not_issued=self.appealable,
                               probability=tiers.specialist_plan_probability)

    def _experts_and_bases(self, ctx: StepContext, new_rules: bool) -> tuple[np.ndarray, np.ndarray]:
        """Extra support from Experts at Hand (group-allocated) and inclusion-base time: (view
        indices of the candidates, ascending; each one's boost, 0 for those without)."""
        c, r = ctx.c, self.config.reform
        school_age = ctx.school_age()
        if new_rules:
            candidates = np.flatnonzero(school_age & (c.support_level == TARGETED_PLUS))
        else:  # during dual running Experts at Hand serve children on SEN support with higher needs
            candidates = np.flatnonzero(school_age & (c.support_level == SEN_SUPPORT) & (c.severity >= r.targeted_plus_threshold))
        # the boost of each candidate (the only children who can have one), not of every child on roll
        boost = np.zeros(len(candidates), dtype=np.float64)
        served, used, _ = tiers.allocate_experts(ctx, candidates)
        boost[np.searchsorted(candidates, served)] += r.experts_intensity_gain
        if new_rules:
            has_base = ctx.schools.base_places[c.home_school[candidates]] > 0
            boost[has_base] += r.targeted_plus_base_gain
            self._base_time = candidates[has_base]
        else:
            self._base_time = np.array([], dtype=np.int64)
        ctx.log("experts_served", served)
        return candidates, boost

    def book_reform_funds(self, ctx: StepContext) -> None:
        """Central reform funds: the IMF, training, Experts at Hand capacity, Targeted Plus base
        time, and the capital for new inclusion-base places.

        The IMF and training are announced cash sums (T334, T336), so they are booked per pupil
        in cash, not inflated. The IMF is paid to mainstream schools and pays for their SEN
        support: the part of each school's SEN support spending it covers is central money
        (schools.central_sen_funding), so finance books only the rest as the school's own.
        """
        r, schools = self.config.reform, ctx.schools
        new_places = np.maximum(schools.base_places - self._booked_base_places, 0)
        if new_places.any():
            capital = np.bincount(schools.council, weights=new_places * r.inclusion_base_capital_per_place * inflation(ctx),
                                  minlength=len(ctx.councils))
            ctx.ledger.book(ctx.t, "inclusion_base_capital", np.arange(len(ctx.councils)), capital)
        self._booked_base_places = np.maximum(self._booked_base_places, schools.base_places)
        if not self.transition.funded(ctx.t):
            return
        k = inflation(ctx) / 12
        c = ctx.c
        school_age = ctx.school_age()
        pupils = ctx.count_by_council(school_age)
        councils = np.arange(len(ctx.councils))
        roll = np.bincount(c.school[school_age], minlength=len(schools))
        imf = np.where(schools.phase <= SECONDARY, roll, 0) * r.funding_per_pupil_imf  # mainstream schools, £ per year, cash
        schools.central_sen_funding[:] = np.minimum(imf, schools.sen_spend / inflation(ctx))
        ctx.ledger.book(ctx.t, "inclusive_mainstream_fund", schools.council, imf / 12)
        if ctx.t < self.transition.funding_start + r.training_ramp_months:
            ctx.ledger.book(ctx.t, "teacher_training", councils, pupils * r.training_cost_per_pupil / 12)
        ctx.ledger.book(ctx.t, "experts_at_hand", councils, ctx.councils.experts_days_capacity * r.experts_cost_per_day * inflation(ctx))
        base_time = self._base_time
        if len(base_time):
            ctx.ledger.book(ctx.t, "targeted_plus", ctx.c.council[base_time], r.targeted_plus_base_cost * k)

    def on_september(self, ctx: StepContext) -> None:
        """Year rollover and phase transfers; inclusion bases open; legacy plans reassessed."""
        self.enter_new_rules(ctx)  # ISPs exist before the September moves they protect
        to_secondary, to_post16 = calendar.september(ctx, on_disputed=self.appealable)
        tiers.rollout_inclusion_bases(ctx, self.base_order, self.initial_base_places)
        candidates = np.concatenate([to_secondary, to_post16])
        if not self.config.transition.protect_older_pupils:  # without protection, every legacy plan is reassessed
            c = ctx.c
            candidates = np.flatnonzero((c.support_level == EHCP) & c.legacy_ehcp & (c.year_group <= YEAR_11))
        tiers.review_legacy_plans(ctx, candidates)

    def name_setting(self, ctx: StepContext, idx) -> None:
        if self.switched(ctx):
            tiers.place_specialist(ctx, idx)
        else:
            placement.place(ctx, idx, on_disputed=self.appealable)
            ctx.c.legacy_ehcp[idx] = True

    def appealable(self, ctx: StepContext, idx, kind: str) -> None:
        if not self.switched(ctx):
            disputes.consider_appeal(ctx, idx, kind)
        elif kind != "placement":  # the tribunal can no longer name a school
            disputes.consider_appeal(ctx, idx, kind, scale=self.config.reform.specialist_appeal_narrowing)
