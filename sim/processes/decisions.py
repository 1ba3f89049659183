"""The council's decision whether to assess (docs/MODEL.md): due within 6 weeks [law].

The panel decides requests in arrival order up to its monthly capacity (overload delays
decisions). Refusal is likelier for parent requests, weaker evidence, no private report, and
when the council gatekeeps to protect its budget.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from sim.population.state import ASSESSING, IDLE, REQUESTED
from sim.step_context import StepContext, rank_within_groups
from sim.timeline import WEEKS_PER_MONTH


def refusal_probability(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """Chance the panel refuses to assess: likelier for parent requests (51% of parents' requests
    refused against 20% of schools', from FOI returns), less likely with more severe need or a
    private report, and likelier where the council gatekeeps to protect a high-needs deficit
    (the severity, report and gatekeeping effects are assumptions)."""
    c, d = ctx.c, ctx.config.decision
    parent = c.request_by_parent[idx]
    logit = (
        d.refusal_intercept
        + d.severity_effect * (c.severity[idx] - 1.0)
        + d.parent_request_effect * parent
        + d.private_report_effect * (parent & c.private_report[idx])
        + d.gatekeeping_effect * ctx.councils.gatekeeping[c.council[idx]]
    )
    return expit(logit)


def issue_log_odds_from_evidence(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """Log-odds added to the council's decision to issue a plan after assessing, from the evidence
    the family brings: a private educational psychologist or clinical report it paid for. Why: the
    council decides on the evidence in front of it, and a family's own expert report can show a
    need the council's advice understates; only families with the money buy one, so this is where
    the quality of evidence carries family resources into the decision (beside the report's effect
    on the decision to assess, `decision.private_report_effect`)."""
    return ctx.config.decision.private_report_issue_effect * ctx.c.private_report[idx].astype(np.float64)


def monthly_capacity(per_month: np.ndarray, t: int) -> np.ndarray:
    """Whole decisions available in month `t` from a fractional monthly capacity, carrying the
    fraction: floor(capacity x (t + 1)) - floor(capacity x t). Over any run the councils decide
    exactly their capacity on average. Why: a small simulated council (e.g. 400 pupils at
    `population.scale` 0.01: 0.9 decisions a month) would otherwise round down to none and never
    decide a request; a whole-number capacity is unchanged."""
    return np.floor(per_month * (t + 1)) - np.floor(per_month * t)


def step(ctx: StepContext, on_refused=None) -> None:
    """Decide waiting requests; `on_refused(ctx, idx)` lets disputes react to refusals."""
    c = ctx.c
    active = ctx.in_process()
    waiting = active[(c.pipeline[active] == REQUESTED) & (c.pipeline_since[active] < ctx.t)]
    if len(waiting) == 0:
        return
    order, rank = rank_within_groups(c.council[waiting], c.request_month[waiting] + c.request_fraction[waiting])
    capacity = monthly_capacity(ctx.councils.decisions_per_month, ctx.t)[c.council[waiting]]
    decided = waiting[rank < capacity]
    refuse = ctx.uniform("decision", decided) < refusal_probability(ctx, decided)
    refused, accepted = decided[refuse], decided[~refuse]
    weeks = (ctx.t + 0.5 - c.request_month[decided] - c.request_fraction[decided]) * WEEKS_PER_MONTH
    ctx.log("decision", decided, refused=refuse, weeks=weeks.astype(np.float32), by_parent=c.request_by_parent[decided])
    c.pipeline[accepted] = ASSESSING
    c.pipeline_since[accepted] = ctx.t
    c.pipeline[refused] = IDLE
    c.last_refusal_month[refused] = ctx.t
    if on_refused is not None:
        on_refused(ctx, refused, "refusal_to_assess")
