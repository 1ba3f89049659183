"""Finance (docs/MODEL.md): book each month's costs to the right budget, update deficits.

Standing costs (support, placements, alternative provision, transport) are booked here monthly
at annual rates / 12 (transport to the council's general fund, which pays for it, not to the
high-needs block),
with unit costs inflating each year; transactional costs (assessments, mediations, appeals) are
booked where they happen. Deficits accumulate high-needs spend above income; gatekeeping
tightens with the deficit, more so once the statutory override ends [law: March 2028].
"""

from __future__ import annotations

import numpy as np

from sim.population.state import (
    ALTERNATIVE_PROVISION,
    INCLUSION_BASE,
    INDEPENDENT_SPECIAL,
    MAINSTREAM,
    NEET,
    PLACEMENT_NAMES,
    POST16,
    STATE_SPECIAL,
)
from sim.population.year_groups import YEAR_11, YEAR_13
from sim.processes import placement
from sim.step_context import StepContext


def inflation(ctx: StepContext) -> float:
    """Unit costs' growth since the start: (1 + `finance.cost_inflation`) per year, monthly compounding."""
    return (1 + ctx.config.finance.cost_inflation) ** (ctx.t / 12)


def book_transaction(ctx: StepContext, line: str, idx: np.ndarray, unit_cost: float) -> None:
    """Book one unit cost per child at view indices `idx` to the ledger `line` of each child's council, at this month's prices."""
    if len(idx):
        ctx.ledger.book(ctx.t, line, ctx.c.council[idx], unit_cost * inflation(ctx))


def book_month(ctx: StepContext) -> None:
    """Book this month's standing costs (annual rates / 12) to each budget, then update deficits (see the module docstring)."""
    c, f = ctx.c, ctx.config.finance
    k = inflation(ctx) / 12
    schools = ctx.schools
    # SEN support paid for by central reform funds (the Inclusive Mainstream Fund) is booked there,
    # by the route, and not again as the school's own spending
    ctx.ledger.book(ctx.t, "sen_support", schools.council, np.maximum(schools.sen_spend - schools.central_sen_funding, 0.0) * k)
    plans = ctx.plan_holders()
    plans = plans[(c.year_group[plans] <= YEAR_13) & (c.placement[plans] != NEET)]
    placement = c.placement[plans]
    council = c.council[plans]
    mainstream = (placement == MAINSTREAM) & (c.year_group[plans] <= YEAR_11)
    base = placement == INCLUSION_BASE
    contribution = ctx.config.sen_support.mainstream_contribution
    ctx.ledger.book(ctx.t, "ehcp_school_contribution", council[mainstream | base], contribution * k)
    topped_up = mainstream | (placement == POST16)
    ctx.ledger.book(ctx.t, "ehcp_mainstream_topup", council[topped_up], f.ehcp_mainstream_topup * k)
    # alternative provision (pupil referral units) is place-funded from the high-needs block for
    # every pupil in it, with or without a plan
    in_ap = np.flatnonzero((c.placement == ALTERNATIVE_PROVISION) & (c.year_group <= YEAR_11))
    ctx.ledger.book(ctx.t, "alternative_provision", c.council[in_ap], f.alternative_provision_cost * k)
    ctx.ledger.book(ctx.t, "inclusion_base", council[base], f.inclusion_base_cost * k)
    ctx.ledger.book(ctx.t, "state_special", council[placement == STATE_SPECIAL], f.state_special_cost * k)
    ctx.ledger.book(ctx.t, "independent_special", council[placement == INDEPENDENT_SPECIAL], f.independent_special_cost * k)
    # the share transported, by setting (inclusion base, state special, independent; any other
    # setting the first share), looked up by placement code (the same values as np.select)
    shares = np.array(f.transported_share, dtype=np.float64)
    by_setting = np.full(len(PLACEMENT_NAMES), shares[0])
    by_setting[[INCLUSION_BASE, STATE_SPECIAL, INDEPENDENT_SPECIAL]] = shares[1:]
    transport_share = by_setting[placement]
    ctx.ledger.book(ctx.t, "transport", council, transport_share * f.transport_cost * k)
    update_deficit(ctx)


def update_deficit(ctx: StepContext) -> None:
    """Add this month's high-needs spend less income to each council's deficit; gatekeeping rises with the
    deficit relative to income, more steeply once the statutory override ends [law: March 2028], up to
    `finance.gatekeeping_max` (the sensitivity is an assumption)."""
    f, councils = ctx.config.finance, ctx.councils
    spend = ctx.ledger.high_needs_spend(ctx.t)
    councils.spend_this_year += spend
    councils.deficit += spend - councils.high_needs_income / 12
    override_over = ctx.t > ctx.timeline.month_index(f.statutory_override_until)
    sensitivity = f.gatekeeping_per_deficit * (f.gatekeeping_after_override_multiplier if override_over else 1.0)
    # a council with no high-needs income is at full pressure once in deficit (not 0/0 = NaN)
    pressure = np.divide(sensitivity * np.maximum(councils.deficit, 0), councils.high_needs_income,
                         out=np.where(councils.deficit > 0, np.inf, 0.0), where=councils.high_needs_income > 0)
    councils.gatekeeping[:] = councils.gatekeeping_base + np.minimum(pressure, f.gatekeeping_max)


def new_financial_year(ctx: StepContext) -> None:
    """April: income uplift; EP capacity and special places grow; spend counters reset."""
    f, councils = ctx.config.finance, ctx.councils
    councils.high_needs_income *= 1 + f.high_needs_income_growth
    councils.ep_hours_per_month *= 1 + ctx.config.assessment.ep_capacity_growth_per_year
    placement.commission_places(ctx)
    councils.spend_this_year[:] = 0.0
