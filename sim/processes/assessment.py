"""EHC needs assessment (docs/MODEL.md): EP time is the binding constraint.

Each month the council's EP hours (its own, near the demand for them, plus bought-in time once
the backlog is long) go to assessments in queue order (FIFO by request date, or by severity). Once EP advice is in, other advice and drafting complete with a monthly hazard,
no sooner than the statutory minimum; most assessed children then get a plan (94-95% [data]).
Timeliness is measured from the request, to the week, against the 20-week limit [law].
"""

from __future__ import annotations

import numpy as np

from sim.population.state import ASSESSING, EHCP, IDLE, NEVER
from sim.processes import decisions
from sim.processes.finance import book_transaction, inflation
from sim.step_context import StepContext, rank_within_groups
from sim.timeline import WEEKS_PER_MONTH


def allocate_ep_time(ctx: StepContext) -> None:
    """Give this month's EP hours to assessments in queue order (FIFO by request, or most severe
    first with `assessment.priority`): EP time is what delays plans past the 20-week limit in this
    model, and councils' own hours are calibrated to the 2025 share of plans issued within 20 weeks."""
    c, a = ctx.c, ctx.config.assessment
    active = ctx.in_process()
    queue = active[(c.pipeline[active] == ASSESSING) & (c.ep_done_month[active] == NEVER)]
    ctx.councils.ep_locum_hours[:] = 0.0
    if len(queue) == 0:
        return
    if a.priority == "severity":
        priority = -c.severity[queue].astype(np.float64)
    else:
        priority = c.request_month[queue] + c.request_fraction[queue].astype(np.float64)
    order, _ = rank_within_groups(c.council[queue], priority)
    ordered = queue[order]
    remaining = np.maximum(a.ep_hours_per_assessment - c.ep_hours_received[ordered], 0.0).astype(np.float64)
    council = c.council[ordered]
    cum = np.cumsum(remaining)
    starts = np.flatnonzero(np.concatenate(([True], council[1:] != council[:-1])))
    offset = np.repeat(cum[starts] - remaining[starts], np.diff(np.concatenate((starts, [len(ordered)]))))
    before = cum - remaining - offset  # hours ahead of this child in its council's queue
    capacity = ep_capacity_this_month(ctx, np.bincount(council, weights=remaining, minlength=len(ctx.councils)))
    available = capacity[council]
    served = np.clip(available - before, 0.0, remaining)
    c.ep_hours_received[ordered] += served.astype(np.float32)
    done = ordered[c.ep_hours_received[ordered] >= a.ep_hours_per_assessment - 1e-6]
    c.ep_done_month[done] = ctx.t
    ctx.log("ep_advice", done)


def ep_capacity_this_month(ctx: StepContext, backlog_hours: np.ndarray) -> np.ndarray:
    """Each council's EP hours for statutory assessments this month: its own EPs, plus bought-in
    (locum) time once the backlog exceeds what its EPs clear in `ep_backlog_tolerance_months`.

    Why: councils whose queues grow buy in locum EP time, but only up to a limit
    (`ep_locum_max_share` of their own hours; EP shortages mean locums are scarce and dear).
    With own hours near demand, the queue, and so timeliness, responds to EP capacity in both
    directions; the locum time is booked to the assessment line at its hourly cost.
    """
    a = ctx.config.assessment
    own = ctx.councils.ep_hours_per_month
    locum = np.clip(backlog_hours - a.ep_backlog_tolerance_months * own, 0.0, a.ep_locum_max_share * own)
    ctx.councils.ep_locum_hours[:] = locum
    if locum.any():
        ctx.ledger.book(ctx.t, "ep_locum", np.arange(len(own)), locum * a.ep_locum_cost_per_hour * inflation(ctx))
    return own + locum


def plan_probability(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """EHCP route: most assessed children get a plan; fewer when the need is mild; more when the
    family brings its own expert report (`decisions.issue_log_odds_from_evidence`)."""
    a = ctx.config.assessment
    mild = ctx.c.severity[idx] < ctx.config.reviews.plan_needs_met_severity
    base = np.where(mild, a.plan_issued_probability * a.mild_need_plan_ratio, a.plan_issued_probability)
    factor = np.exp(decisions.issue_log_odds_from_evidence(ctx, idx))  # odds x factor; p = 0 or 1 stay put
    return base * factor / (1.0 - base + base * factor)


def issue_plans(ctx: StepContext, on_issued=None, on_not_issued=None, probability=plan_probability) -> np.ndarray:
    """Finish assessments whose advice is in; return view indices of new plans.

    `probability(ctx, idx)` is the route's rule for whether an assessment ends in a plan.
    """
    c, a = ctx.c, ctx.config.assessment
    # drafting and consultation follow the EP advice, so a late EP report makes a late plan
    active = ctx.in_process()
    ep_done_month = c.ep_done_month[active]
    ready = active[
        (c.pipeline[active] == ASSESSING) & (ep_done_month != NEVER) & (ctx.t - c.request_month[active] >= a.minimum_months)
        & (ctx.t - ep_done_month >= a.months_after_ep_advice)
    ]
    # a share of assessments wait long for health/social care advice: the class is fixed per request
    slow = ctx.streams.uniform("advice-class", 0, c.key[ready] ^ c.request_month[ready].astype(np.uint64)) < a.slow_advice_share
    completion = np.where(slow, a.slow_advice_monthly_completion, a.other_advice_monthly_completion)
    completion = 1.0 - (1.0 - completion) ** ctx.councils.advice_speed[c.council[ready]]  # council practice
    completes = ready[ctx.uniform("assessment-advice", ready) < completion]
    if len(completes) == 0:
        return completes
    plan = ctx.uniform("assessment-outcome", completes) < probability(ctx, completes)
    issued, not_issued = completes[plan], completes[~plan]
    weeks = ((ctx.t + ctx.uniform("assessment-when", issued)) - (c.request_month[issued] + c.request_fraction[issued])) * WEEKS_PER_MONTH
    ctx.log("assessment", completes, plan=plan)
    book_transaction(ctx, "assessment", completes, ctx.config.finance.assessment_cost)
    ctx.log("plan_issued", issued, weeks=weeks.astype(np.float32), by_parent=c.request_by_parent[issued],
            request_month=c.request_month[issued].copy())
    c.pipeline[completes] = IDLE
    c.support_level[issued] = EHCP
    ctx.forget("plan holders")
    c.support_since[issued] = ctx.t
    c.plan_start_month[issued] = ctx.t
    c.identified[issued] = True
    c.last_refusal_month[not_issued] = ctx.t
    if on_issued is not None:
        on_issued(ctx, issued)
    if on_not_issued is not None:
        on_not_issued(ctx, not_issued, "refusal_to_issue")
    return issued
