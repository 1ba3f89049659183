"""What families buy from their own money: private reports, representation, tutoring or therapy.

Why: the disadvantage gaps the model reports should come from the process, not only from who
starts with more need. Better-off families buy evidence (a private educational psychologist or
clinical report, reported at £800-£2,000), representation and expert evidence at tribunal, and
tutoring or therapy while school support falls short; families without the money cannot. Each
family spends from one budget (`family_budget`, drawn by income quintile), so money spent on
tutoring is not there for a report later. Whether a family that can pay does so rises with its
advocacy (knowing the system, time, confidence). Every purchase is logged and accumulated per
child (`spent_*`), so the money families put into the process is an output by FSM and quintile.
"""

from __future__ import annotations

import numpy as np

from sim.processes import support
from sim.step_context import StepContext


def _affordable(ctx: StepContext, idx: np.ndarray, cost: float) -> np.ndarray:
    """Whether the families at view indices `idx` have `cost` left of their budget.

    The budget left is worked out for these children only, not for everyone on roll (called a
    dozen times a month, often for a handful of children); the same float32 arithmetic as
    `ChildArrays.budget_left`, child by child, so the answer is the same.
    """
    if not len(idx):
        return np.zeros(0, dtype=bool)
    c = ctx.c
    spent = c.spent_reports[idx] + c.spent_representation[idx] + c.spent_tutoring[idx]
    return c.family_budget[idx] - spent >= cost


def buy_reports(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """Parents making a request buy a private report first if they can afford it and are motivated
    (a report they already hold serves again). Returns the view indices that bought one."""
    c, f = ctx.c, ctx.config.family
    idx = idx[~c.private_report[idx]]
    can = idx[_affordable(ctx, idx, f.private_report_cost)]
    buys = can[ctx.uniform("family-report", can) < f.report_purchase_at_full_advocacy * c.advocacy[can]]
    c.private_report[buys] = True
    c.private_reports_bought[buys] = np.minimum(c.private_reports_bought[buys] + 1, 127)
    c.spent_reports[buys] += np.float32(f.private_report_cost)
    ctx.log("private_report", buys, cost=np.float32(f.private_report_cost))
    return buys


def can_afford_representation(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """Whether the families at view indices `idx` have enough of their budget left for
    representation and expert evidence (`family.representation_cost`, from reported fees)."""
    return _affordable(ctx, idx, ctx.config.family.representation_cost)


def buy_representation(ctx: StepContext, idx: np.ndarray) -> None:
    """Families registering an appeal pay for representation and expert evidence if they can afford
    it and are motivated; the others go to tribunal alone (or with free advice)."""
    c, f = ctx.c, ctx.config.family
    can = idx[_affordable(ctx, idx, f.representation_cost)]
    buys = can[ctx.uniform("family-representation", can) < f.representation_at_full_advocacy * c.advocacy[can]]
    c.represented[idx] = False
    c.represented[buys] = True
    c.spent_representation[buys] += np.float32(f.representation_cost)
    ctx.log("representation", buys, cost=np.float32(f.representation_cost))


def tutoring(ctx: StepContext) -> None:
    """While a school-age child's need is unmet, families who can pay buy tutoring or therapy this
    month: attainment beyond what school support gives (it does not count as matched support)."""
    c, f = ctx.c, ctx.config.family
    idx = ctx.need_rows()
    idx = idx[~support.matched_on_roll(ctx)[idx]]
    can = idx[_affordable(ctx, idx, f.tutoring_cost_per_month)]
    tutored = can[ctx.uniform("family-tutoring", can) < f.tutoring_at_full_advocacy * c.advocacy[can]]
    c.spent_tutoring[tutored] += np.float32(f.tutoring_cost_per_month)
    c.attainment[tutored] += np.float32(f.tutoring_gain_sd_per_year / 12)
