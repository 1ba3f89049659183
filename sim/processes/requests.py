"""Requests for an EHC needs assessment, from schools and from parents (docs/MODEL.md).

School requests follow two assess-plan-do-review cycles and rise with budget pressure; parent
requests rise with advocacy, private evidence (a report the family bought for an earlier request),
distrust of mainstream and with how many families they know whose children have plans (the peer
effect over the family network). A parent who requests buys a private report first if the family
can afford one (`family.buy_reports`). Both vary with the child's year group at equal need
(`requests.age_profile`), derived so that the flows of new plans keep the start census's EHCP
shares by year group (docs/DYNAMICS.md).
"""

from __future__ import annotations

import numpy as np

from sim.population.network import share_of_ties
from sim.population.state import EHCP, IDLE, NEVER, REQUESTED, SEN_SUPPORT
from sim.processes import family, support
from sim.step_context import BOUND_MARGIN, StepContext


def anticipation(ctx: StepContext) -> float:
    """Surge of requests before a reform switch (1 outside the window or in the baseline)."""
    tr = ctx.config.transition
    start, end = ctx.timeline.month_index(tr.anticipation_from), ctx.timeline.month_index(tr.anticipation_to)
    return tr.anticipation_multiplier if start <= ctx.t <= end else 1.0


def closure(ctx: StepContext) -> float:
    """Requests while schools were closed to most pupils in the first pandemic lockdown, relative
    to other months (`requests.closure_multiplier` between `requests.closure_from` and
    `requests.closure_to`; 1 outside the window, so a run starting after 2020 is unaffected).

    Why: requests fell 8% in 2020 (T093 against T094) after rising 14% in 2019 (T095): schools ran
    no assess-plan-do-review cycles on most pupils and services that give evidence were shut. The
    children not requested keep their need and stay eligible, so the requests are deferred to the
    months after reopening, not lost. Without this the fit of a backtest reads the dip as slow
    growth and lowers the growth levers."""
    r = ctx.config.requests
    start, end = ctx.timeline.month_index(r.closure_from), ctx.timeline.month_index(r.closure_to)
    return r.closure_multiplier if start <= ctx.t <= end else 1.0


def propensity_trend(ctx: StepContext) -> float:
    """The secular rise in request propensity this month: (1 + `requests.propensity_trend_per_year`)
    to the power of the years since `requests.propensity_trend_anchor` (the run's start if none).

    Why the anchor: the request rates' plausible ranges describe 2025 (they were calibrated to
    2025's requests). A run from 2015 whose rates hold at its start would search 2015's rates in
    2025's range, whose floor then keeps the start's requests too high whenever the trend is
    steep, so a fit to the early years prefers a flat trend. Anchored at 2025, the fitted rate is
    2025's and the fitted trend dates the start's rates back (a negative exponent before it)."""
    r = ctx.config.requests
    anchor = 0 if r.propensity_trend_anchor is None else ctx.timeline.month_index(r.propensity_trend_anchor)
    return (1 + r.propensity_trend_per_year) ** ((ctx.t - anchor) / 12.0)


def eligible(ctx: StepContext) -> np.ndarray:
    """Children who could be the subject of a request this month: school age, with need, without
    a plan, not already in the statutory process, and past the cooldown after a refusal."""
    c, r = ctx.c, ctx.config.requests
    def cooled(idx: np.ndarray) -> np.ndarray:
        last = c.last_refusal_month[idx]
        return (last == NEVER) | (ctx.t - last >= r.cooldown_months)

    idx = ctx.need_rows()
    return idx[(c.support_level[idx] < EHCP) & (c.pipeline[idx] == IDLE) & cooled(idx)]


def hazards(ctx: StepContext, idx: np.ndarray, parent_strength: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Monthly request hazards (school, parent) for the children at view indices `idx`."""
    school, parent = hazards_before_peers(ctx, idx, parent_strength)
    return school, parent * peer_factor(ctx, idx)


def hazards_before_peers(ctx: StepContext, idx: np.ndarray, parent_strength: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """`hazards` (school, parent) without the parent hazard's last factor, the peer effect
    (`peer_factor`): the parent hazard is this one times it, and it lies between 1 and
    `peer_factor_most`."""
    c, r = ctx.c, ctx.config.requests
    severity = np.power(np.maximum(c.severity[idx], 1e-3), r.severity_elasticity)
    unmet = ~support.is_matched(ctx, idx)
    common = (
        severity * np.exp(r.unmet_effect * unmet) * propensity_trend(ctx)
        * anticipation(ctx) * closure(ctx) * ctx.councils.request_multiplier[c.council[idx]]
        * np.asarray(r.age_profile)[np.clip(c.year_group[idx], 0, len(r.age_profile) - 1)]
    )
    months_on_support = ctx.t - c.support_since[idx]
    ready = (c.support_level[idx] == SEN_SUPPORT) & (months_on_support >= r.review_cycles_before_school_request * r.review_cycle_months)
    pressure = np.clip(ctx.schools.budget_pressure[c.school[idx]] - 1.0, 0.0, r.budget_pressure_cap)  # overstretch beyond the cap adds nothing
    school = np.where(ready, r.school_monthly_rate * common * np.exp(r.budget_pressure_effect * pressure), 0.0)
    parent = (
        r.parent_monthly_rate
        * common
        * np.exp(parent_strength * r.advocacy_effect * (c.advocacy[idx] - 0.5))
        * np.exp(r.private_report_effect * c.private_report[idx])
        * np.exp(r.trust_effect * (0.5 - c.trust[idx]))
    )
    return school, parent


def peer_factor(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """The parent hazard's peer effect: exp(`requests.peer_effect` x the share of the family's ties
    on roll whose children hold a plan), for the children at view indices `idx`."""
    # the ties of these children only (not a mark for every row of the population); only
    # children on roll count as peers
    ties = ctx.children.ties[idx + ctx.lo]
    tie_on_roll = (ties >= ctx.lo) & (ties < ctx.hi)
    holds_plan = np.zeros(ties.shape, dtype=bool)
    holds_plan[tie_on_roll] = ctx.children.support_level[ties[tie_on_roll]] == EHCP
    return np.exp(ctx.config.requests.peer_effect * share_of_ties(ties, holds_plan))


def peer_factor_most(ctx: StepContext) -> float:
    """The largest `peer_factor` any child can have (every tie's child holding a plan)."""
    return float(np.exp(max(ctx.config.requests.peer_effect, 0.0)))


def with_peers(ctx: StepContext, idx: np.ndarray, u: np.ndarray, school: np.ndarray, parent: np.ndarray,
               parent_scale: float = 1.0) -> tuple[np.ndarray, ...]:
    """(idx, u, school, parent) of the children at view indices `idx` who could be selected with
    the most peer effect, the parent hazard now with each one's own peer factor. `u`: their
    draws; `parent`: their parent hazards before peers (`hazards_before_peers`), counted times
    `parent_scale` in the total; `school`: the hazard the total adds to it.

    Why: the peer shares over the family network are most of the exact hazards' work, and with
    every other factor exact the most peer effect leaves most children whose draw fell below the
    first bound (`hazard_bound`, `tiers.referral_bound`) still out of reach; the others' share is never needed. The
    parent hazard is multiplied by the peer factor last, as in `hazards`: the same numbers."""
    most = peer_factor_most(ctx) * parent_scale
    reach = u < (1.0 - np.exp(-(school + parent * most))) * (1.0 + BOUND_MARGIN)
    idx, u, school, parent = idx[reach], u[reach], school[reach], parent[reach]
    return idx, u, school, parent * peer_factor(ctx, idx)


def hazard_bound(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """An upper bound of each child's monthly request probability (`hazards`, school plus parent).

    Why per child: the hazard rises with severity to the power `requests.severity_elasticity`,
    so the most severe child's probability is near 1 and no one bound for everyone would leave
    anybody out. Every other factor is bounded by its largest value this month (`factor_bounds`),
    and the child's own severity term is kept: most children with need are mild, their bound is
    small, and only children whose draw falls below it need the exact hazards
    (`StepContext.draws_below`), whose peer shares over the family network take most of the work.
    """
    common, school, parent = factor_bounds(ctx)
    return 1.0 - np.exp(-severity_term(ctx, ctx.c.severity[idx]) * (common * (school + parent)))


def severity_term(ctx: StepContext, severity: np.ndarray) -> np.ndarray:
    """The hazards' own factor of a child's severity (severity to `requests.severity_elasticity`)."""
    return np.power(np.maximum(severity, 1e-3), ctx.config.requests.severity_elasticity)


def factor_bounds(ctx: StepContext, parent_strength: float = 1.0) -> tuple[float, float, float]:
    """(common, school, parent): each of `hazards`' factors other than the severity term at its
    largest this month, so that a child's school hazard is at most severity term x common x
    school and its parent hazard at most severity term x common x parent.

    The largest values: unmet need, the propensity trend, the anticipation and closure factors,
    the highest council and year-group multipliers, budget pressure at its cap, the most advocacy
    (scaled by `parent_strength`, as in `hazards`) and the least trust on roll, a private report,
    and every peer holding a plan."""
    c, r = ctx.c, ctx.config.requests
    advocacy = np.asarray([c.advocacy.min(), c.advocacy.max()], dtype=np.float64) if len(c.advocacy) else np.array([0.5])
    trust = np.asarray([c.trust.min(), c.trust.max()], dtype=np.float64) if len(c.trust) else np.array([0.5])
    common = (
        np.exp(max(r.unmet_effect, 0.0)) * propensity_trend(ctx)
        * anticipation(ctx) * closure(ctx) * float(np.max(ctx.councils.request_multiplier, initial=0.0))
        * float(np.max(r.age_profile))
    )
    school = r.school_monthly_rate * np.exp(max(r.budget_pressure_effect * r.budget_pressure_cap, 0.0))
    parent = (
        r.parent_monthly_rate
        * float(np.exp(parent_strength * r.advocacy_effect * (advocacy - 0.5)).max())
        * np.exp(max(r.private_report_effect, 0.0))
        * float(np.exp(r.trust_effect * (0.5 - trust)).max())
        * np.exp(max(r.peer_effect, 0.0))
    )
    return float(common), float(school), float(parent)


def step(ctx: StepContext) -> None:
    """Requests this month from schools and parents (competing hazards from `hazards`).

    Exact hazards are worked out only for the children whose keyed draw is below their bound
    (`hazard_bound`), and peer shares only for those still within reach of the most peer effect
    (`with_peers`); the draws are the same whoever else is drawn for, so the same children
    request as when every eligible child's hazards are computed."""
    idx = eligible(ctx)
    idx, u = ctx.draws_below("request", idx, hazard_bound(ctx, idx))
    idx, u, school, parent = with_peers(ctx, idx, u, *hazards_before_peers(ctx, idx))
    total = school + parent
    made = u < 1.0 - np.exp(-total)
    rows = idx[made]
    by_parent = ctx.uniform("request-who", rows) < parent[made] / np.maximum(total[made], 1e-12)
    register(ctx, rows, by_parent, "request")


def register(ctx: StepContext, rows: np.ndarray, by_parent: np.ndarray, process: str) -> None:
    """Start the statutory clock for new requests (EHC needs assessment or specialist assessment)."""
    c = ctx.c
    c.pipeline[rows] = REQUESTED
    c.pipeline_since[rows] = ctx.t
    c.request_month[rows] = ctx.t
    c.request_fraction[rows] = ctx.uniform(f"{process}-when", rows).astype(np.float32)
    c.request_by_parent[rows] = by_parent
    c.ep_hours_received[rows] = 0.0
    c.ep_done_month[rows] = NEVER
    family.buy_reports(ctx, rows[by_parent])  # the evidence goes with the request to the council
    ctx.log("request", rows, by_parent=by_parent)
