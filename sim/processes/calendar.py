"""The school calendar (docs/MODEL.md): September moves everyone up a year.

New Reception cohorts arrive (their rows enter the on-roll slice), Year 6 move to their
secondary school, Year 11 move to post-16 education, training or NEET; plan holders changing
phase get a phase-transfer review. Schools' rolls, FSM shares and notional SEN budgets are
refreshed for the new year.
"""

from __future__ import annotations

import numpy as np

from sim.population.state import INCLUSION_BASE, MAINSTREAM, SEN_SUPPORT, TARGETED_PLUS
from sim.population.year_groups import YEAR_7, YEAR_12, YEAR_13
from sim.processes import outcomes, reviews
from sim.step_context import StepContext


def september(ctx: StepContext, on_disputed=None) -> tuple[np.ndarray, np.ndarray]:
    """Roll the year forward; return view indices moving to secondary and to post-16."""
    c = ctx.c
    academic_year = ctx.timeline.academic_year(ctx.t)
    c.year_group[:] = (academic_year - c.entry_year).astype(np.int8)
    to_secondary = np.flatnonzero(c.year_group == YEAR_7)
    c.home_school[to_secondary] = ctx.schools.feeder[c.home_school[to_secondary]]
    in_mainstream = to_secondary[(c.placement[to_secondary] == MAINSTREAM) | (c.placement[to_secondary] == INCLUSION_BASE)]
    c.school[in_mainstream] = c.home_school[in_mainstream]
    c.placement[in_mainstream] = MAINSTREAM
    support_may_lapse(ctx, to_secondary)
    to_post16 = np.flatnonzero(c.year_group == YEAR_12)
    outcomes.neet_at_16(ctx, to_post16)
    reviews.phase_transfer(ctx, to_secondary, to_post16, on_disputed)
    refresh_schools(ctx)
    return to_secondary, to_post16


def support_may_lapse(ctx: StepContext, movers) -> None:
    """Without a portable plan (ISP or EHCP), school-led support may lapse at a school move and
    take months to re-establish (docs/MODEL.md: the digital passport)."""
    c, s = ctx.c, ctx.config.sen_support
    school_led = movers[(c.support_level[movers] == SEN_SUPPORT) | (c.support_level[movers] == TARGETED_PLUS)]
    without_passport = school_led[~c.isp[school_led]]
    lapses = without_passport[ctx.uniform("support-lapse", without_passport) < s.support_lost_at_transfer]
    c.support_resume_month[lapses] = ctx.t + s.support_reestablish_months
    ctx.log("support_lapsed", lapses)


def refresh_schools(ctx: StepContext) -> None:
    """Rolls, FSM shares and notional SEN budgets (per pupil, inflating with costs)."""
    c, schools = ctx.c, ctx.schools
    in_school = c.year_group <= YEAR_13
    roll = np.bincount(c.school[in_school], minlength=len(schools)).astype(float)
    fsm = np.bincount(c.school[in_school], weights=c.fsm[in_school], minlength=len(schools))
    schools.fsm_share[:] = np.where(roll > 0, fsm / np.maximum(roll, 1), ctx.config.population.fsm_share)
    home_roll = np.bincount(c.home_school[in_school], minlength=len(schools)).astype(float)
    inflation = (1 + ctx.config.finance.cost_inflation) ** (ctx.t / 12)
    schools.sen_budget[:] = ctx.config.sen_support.notional_sen_budget_per_pupil * home_roll * inflation
