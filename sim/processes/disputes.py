"""Mediation and the SEND Tribunal (docs/MODEL.md).

Refusals (to assess, to issue a plan), placements and plan contents are appealable [law]. Whether
a family appeals rises with advocacy, private evidence and whether it can afford representation;
many mediate first and most mediations settle; the rest join the tribunal queue. Families who can
pay bring representation and expert evidence: councils concede more of their appeals when first
listed and they win more decided cases (families win almost every decided case overall [data]);
families without advocacy or representation withdraw more while they wait. The tribunal is
modelled per council (a share of national capacity, as a waiting time), so councils can be run
apart without changing results.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from sim.population.state import APPEAL_PLACEMENT, APPEAL_REFUSAL, ASSESSING, EHCP, IDLE, NEVER
from sim.processes import family
from sim.processes import placement as placement_process
from sim.processes.finance import book_transaction
from sim.step_context import StepContext, rank_within_groups

KINDS = ("refusal_to_assess", "refusal_to_issue", "placement", "content")


def appeal_probability(ctx: StepContext, idx: np.ndarray, kind: str, strength: float = 1.0, scale: float = 1.0) -> np.ndarray:
    """Chance a family appeals an appealable decision of this `kind`: base rates calibrated to the
    published share of decisions appealed and the mix of appeal types; rises with advocacy
    [reported], a private report and the means to pay for representation (assumptions), and with
    the council's appeal multiplier; never above `disputes.appeal_probability_cap`."""
    c, d = ctx.c, ctx.config.disputes
    base = {"refusal_to_assess": d.appeal_refusal_base, "refusal_to_issue": d.appeal_refusal_base,
            "placement": d.appeal_placement_base, "content": d.appeal_content_base}[kind]
    odds = (base * np.exp(strength * d.advocacy_effect * (c.advocacy[idx] - 0.5)) * np.exp(d.private_report_effect * c.private_report[idx])
            * np.exp(ctx.config.family.representation_appeal_effect * family.can_afford_representation(ctx, idx)))
    return np.minimum(scale * odds * appeal_propensity_trend(ctx) * ctx.councils.appeal_multiplier[c.council[idx]], d.appeal_probability_cap)


def appeal_propensity_trend(ctx: StepContext) -> float:
    """Families' readiness to appeal, dated: lower before `disputes.appeal_trend_until`.

    Why: appeals to the tribunal roughly quadrupled from 2019 to 2025 (5.8 to 24 per 10,000
    pupils: T182, T180, T177, T171, SEN2 2025) while refusals and plans only doubled, so the
    propensity to appeal an appealable decision rose (awareness, advice networks, the published
    win rate). The `disputes.appeal_*_base` propensities are calibrated to 2025; before the
    date they are divided by (1 + `disputes.appeal_trend_per_year`) per year, after it held.

    With `disputes.appeal_trend_anchor` set, the propensities are those of the anchor month
    instead (multiplied by the trend for the years from the anchor to the month, or to
    `appeal_trend_until` if that came first; divided before the anchor). Why: a backtest dates
    the propensities to its earliest appeals point (T182, 2019); anchored there, a fit that
    moves the trend changes the growth after that point, not the level the point fixed."""
    d = ctx.config.disputes
    until = ctx.timeline.month_index(d.appeal_trend_until)
    if d.appeal_trend_anchor is not None:
        years = (min(ctx.t, until) - ctx.timeline.month_index(d.appeal_trend_anchor)) / 12.0
        return float((1.0 + d.appeal_trend_per_year) ** years)
    years_before = max(0.0, (until - ctx.t) / 12.0)
    return float((1.0 + d.appeal_trend_per_year) ** -years_before)


def consider_appeal(ctx: StepContext, idx: np.ndarray, kind: str, strength: float = 1.0, scale: float = 1.0) -> None:
    """Families react to an appealable decision: do nothing, mediate, or register an appeal."""
    if len(idx) == 0:
        return
    c, d = ctx.c, ctx.config.disputes
    ctx.log("appealable_decision", idx, kind=kind)
    appeals = idx[ctx.uniform(f"appeal-{kind}", idx) < appeal_probability(ctx, idx, kind, strength, scale)]
    if len(appeals) == 0:  # most decisions: nobody appeals, and nothing below would change
        return
    mediates = ctx.uniform(f"mediation-{kind}", appeals) < d.mediation_share
    mediated = appeals[mediates]
    settles = ctx.uniform(f"mediation-outcome-{kind}", mediated) < d.mediation_settles
    ctx.log("mediation", mediated, kind=kind, settled=settles)
    book_transaction(ctx, "mediation", mediated, ctx.config.finance.mediation_cost)
    _family_wins(ctx, mediated[settles], kind)
    to_tribunal = np.concatenate([appeals[~mediates], mediated[~settles]])
    ctx.log("appeal", to_tribunal, kind=kind)
    book_transaction(ctx, "tribunal", to_tribunal, ctx.config.finance.tribunal_cost)
    family.buy_representation(ctx, to_tribunal)
    if kind == "content":
        # disputes over plan contents: the plan stands meanwhile; resolved at hearing (costed,
        # counted); a family that wins gets more provision written into the plan
        won = to_tribunal[ctx.uniform("tribunal-decision-content", to_tribunal) < win_probability(ctx, to_tribunal)]
        _family_wins(ctx, won, kind)
        return
    earliest = d.min_months_to_hearing + ctx.uniform(f"tribunal-listing-{kind}", to_tribunal)
    c.hearing_month[to_tribunal] = (ctx.t + np.ceil(earliest)).astype(np.int16)
    c.pipeline[to_tribunal] = APPEAL_PLACEMENT if kind == "placement" else APPEAL_REFUSAL
    c.pipeline_since[to_tribunal] = ctx.t


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def concession_probability(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """The council concedes an appeal when first listed: more often when the family brings
    representation and expert evidence (`settled_before_hearing` is the average)."""
    d, f = ctx.config.disputes, ctx.config.family
    return expit(_logit(d.settled_before_hearing) + f.representation_concession_effect * (ctx.c.represented[idx].astype(np.float64) - 0.5))


def win_probability(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """A decided appeal: represented families win at the published rate, unrepresented ones less."""
    d, f = ctx.config.disputes, ctx.config.family
    return expit(_logit(d.family_win_rate) + f.representation_win_effect * (ctx.c.represented[idx].astype(np.float64) - 1.0))


def withdrawals(ctx: StepContext) -> None:
    """Families waiting for a hearing withdraw: more often without advocacy or representation (who
    can afford to wait). A withdrawn appeal is lost: the refusal or placement stands."""
    c, f = ctx.c, ctx.config.family
    active = ctx.in_process()
    stage = c.pipeline[active]
    waiting = active[(stage == APPEAL_REFUSAL) | (stage == APPEAL_PLACEMENT)]
    if len(waiting) == 0:
        return
    rate = (f.withdrawal_monthly_rate * np.exp(-f.withdrawal_advocacy_effect * (c.advocacy[waiting] - 0.5))
            * np.where(c.represented[waiting], f.withdrawal_represented_multiplier, 1.0))
    gone = waiting[ctx.uniform("tribunal-withdrawal", waiting) < 1.0 - np.exp(-rate)]
    if len(gone) == 0:
        return
    no = np.zeros(len(gone), dtype=bool)
    ctx.log("tribunal_outcome", gone, conceded=no, won=no, decided=no, withdrawn=~no, kind=c.pipeline[gone],
            represented=c.represented[gone])
    c.pipeline[gone] = IDLE
    c.hearing_month[gone] = NEVER
    c.last_refusal_month[gone] = ctx.t


def hear_appeals(ctx: StepContext) -> None:
    """Appeals past their earliest listing date are conceded (a quarter on average, more with
    representation) or wait for a hearing slot; each council's share of tribunal capacity hears the
    oldest first (the queue)."""
    c = ctx.c
    active = ctx.in_process()
    stage = c.pipeline[active]
    listed = active[((stage == APPEAL_REFUSAL) | (stage == APPEAL_PLACEMENT)) & (c.hearing_month[active] <= ctx.t)]
    if len(listed) == 0:
        return
    # a concession happens once, when the appeal is first listed; it needs no hearing slot
    first_listing = c.hearing_month[listed] == ctx.t
    conceded_now = first_listing & (ctx.uniform("tribunal-conceded", listed) < concession_probability(ctx, listed))
    waiting = listed[~conceded_now]
    _, rank = rank_within_groups(c.council[waiting], c.pipeline_since[waiting].astype(np.float64) + c.request_fraction[waiting])
    slots = np.floor(ctx.councils.tribunal_hearings_per_month  # global ids: blocks stay exact
                     + ctx.streams.uniform("tribunal-slots", ctx.t, ctx.councils.global_id))
    heard = waiting[rank < slots[c.council[waiting]]]
    due = np.concatenate([listed[conceded_now], heard])
    conceded = np.concatenate([np.ones(conceded_now.sum(), dtype=bool), np.zeros(len(heard), dtype=bool)])
    wins = conceded | (ctx.uniform("tribunal-decision", due) < win_probability(ctx, due))
    ctx.log("tribunal_outcome", due, conceded=conceded, won=wins, decided=~conceded, withdrawn=np.zeros(len(due), dtype=bool),
            kind=c.pipeline[due], represented=c.represented[due])
    refusal = c.pipeline[due] == APPEAL_REFUSAL
    c.pipeline[due] = IDLE
    c.hearing_month[due] = NEVER
    _family_wins(ctx, due[wins & refusal], "refusal_to_assess")
    holds_plan = c.support_level[due] == EHCP
    _family_wins(ctx, due[wins & ~refusal & holds_plan], "placement")
    c.last_refusal_month[due[~wins]] = ctx.t


def _family_wins(ctx: StepContext, idx: np.ndarray, kind: str) -> None:
    c = ctx.c
    if len(idx) == 0:
        return
    if kind in ("refusal_to_assess", "refusal_to_issue"):
        c.pipeline[idx] = ASSESSING
        c.pipeline_since[idx] = ctx.t
        c.last_refusal_month[idx] = NEVER
        if kind == "refusal_to_issue":  # the assessment is done: the plan follows the order
            c.ep_hours_received[idx] = ctx.config.assessment.ep_hours_per_assessment
            c.ep_done_month[idx] = ctx.t
    elif kind == "placement":
        placement_process.name_special(ctx, idx)
    elif kind == "content":
        c.plan_uplift[idx] = np.float32(ctx.config.family.content_challenge_gain)
