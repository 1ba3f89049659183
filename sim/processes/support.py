"""Support delivered this month, and whether it matches need (docs/MODEL.md).

SEN support comes from the school's notional SEN budget: when demand exceeds it, every
supported child gets a thinner share and the school feels budget pressure (which drives
school-initiated requests). Plans deliver more, up to what their setting can provide.
"""

from __future__ import annotations

import numpy as np

from sim.population.state import (
    INCLUSION_BASE,
    INDEPENDENT_SPECIAL,
    MAINSTREAM,
    NEVER,
    SEN_SUPPORT,
    STATE_SPECIAL,
    TARGETED_PLUS,
)
from sim.processes import finance, placement
from sim.step_context import StepContext


def is_matched(ctx: StepContext, idx: np.ndarray | None = None) -> np.ndarray:
    """Whether support matches need this month, for the children at view indices `idx` (all on roll
    if None): support received of at least `sen_support.match_fraction` of severity.

    Why one rule: "matched" drives need growth and resolution, attainment progress, suspensions,
    requests, complaints, tutoring and the access metrics; with one definition they cannot drift
    apart. The threshold is a judgement of when support is good enough to count (see the parameter).
    A child without need (severity 0) counts as matched; callers that mean "need met" also test need.
    """
    c = ctx.c
    intensity = c.support_intensity if idx is None else c.support_intensity[idx]
    severity = c.severity if idx is None else c.severity[idx]
    return matches(ctx, intensity, severity)


def matches(ctx: StepContext, intensity: np.ndarray, severity: np.ndarray) -> np.ndarray:
    """`is_matched` on columns already gathered (support intensity and severity, child by child),
    for a stage that holds them anyway."""
    return intensity >= ctx.config.sen_support.match_fraction * severity


def matched_on_roll(ctx: StepContext) -> np.ndarray:
    """`is_matched` for every child on roll, kept for the rest of the month once asked for.

    Why: after support is allocated (`allocate`, which forgets the previous value) neither
    support nor need changes for the rest of the month (need changes before support, in
    `needs.step`, which forgets it too), and attainment, tutoring, suspensions, requests and the
    monthly counts all ask who is matched: one comparison over the roll serves them all. The
    comparison is elementwise, so a child's answer is the same as `is_matched` for it alone."""
    return ctx.memo("matched", lambda: is_matched(ctx))


def plan_capacity(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """Most support a plan can deliver in the child's setting."""
    s = ctx.config.sen_support
    placement = ctx.c.placement[idx]
    cap = np.full(len(idx), s.plan_mainstream_max_intensity, dtype=np.float32)
    cap[placement == INCLUSION_BASE] = s.inclusion_base_max_intensity
    special = (placement == STATE_SPECIAL) | (placement == INDEPENDENT_SPECIAL)
    cap[special] = np.inf
    return cap + ctx.c.plan_uplift[idx]  # provision won by challenging the plan's contents


def allocate(ctx: StepContext, extra_capacity: np.ndarray | float | None = None,
             boost: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Set support_intensity for every child on roll; book nothing (finance does).

    `extra_capacity` raises what schools can give (universal provision, per child or scalar);
    `boost = (rows, gains)` adds support on top for particular children (Experts at Hand,
    inclusion-base time): view indices, ascending, and each one's gain. A boosted child on
    school-led support gets its gain on top of its share, up to its need.

    Why rows and gains rather than a gain for every child on roll: a few children in a hundred
    can have one, and an array of the whole roll to make, fill and gather cost more than the rest.
    """
    c, s, schools = ctx.c, ctx.config.sen_support, ctx.schools
    school_age = ctx.school_age()
    c.support_intensity[:] = 0.0
    ctx.forget("matched")
    # school-led support, limited by expertise and by the notional SEN budget (NEVER is below
    # every month, so a month after this one means a lapse that has not ended yet)
    lapsed = c.support_resume_month > ctx.t
    led = np.flatnonzero(school_age & ~lapsed & ((c.support_level == SEN_SUPPORT) | (c.support_level == TARGETED_PLUS)))
    school = c.school[led]
    ceiling = s.max_intensity * schools.expertise[school]
    if extra_capacity is not None:
        ceiling = ceiling + (extra_capacity if np.isscalar(extra_capacity) else extra_capacity[led])
    wanted = np.minimum(c.severity[led], ceiling)
    # plans: the school pays its contribution for those in mainstream; provision up to the setting's capacity
    planned = ctx.plan_holders()
    planned = planned[school_age[planned]]
    plans_in_mainstream = planned[(c.placement[planned] == MAINSTREAM) | (c.placement[planned] == INCLUSION_BASE)]
    # float even when no child is on school-led support (bincount of an empty selection is integer)
    demand = np.bincount(school, weights=wanted * s.cost_per_intensity_unit, minlength=len(schools)).astype(float)
    demand += np.bincount(c.school[plans_in_mainstream], minlength=len(schools)) * s.mainstream_contribution
    # demand is costed at base-year prices and the budget in cash (it inflates with costs,
    # calendar.refresh_schools), so demand is priced in cash too before the two are compared;
    # schools without a notional SEN budget (special, independent) feel no budget pressure
    demand *= finance.inflation(ctx)
    schools.budget_pressure[:] = np.where(schools.sen_budget > 0, demand / np.maximum(schools.sen_budget, 1.0), 0.0)
    squeeze = np.minimum(1.0, 1.0 / np.maximum(schools.budget_pressure[school], 1e-9))
    delivered = wanted * squeeze
    if boost is not None:
        rows, gains = boost
        at = np.searchsorted(led, rows)  # each boosted row's place among the school-led rows, if it is one
        found = at < len(led)
        found[found] = led[at[found]] == rows[found]
        at = at[found]
        delivered[at] = np.minimum(delivered[at] + gains[found], c.severity[led[at]])
    delivered = delivered.astype(np.float32)
    c.support_intensity[led] = delivered
    schools.sen_spend[:] = np.bincount(school, weights=delivered * s.cost_per_intensity_unit, minlength=len(schools)).astype(float)
    c.support_intensity[planned] = np.minimum(c.severity[planned], plan_capacity(ctx, planned))
    _accumulate(ctx)
    _mainstream_placements_break_down(ctx, planned)


def _mainstream_placements_break_down(ctx: StepContext, planned: np.ndarray) -> None:
    """A plan whose mainstream setting cannot meet the need breaks down: the family and the
    school ask for a new setting mid-phase (`placement.mainstream_breakdown_per_year`, a yearly
    hazard among plan holders in mainstream whose support falls short of the need), and the
    council names one as for a new plan (a state special place if one is free, else an
    independent one or mainstream again). Why: most moves to special schools happen between
    phase transfers, after a placement has failed (councils' sufficiency reports), so demand
    for special places grows with the unmet needs of plan holders in mainstream."""
    rate = ctx.config.placement.mainstream_breakdown_per_year
    if rate <= 0 or len(planned) == 0:
        return
    c = ctx.c
    in_mainstream = planned[(c.placement[planned] == MAINSTREAM) | (c.placement[planned] == INCLUSION_BASE)]
    unmet = in_mainstream[~is_matched(ctx, in_mainstream)]
    broken = unmet[ctx.uniform("placement-breakdown", unmet) < 1.0 - np.exp(-rate / 12.0)]
    ctx.log("placement_breakdown", broken)
    placement.place(ctx, broken)


def _accumulate(ctx: StepContext) -> None:
    """Count months of need, of unmet need and of matched support (the access metrics)."""
    c = ctx.c
    need = ctx.need()
    matched = need & matched_on_roll(ctx)
    unmet = need & ~matched
    c.need_months += need
    c.unmet_months += unmet
    c.matched_months += matched
    c.year_need_months += need
    c.year_unmet_months += unmet
    c.year_matched_months += matched
    supported = need & (c.support_intensity > 0)
    first = supported & (c.first_support_month == NEVER)
    c.first_support_month[first] = ctx.t
    first_matched = matched & (c.first_matched_month == NEVER)
    c.first_matched_month[first_matched] = ctx.t
