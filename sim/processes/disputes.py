"""Mediation and the SEND Tribunal (MODEL.md §3 national services, §5 step 6).

Refusals (to assess, to issue a plan) and placements are appealable [law]. Whether a family
appeals rises with advocacy and private evidence; many mediate first and most mediations settle;
the rest join the tribunal queue, where a third are conceded before the hearing and families win
almost every decided case [data]. The tribunal is modelled per council (a share of national
capacity, as a waiting time), so councils can be run apart without changing results.
"""

from __future__ import annotations

import numpy as np

from sim.population.state import APPEAL_PLACEMENT, APPEAL_REFUSAL, ASSESSING, EHCP, IDLE, NEVER
from sim.processes import placement as placement_process
from sim.processes.finance import book_transaction
from sim.step_context import StepContext, rank_within_groups

KINDS = ("refusal_to_assess", "refusal_to_issue", "placement", "content")


def appeal_probability(ctx: StepContext, idx: np.ndarray, kind: str, strength: float = 1.0, scale: float = 1.0) -> np.ndarray:
    c, d = ctx.c, ctx.config.disputes
    base = {"refusal_to_assess": d.appeal_refusal_base, "refusal_to_issue": d.appeal_refusal_base,
            "placement": d.appeal_placement_base, "content": d.appeal_content_base}[kind]
    odds = base * np.exp(strength * d.advocacy_effect * (c.advocacy[idx] - 0.5)) * np.exp(d.private_report_effect * c.private_report[idx])
    return np.minimum(scale * odds * ctx.councils.appeal_multiplier[c.council[idx]], 0.95)


def consider_appeal(ctx: StepContext, idx: np.ndarray, kind: str, strength: float = 1.0, scale: float = 1.0) -> None:
    """Families react to an appealable decision: do nothing, mediate, or register an appeal."""
    if len(idx) == 0:
        return
    c, d = ctx.c, ctx.config.disputes
    ctx.log("appealable_decision", idx, kind=kind)
    appeals = idx[ctx.uniform(f"appeal-{kind}", idx) < appeal_probability(ctx, idx, kind, strength, scale)]
    mediates = ctx.uniform(f"mediation-{kind}", appeals) < d.mediation_share
    mediated = appeals[mediates]
    settles = ctx.uniform(f"mediation-outcome-{kind}", mediated) < d.mediation_settles
    ctx.log("mediation", mediated, kind=kind, settled=settles)
    book_transaction(ctx, "mediation", mediated, ctx.config.finance.mediation_cost)
    _family_wins(ctx, mediated[settles], kind)
    to_tribunal = np.concatenate([appeals[~mediates], mediated[~settles]])
    ctx.log("appeal", to_tribunal, kind=kind)
    book_transaction(ctx, "tribunal", to_tribunal, ctx.config.finance.tribunal_cost)
    if kind == "content":
        # disputes over plan contents: the plan stands meanwhile; resolved at hearing (costed, counted)
        return
    earliest = d.min_months_to_hearing + ctx.uniform(f"tribunal-listing-{kind}", to_tribunal)
    c.hearing_month[to_tribunal] = (ctx.t + np.ceil(earliest)).astype(np.int16)
    c.pipeline[to_tribunal] = APPEAL_PLACEMENT if kind == "placement" else APPEAL_REFUSAL
    c.pipeline_since[to_tribunal] = ctx.t


def hear_appeals(ctx: StepContext) -> None:
    """Appeals past their earliest listing date are conceded (a third) or wait for a hearing slot;
    each council's share of tribunal capacity hears the oldest first (the queue)."""
    c, d = ctx.c, ctx.config.disputes
    listed = np.flatnonzero(((c.pipeline == APPEAL_REFUSAL) | (c.pipeline == APPEAL_PLACEMENT)) & (c.hearing_month <= ctx.t))
    if len(listed) == 0:
        return
    # a concession happens once, when the appeal is first listed; it needs no hearing slot
    first_listing = c.hearing_month[listed] == ctx.t
    conceded_now = first_listing & (ctx.uniform("tribunal-conceded", listed) < d.settled_before_hearing)
    waiting = listed[~conceded_now]
    _, rank = rank_within_groups(c.council[waiting], c.pipeline_since[waiting].astype(np.float64) + c.request_fraction[waiting])
    slots = np.floor(ctx.councils.tribunal_hearings_per_month  # global ids: blocks stay exact
                     + ctx.streams.uniform("tribunal-slots", ctx.t, ctx.councils.global_id))
    heard = waiting[rank < slots[c.council[waiting]]]
    due = np.concatenate([listed[conceded_now], heard])
    conceded = np.concatenate([np.ones(conceded_now.sum(), dtype=bool), np.zeros(len(heard), dtype=bool)])
    wins = conceded | (ctx.uniform("tribunal-decision", due) < d.family_win_rate)
    ctx.log("tribunal_outcome", due, conceded=conceded, won=wins, decided=~conceded, kind=c.pipeline[due])
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
