"""Identification: does the school notice a child's need this month? (docs/MODEL.md)

Faster for severe and early-showing needs, in inclusive and expert schools, for families who
push; slower in schools serving deprived areas [reported: rationing]. Identified children start
on the route's school-led support (SEN support, or Targeted in the tiered route).

The speed also varies by year group (`identification.age_profile`), derived so that the start
census's SEN support shares by year group are what identification and the end of support keep
with every trend off (docs/DYNAMICS.md): needs are noticed fastest in the first school years.
"""

from __future__ import annotations

import numpy as np

from sim.population.build import LATE_TYPES, NEED_TYPES
from sim.population.state import NONE, SEN_SUPPORT
from sim.population.year_groups import RECEPTION, YEAR_6, YEAR_11
from sim.step_context import StepContext

#: whether each need type (index into NEED_TYPES) shows late: a lookup, the same answer as
#: `np.isin(need_type, LATE_TYPES)` without its set machinery (identification asks every month)
_LATE_TYPE = np.isin(np.arange(len(NEED_TYPES)), LATE_TYPES)


def identification_probability(ctx: StepContext, idx: np.ndarray, expertise_boost: np.ndarray | float = 0.0) -> np.ndarray:
    """Monthly chance the school notices the need: rises with severity, school inclusiveness and
    SEN expertise (plus the reform's training) and family advocacy; lower for needs that show late
    (ASD, SEMH) in primary and in schools serving deprived areas [reported: rationing]. The base
    rate, severity elasticity and advocacy effect are assumptions."""
    c, p = ctx.c, ctx.config.identification
    school = c.home_school[idx]
    late = _LATE_TYPE[c.need_type[idx]] & (c.year_group[idx] <= YEAR_6)
    mean_fsm = ctx.config.population.fsm_share
    age = np.asarray(p.age_profile)[np.clip(c.year_group[idx], 0, len(p.age_profile) - 1)]
    rate = (
        p.monthly_rate
        * age
        * np.power(np.maximum(c.severity[idx], 1e-3), p.severity_elasticity)
        * np.where(late, p.late_types_multiplier, 1.0)
        * ctx.schools.inclusiveness[school]
        * (p.expertise_floor + ctx.schools.expertise[school] + expertise_boost)
        * np.exp(p.advocacy_effect * (c.advocacy[idx] - 0.5))
        * np.exp(-p.deprived_school_under_identification * (ctx.schools.fsm_share[school] - mean_fsm))
        * need_type_trend(ctx, c.need_type[idx])
    )
    return 1.0 - np.exp(-rate)


def need_type_trend(ctx: StepContext, need_type: np.ndarray) -> np.ndarray:
    """Identification that rose over the decade for some need types, dated.

    Why: pupils recorded with autism and with social, emotional and mental health needs grew
    far faster than other needs from 2015 to 2025 (awareness, diagnostic pathways, and schools'
    recognition of mental-health needs), so a backtest that starts in 2015 with 2025's
    identification finds too much SEN support early and too little growth. Before
    `identification.type_trend_until` each need type is identified at (1 + its
    `identification.type_trend_per_year`) to the power (years before that date) lower a rate;
    from that date on, at the rate the rest of the model is calibrated to (a run starting
    there is unchanged)."""
    p = ctx.config.identification
    years_before = max(0.0, (ctx.timeline.month_index(p.type_trend_until) - ctx.t) / 12.0)
    if years_before == 0.0:
        return np.ones(len(need_type))
    trend = np.asarray(p.type_trend_per_year, dtype=np.float64)
    return np.power(1.0 + trend[need_type], -years_before)


def step(ctx: StepContext, expertise_boost: np.ndarray | float = 0.0) -> np.ndarray:
    """Identify new needs; return the view indices identified this month (with Reception
    entrants who arrive this month on support from an early-years setting, and known needs
    back on support), so a route can give them its own school-led level."""
    c = ctx.c
    arrived = np.flatnonzero((c.year_group == RECEPTION) & (c.support_level == SEN_SUPPORT) & (c.first_support_month == ctx.t))
    idx = ctx.need_rows()
    idx = idx[~c.identified[idx]]
    p = identification_probability(ctx, idx, expertise_boost if np.isscalar(expertise_boost) else expertise_boost[idx])
    found = idx[ctx.uniform("identification", idx) < p]
    c.identified[found] = True
    start = found[c.support_level[found] == NONE]
    c.support_level[start] = SEN_SUPPORT
    c.support_since[start] = ctx.t
    ctx.log("identified", found)
    back = _end_support_when_need_resolves(ctx)
    return np.union1d(np.union1d(found, arrived), back)


def _end_support_when_need_resolves(ctx: StepContext) -> np.ndarray:
    """At a support review (once a cycle), support ends if the need has (nearly) resolved, and
    restarts for a known need that has grown back; returns the restarted."""
    c = ctx.c
    cycle = ctx.config.requests.review_cycle_months
    idx = np.flatnonzero((c.support_level == SEN_SUPPORT) & (c.severity < ctx.config.identification.removal_severity))
    due = idx[(ctx.t - c.support_since[idx]) % cycle == cycle - 1]
    c.support_level[due] = NONE
    c.isp[due] = False
    c.identified[due] = c.severity[due] > 0
    ctx.log("support_ended", due)
    # the school still knows a remaining need: support restarts at a review if it grows back
    # above the threshold (before, such needs stayed known but unsupported for good)
    known = np.flatnonzero(c.identified & (c.support_level == NONE) & (c.severity >= ctx.config.identification.removal_severity)
                           & (c.year_group <= YEAR_11))
    back = known[(ctx.t - c.support_since[known]) % cycle == cycle - 1]
    c.support_level[back] = SEN_SUPPORT
    c.support_since[back] = ctx.t
    ctx.log("support_restarted", back)
    return back
