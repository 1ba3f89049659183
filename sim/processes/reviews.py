"""Annual reviews and phase-transfer reviews of plans (docs/MODEL.md).

At each anniversary a plan is maintained, amended (a growing need may now call for a special
school) or ceased (needs met, or other reasons). At phase transfer (Year 6 to 7, Year 11 to
post-16) plans are reviewed and settings named again.
"""

from __future__ import annotations

import numpy as np

from sim.population.state import (
    APPEAL_PLACEMENT,
    EHCP,
    IDLE,
    INCLUSION_BASE,
    INDEPENDENT_SPECIAL,
    MAINSTREAM,
    NEVER,
    NONE,
    POST16,
    SEN_SUPPORT,
    STATE_SPECIAL,
)
from sim.population.year_groups import YEAR_11, YEAR_12
from sim.processes import placement as placement_process
from sim.step_context import StepContext


def cease(ctx: StepContext, idx: np.ndarray, reason: str) -> None:
    """End the plans at view indices `idx` for `reason`: the child returns to SEN support if need
    remains, to mainstream if of school age, to post-16 education if past 16 in special provision."""
    c = ctx.c
    if len(idx) == 0:
        return
    ctx.log("plan_ceased", idx, reason=reason)
    appealing = idx[c.pipeline[idx] == APPEAL_PLACEMENT]  # a placement appeal lapses with the plan
    c.pipeline[appealing] = IDLE
    c.hearing_month[appealing] = NEVER
    c.support_level[idx] = np.where(c.severity[idx] > 0, SEN_SUPPORT, NONE)
    ctx.forget("plan holders")
    c.support_since[idx] = ctx.t
    c.plan_start_month[idx] = NEVER
    c.plan_uplift[idx] = 0.0
    c.legacy_ehcp[idx] = False
    school_age = idx[c.year_group[idx] <= YEAR_11]
    c.school[school_age] = c.home_school[school_age]  # excluded pupils stay in alternative provision
    c.placement[school_age[~c.excluded[school_age]]] = MAINSTREAM
    # young people past 16 leave special provision with their plan and continue in post-16 education
    in_special = (c.placement[idx] == STATE_SPECIAL) | (c.placement[idx] == INDEPENDENT_SPECIAL)
    post16 = idx[(c.year_group[idx] >= YEAR_12) & in_special]
    c.placement[post16] = POST16
    c.school[post16] = c.home_school[post16]


def annual_reviews(ctx: StepContext, on_disputed=None) -> None:
    """Plans are reviewed every 12 months [law]; reviews are completed at the published rate
    (sen2: 57% of those due). A review may cease the plan (needs met: calibrated to sen2 ceased
    plans; other reasons at the published rate), and in mainstream may move a child whose need has
    grown past `reviews.transfer_to_special_severity` (an assumption) to a special-school placement."""
    c, r = ctx.c, ctx.config.reviews
    plans = ctx.plan_holders()
    plans = plans[(c.plan_start_month[plans] != NEVER) & (c.pipeline[plans] == IDLE)]
    age = ctx.t - c.plan_start_month[plans]
    due = plans[(age > 0) & (age % 12 == 0)]
    due = due[ctx.uniform("review-completed", due) < r.completion_rate]
    if len(due) == 0:
        return
    ctx.log("annual_review", due)
    met = c.severity[due] < r.plan_needs_met_severity
    cease_met = met & (ctx.uniform("review-cease-met", due) < r.cease_when_met_probability)
    cease_other = ~cease_met & (ctx.uniform("review-cease-other", due) < r.other_cease_per_year)
    cease(ctx, due[cease_met], "needs_met")
    cease(ctx, due[cease_other], "other")
    kept = due[~(cease_met | cease_other)]
    if on_disputed is not None:  # a review's decision on contents is appealable [law]
        on_disputed(ctx, kept, "content")
    in_mainstream = kept[(c.placement[kept] == MAINSTREAM) | (c.placement[kept] == INCLUSION_BASE)]
    escalate = in_mainstream[c.severity[in_mainstream] > r.transfer_to_special_severity]
    placement_process.place(ctx, escalate, on_disputed)


def phase_transfer(ctx: StepContext, moving_to_secondary: np.ndarray, moving_to_post16: np.ndarray, on_disputed=None) -> None:
    """September reviews for plan holders changing phase (called by the calendar)."""
    c, r = ctx.c, ctx.config.reviews
    plans7 = moving_to_secondary[c.support_level[moving_to_secondary] == EHCP]
    ctx.log("phase_transfer_review", plans7, phase="secondary")
    mainstream7 = plans7[(c.placement[plans7] == MAINSTREAM) | (c.placement[plans7] == INCLUSION_BASE)]
    # the move to a large secondary school is when families and councils most often judge that
    # mainstream can no longer meet the need (see placement.secondary_transfer_preference_shift)
    placement_process.place(ctx, mainstream7, on_disputed, preference_shift=ctx.config.placement.secondary_transfer_preference_shift)
    plans12 = moving_to_post16[c.support_level[moving_to_post16] == EHCP]
    ctx.log("phase_transfer_review", plans12, phase="post16")
    ceased = plans12[ctx.uniform("review-post16", plans12) < r.post16_cease_probability]
    cease(ctx, ceased, "post16")
