"""The reform: universal -> Targeted -> Targeted Plus -> Specialist, with dual running.

Before the legal switch the current EHCP route keeps running (with the anticipation surge),
while reform funding already raises school expertise and universal provision and Experts at
Hand ramp up. From the switch, identified children enter the tier matching their need with an
ISP; specialist EHCPs need an assessment against package thresholds; legacy plans are
reassessed at phase transfer under the configured protections (MODEL.md §5).
"""

from __future__ import annotations

import numpy as np

from sim.population.institutions import SECONDARY
from sim.population.school_groups import assign_school_groups
from sim.population.state import EHCP, SEN_SUPPORT, TARGETED_PLUS
from sim.processes import assessment, calendar, decisions, disputes, identification, placement, requests, reviews, support, tiers
from sim.processes.finance import inflation
from sim.routes.ehcp import EhcpRoute
from sim.step_context import StepContext


class TieredRoute(EhcpRoute):
    name = "tiered"

    def __init__(self, config) -> None:
        super().__init__(config)
        self._prepared = False

    def _prepare(self, ctx: StepContext) -> None:
        """Build school groups (networkx) and the order in which schools open inclusion bases."""
        ctx.schools.group[:] = assign_school_groups(ctx.schools, self.config.reform.school_group_size)
        # the order in which each council's schools open bases: drawn per council (block-exact)
        first = self.config.population.first_council
        keys = np.empty(len(ctx.schools))
        for council in np.unique(ctx.schools.council):
            mine = np.flatnonzero(ctx.schools.council == council)
            keys[mine] = ctx.streams.generator("inclusion-base-rollout", first + int(council)).random(len(mine))
        self.base_order = np.lexsort((keys, ctx.schools.council))
        self.initial_base_places = ctx.schools.base_places.copy()
        self._booked_base_places = ctx.schools.base_places.copy()  # capital is booked for places opened after the start
        self.entered_new_rules = False
        self.switch = ctx.timeline.month_index(self.config.transition.legal_switch)
        self.funding_start = ctx.timeline.month_index(self.config.reform.funding_start)
        self._prepared = True

    def switched(self, ctx: StepContext) -> bool:
        return ctx.t >= self.switch

    def _enter_new_rules(self, ctx: StepContext) -> None:
        """Once, at the switch: everyone on school-led support is placed in the tier matching need
        with an ISP (so nobody loses Experts at Hand support they had during dual running); in a
        steady-state scenario (switch at the start) the whole plan stock is also reassessed."""
        if self.entered_new_rules or not self.switched(ctx):
            return
        c = ctx.c
        stock = np.flatnonzero((c.year_group <= 11) & (c.support_level == SEN_SUPPORT))
        tiers.place_in_tiers(ctx, stock)
        if self.switch <= 0:
            tiers.review_legacy_plans(ctx, np.flatnonzero((c.support_level == EHCP) & c.legacy_ehcp))
        self.entered_new_rules = True

    def step(self, ctx: StepContext) -> None:
        if not self._prepared:
            self._prepare(ctx)
        new_rules = self.switched(ctx)
        self._enter_new_rules(ctx)
        found = identification.step(ctx, expertise_boost=tiers.expertise_gain(ctx))
        if new_rules:
            tiers.place_in_tiers(ctx, found)
            tiers.give_isps(ctx)
            tiers.isp_reviews(ctx)
            tiers.apply_legacy_moves(ctx)
        boost = self._experts_and_bases(ctx, new_rules)
        support.allocate(ctx, extra_capacity=tiers.universal_provision_gain(ctx), boost=boost)
        if new_rules:
            tiers.complaints(ctx)
            tiers.referrals(ctx)
        else:
            requests.step(ctx)
        decisions.step(ctx, on_refused=self.appealable)
        assessment.allocate_ep_time(ctx)
        probability = tiers.specialist_plan_probability if new_rules else assessment.plan_probability
        assessment.issue_plans(ctx, on_issued=self.name_setting, on_not_issued=self.appealable, probability=probability)
        disputes.hear_appeals(ctx)
        reviews.annual_reviews(ctx, on_disputed=self.appealable)
        if new_rules:  # a plan ceasing at review leaves the child at Targeted, with an ISP
            tiers.give_isps(ctx)
        self._book_reform_funds(ctx)

    def _experts_and_bases(self, ctx: StepContext, new_rules: bool) -> np.ndarray:
        """Extra support from Experts at Hand (group-allocated) and inclusion-base time."""
        c, r = ctx.c, self.config.reform
        boost = np.zeros(len(c.severity), dtype=np.float64)
        school_age = c.year_group <= 11
        if new_rules:
            candidates = np.flatnonzero(school_age & (c.support_level == TARGETED_PLUS))
        else:  # during dual running Experts at Hand serve children on SEN support with higher needs
            candidates = np.flatnonzero(school_age & (c.support_level == SEN_SUPPORT) & (c.severity >= r.targeted_plus_threshold))
        served, used, _ = tiers.allocate_experts(ctx, candidates)
        boost[served] += r.experts_intensity_gain
        if new_rules:
            with_base = candidates[ctx.schools.base_places[c.home_school[candidates]] > 0]
            boost[with_base] += r.targeted_plus_base_gain
            self._base_time = with_base
        else:
            self._base_time = np.array([], dtype=np.int64)
        ctx.log("experts_served", served)
        return boost

    def _book_reform_funds(self, ctx: StepContext) -> None:
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
        if ctx.t < self.funding_start:
            return
        k = inflation(ctx) / 12
        c = ctx.c
        school_age = c.year_group <= 11
        pupils = np.bincount(c.council[school_age], minlength=len(ctx.councils))
        councils = np.arange(len(ctx.councils))
        roll = np.bincount(c.school[school_age], minlength=len(schools))
        imf = np.where(schools.phase <= SECONDARY, roll, 0) * r.funding_per_pupil_imf  # mainstream schools, £ per year, cash
        schools.central_sen_funding[:] = np.minimum(imf, schools.sen_spend / inflation(ctx))
        ctx.ledger.book(ctx.t, "inclusive_mainstream_fund", schools.council, imf / 12)
        if ctx.t < self.funding_start + r.training_ramp_months:
            ctx.ledger.book(ctx.t, "teacher_training", councils, pupils * r.training_cost_per_pupil / 12)
        ctx.ledger.book(ctx.t, "experts_at_hand", councils, ctx.councils.experts_days_capacity * r.experts_cost_per_day * inflation(ctx))
        base_time = self._base_time
        if len(base_time):
            ctx.ledger.book(ctx.t, "targeted_plus", ctx.c.council[base_time], r.targeted_plus_base_cost * k)

    def on_september(self, ctx: StepContext) -> None:
        if not self._prepared:
            self._prepare(ctx)
        self._enter_new_rules(ctx)  # ISPs exist before the September moves they protect
        to_secondary, to_post16 = calendar.september(ctx, on_disputed=self.appealable)
        tiers.rollout_inclusion_bases(ctx, self.base_order, self.initial_base_places)
        candidates = np.concatenate([to_secondary, to_post16])
        if not self.config.transition.protect_older_pupils:  # without protection, every legacy plan is reassessed
            c = ctx.c
            candidates = np.flatnonzero((c.support_level == EHCP) & c.legacy_ehcp & (c.year_group <= 11))
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
