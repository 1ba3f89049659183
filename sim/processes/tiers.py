"""The tiered route's own mechanisms (docs/MODEL.md).

Universal offer (training, Inclusive Mainstream Fund), Targeted and Targeted Plus with an ISP
for every child, Experts at Hand days shared through school groups, inclusion-base rollout,
referral for specialist assessment against package thresholds, complaints instead of
tribunals, and the reassessment of legacy EHCPs at phase transfer with its protections.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from sim.population.institutions import INDEPENDENT, PRIMARY, SECONDARY, SPECIAL
from sim.population.state import (
    EHCP,
    INCLUSION_BASE,
    INDEPENDENT_SPECIAL,
    NEVER,
    NONE,
    STATE_SPECIAL,
    TARGETED,
    TARGETED_PLUS,
)
from sim.population.year_groups import YEAR_7, YEAR_11, YEAR_12
from sim.processes import family, support
from sim.processes import placement as placement_process
from sim.processes import requests as requests_process
from sim.processes import reviews as reviews_process
from sim.step_context import StepContext, rank_within_groups


def ramp(t: int, start: int, end: int) -> float:
    """0 before `start`, rising linearly from the first month to reach 1 at `end`."""
    if t < start:
        return 0.0
    if end <= start:
        return 1.0
    return min(1.0, (t - start + 1) / (end - start + 1))  # first funded month > 0; 1 from `end`


# ---- universal offer -------------------------------------------------------------------------
def expertise_gain(ctx: StepContext) -> float:
    """Extra school SEN expertise from the reform's training this month: gain x uptake, ramped in
    from the funding start (assumptions: the reform publishes the funding, not the effect)."""
    r = ctx.config.reform
    start = ctx.timeline.month_index(r.funding_start)
    return r.training_expertise_gain * r.training_uptake * ramp(ctx.t, start, start + r.training_ramp_months)


def universal_provision_gain(ctx: StepContext) -> float:
    """Extra support a mainstream school can give from the Inclusive Mainstream Fund this month,
    ramped in over `reform.imf_ramp_months` from the funding start (assumptions)."""
    r = ctx.config.reform
    start = ctx.timeline.month_index(r.funding_start)
    return r.imf_intensity_gain * ramp(ctx.t, start, start + r.imf_ramp_months)


# ---- Experts at Hand --------------------------------------------------------------------------
def experts_days_per_month(ctx: StepContext) -> np.ndarray:
    """Funded and filled Experts at Hand days per school this month."""
    r, schools = ctx.config.reform, ctx.schools
    start = ctx.timeline.month_index(r.funding_start) + r.experts_hiring_lag_months
    end = ctx.timeline.month_index(r.experts_target_date) + r.experts_hiring_lag_months
    level = ramp(ctx.t, start, end) * (1 - r.experts_vacancy_rate) * r.experts_capacity_multiplier
    target = np.where(schools.phase == PRIMARY, r.experts_days_primary, np.where(schools.phase == SECONDARY, r.experts_days_secondary, 0.0))
    return target * level / 12


def allocate_experts(ctx: StepContext, candidates: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Share each school group's days among its candidates, most severe first.

    Returns (served view indices, days used, days available); used never exceeds available.
    """
    r, c, schools = ctx.config.reform, ctx.c, ctx.schools
    days = experts_days_per_month(ctx)
    group_capacity = np.bincount(np.maximum(schools.group, 0), weights=np.where(schools.group >= 0, days, 0.0))
    per_child = r.experts_days_per_child / 12
    group = schools.group[c.home_school[candidates]]
    eligible = candidates[group >= 0]
    group = group[group >= 0]
    ctx.councils.experts_days_capacity[:] = np.bincount(schools.council, weights=days, minlength=len(ctx.councils))
    ctx.councils.experts_days_used[:] = 0.0
    if len(eligible) == 0:
        return eligible, 0.0, float(group_capacity.sum())
    _, rank = rank_within_groups(group, -c.severity[eligible])  # (float32: the same order as in float64)
    served = (rank + 1) * per_child <= group_capacity[group] + 1e-9
    used = float(served.sum() * per_child)
    ctx.councils.experts_days_used[:] = np.bincount(c.council[eligible[served]], minlength=len(ctx.councils)) * per_child
    return eligible[served], used, float(group_capacity.sum())


# ---- inclusion-base rollout -------------------------------------------------------------------
def rollout_inclusion_bases(ctx: StepContext, order: np.ndarray, initial_places: np.ndarray) -> None:
    """Each September of the rollout, open bases until each phase reaches its share on a straight
    line from the share before the rollout to the target."""
    r, schools = ctx.config.reform, ctx.schools
    start = ctx.timeline.month_index(r.inclusion_base_rollout_start)
    if ctx.month != 9 or ctx.t < start:
        return
    years_in = (ctx.t - start) // 12 + 1
    progress = min(1.0, years_in / r.inclusion_base_rollout_years)
    for phase, target in ((PRIMARY, r.inclusion_base_primary_target), (SECONDARY, r.inclusion_base_secondary_target)):
        for council in np.unique(schools.council):
            in_phase = order[(schools.phase[order] == phase) & (schools.council[order] == council)]
            have = schools.base_places[in_phase] > 0
            start_share = (initial_places[in_phase] > 0).mean() if len(in_phase) else 0.0
            wanted = int(round(len(in_phase) * max(start_share, start_share + (target - start_share) * progress)))
            missing = wanted - int(have.sum())
            if missing > 0:
                new = in_phase[~have][:missing]
                schools.base_places[new] = ctx.config.placement.inclusion_base_places


# ---- tiers ------------------------------------------------------------------------------------
def assessed_severity(ctx: StepContext, idx: np.ndarray, process: str) -> np.ndarray:
    """Need as an assessment sees it: true severity plus assessment noise
    (`reform.assessment_noise_sd`, an assumption), drawn from the `process` stream."""
    return ctx.c.severity[idx] + ctx.config.reform.assessment_noise_sd * ctx.normal(process, idx)


def assign_tier(ctx: StepContext, severity_seen: np.ndarray) -> np.ndarray:
    """The school-led tier matching the need as seen: Targeted Plus at or above the Targeted Plus
    threshold, Targeted below it. The one rule every tier decision uses (entry, ISP review, a
    legacy plan moving to an ISP); each passes the severity it sees (assessed with noise, or not)."""
    plus = severity_seen >= ctx.config.reform.targeted_plus_threshold
    return np.where(plus, TARGETED_PLUS, TARGETED).astype(np.int8)


def place_in_tiers(ctx: StepContext, idx: np.ndarray) -> None:
    """Entry at any layer: a newly identified child goes straight to the tier matching need."""
    c = ctx.c
    idx = idx[c.support_level[idx] < EHCP]
    level = assign_tier(ctx, assessed_severity(ctx, idx, "tier-entry"))
    c.support_level[idx] = level
    c.support_since[idx] = ctx.t
    c.isp[idx] = True
    ctx.log("isp_opened", idx, targeted_plus=level == TARGETED_PLUS)


def give_isps(ctx: StepContext) -> None:
    """Every child at Targeted or above holds an ISP once the tiered route runs."""
    c = ctx.c
    school_led = (c.support_level == TARGETED) | (c.support_level == TARGETED_PLUS)
    new = np.flatnonzero(school_led & ~c.isp & (c.year_group <= YEAR_11))
    c.isp[new] = True
    c.support_since[new] = ctx.t
    ctx.log("isp_opened", new, targeted_plus=c.support_level[new] == TARGETED_PLUS)


def isp_reviews(ctx: StepContext) -> None:
    """Yearly ISP review: escalate, de-escalate or end support."""
    c, r = ctx.c, ctx.config.reform
    held = np.flatnonzero(c.isp & ((c.support_level == TARGETED) | (c.support_level == TARGETED_PLUS)))
    age = ctx.t - c.support_since[held]
    due = held[(age > 0) & (age % r.isp_review_months == 0)]
    if len(due) == 0:
        return
    seen = assessed_severity(ctx, due, "isp-review")
    ended = due[c.severity[due] < ctx.config.identification.removal_severity]
    kept = due[c.severity[due] >= ctx.config.identification.removal_severity]
    seen_kept = seen[c.severity[due] >= ctx.config.identification.removal_severity]
    c.support_level[kept] = assign_tier(ctx, seen_kept)
    c.support_level[ended] = NONE
    c.isp[ended] = False
    c.identified[ended] = c.severity[ended] > 0
    ctx.log("isp_review", due)


def complaints(ctx: StepContext) -> None:
    """Families whose Targeted support falls short complain to the school (no tribunal)."""
    c, r = ctx.c, ctx.config.reform
    idx = np.flatnonzero((c.support_level == TARGETED) & c.isp & ~support.is_matched(ctx))
    advocacy_effect = ctx.config.requests.advocacy_effect * r.family_pressure_strength
    # the same family channels as an appeal: advocacy, a private report, affording representation
    p = (r.complaint_monthly_rate * np.exp(advocacy_effect * (c.advocacy[idx] - 0.5))
         * np.exp(ctx.config.disputes.private_report_effect * c.private_report[idx])
         * np.exp(ctx.config.family.representation_appeal_effect * family.can_afford_representation(ctx, idx)))
    complain = idx[ctx.uniform("complaint", idx) < p]
    upheld = complain[ctx.uniform("complaint-outcome", complain) < r.complaint_upheld]
    c.support_level[upheld] = TARGETED_PLUS
    ctx.log("complaint", complain, upheld=np.isin(complain, upheld))


# ---- specialist tier --------------------------------------------------------------------------
def referrals(ctx: StepContext) -> None:
    """Requests for specialist assessment: school referrals above the package threshold, and
    families pressing (their resources still matter, scaled by family_pressure_strength).

    Exact hazards are worked out only for the children whose keyed draw is below their bound
    (`referral_bound`), and peer shares only for those still within reach of the most peer
    effect (`requests.with_peers`), as for requests: the same children are referred."""
    c, r = ctx.c, ctx.config.reform
    idx = requests_process.eligible(ctx)
    idx, u = ctx.draws_below("referral", idx, referral_bound(ctx, idx))
    _, family = requests_process.hazards_before_peers(ctx, idx, parent_strength=r.family_pressure_strength)
    above = c.identified[idx] & (c.severity[idx] >= r.inclusion_base_package_threshold)
    school = np.where(above, r.school_referral_monthly_rate, 0.0)
    idx, u, school, family = requests_process.with_peers(ctx, idx, u, school, family, parent_scale=r.family_pressure_scale)
    family = family * r.family_pressure_scale
    total = school + family
    made = u < 1.0 - np.exp(-total)
    rows = idx[made]
    by_parent = ctx.uniform("referral-who", rows) < family[made] / np.maximum(total[made], 1e-12)
    requests_process.register(ctx, rows, by_parent, "referral")


def referral_bound(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """An upper bound of each child's monthly referral probability (`referrals`): the school's
    rate wherever severity reaches the package threshold, plus the family's hazard with every
    factor but the child's severity term at its largest (`requests.factor_bounds`).

    Why: the referral stage runs every month of the new rules over every child with need who
    could be referred (about a quarter of the roll), and the exact family hazard (peer shares
    over the family network above all) cost more than the rest of the stage; most children are
    mild and their bound is small, so few draws fall below it."""
    c, r = ctx.c, ctx.config.reform
    severity = c.severity[idx]
    common, _, parent = requests_process.factor_bounds(ctx, parent_strength=r.family_pressure_strength)
    family = requests_process.severity_term(ctx, severity) * (common * parent * r.family_pressure_scale)
    school = np.where(severity >= r.inclusion_base_package_threshold, r.school_referral_monthly_rate, 0.0)
    return 1.0 - np.exp(-(school + family))


def specialist_plan_probability(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """A specialist EHCP only if assessed need reaches the lowest package threshold."""
    r = ctx.config.reform
    sd = max(r.assessment_noise_sd, 1e-6)
    return ndtr((ctx.c.severity[idx] - r.inclusion_base_package_threshold) / sd)


def place_specialist(ctx: StepContext, idx: np.ndarray) -> None:
    """The council names the package's setting: special school above its threshold (independent
    if no state place), otherwise an inclusion base (mainstream with package if none has room)."""
    c, r = ctx.c, ctx.config.reform
    if len(idx) == 0:
        return
    c.isp[idx] = True
    c.legacy_ehcp[idx] = False
    seen = assessed_severity(ctx, idx, "package")
    special = idx[seen >= r.special_school_package_threshold]
    c.preferred_special[special] = True
    c.special_wanted[special] = True  # a package names special school: the child gets a place (state or independent)
    named_special = np.isin(idx, special)
    declined = special[placement_process.cannot_travel(ctx, special)]  # ... unless the family cannot reach it
    special = special[~np.isin(special, declined)]
    ctx.log("travel_declined", declined)
    c.special_secured[special] = True
    free = placement_process.free_special_places(ctx)
    _, rank = rank_within_groups(c.council[special], -c.severity[special].astype(np.float64))
    state = rank < np.maximum(free[c.council[special]], 0)
    placement_process.move_to(ctx, special[state], STATE_SPECIAL, SPECIAL)
    placement_process.move_to(ctx, special[~state], INDEPENDENT_SPECIAL, INDEPENDENT)
    base = idx[(seen < r.special_school_package_threshold) | np.isin(idx, declined)]
    c.school[base] = c.home_school[base]
    free_base = placement_process.free_base_places(ctx)
    _, rank = rank_within_groups(c.school[base], -c.severity[base].astype(np.float64))
    into = rank < np.maximum(free_base[c.school[base]], 0)
    c.placement[base] = np.where(into, INCLUSION_BASE, 0).astype(np.int8)
    ctx.log("placement", idx, placement=c.placement[idx], preferred_special=named_special)


# ---- legacy plans -----------------------------------------------------------------------------
def review_legacy_plans(ctx: StepContext, candidates: np.ndarray) -> None:
    """Reassess legacy EHCPs against the package threshold; those below move to an ISP, no
    earlier than the no-change date. Protected children are not reassessed."""
    c, tr, r = ctx.c, ctx.config.transition, ctx.config.reform
    if ctx.t < ctx.timeline.month_index(tr.legacy_review_from) or len(candidates) == 0:
        return
    legacy = candidates[(c.support_level[candidates] == EHCP) & c.legacy_ehcp[candidates] & (c.legacy_move_month[candidates] == NEVER)]
    if tr.protect_special_school_pupils:
        legacy = legacy[~np.isin(c.placement[legacy], (STATE_SPECIAL, INDEPENDENT_SPECIAL))]
    if tr.protect_older_pupils:
        switch = ctx.timeline.month_index(tr.legal_switch)
        in_secondary_at_switch = c.entry_year[legacy] <= ctx.timeline.academic_year(switch) - YEAR_7
        legacy = legacy[~in_secondary_at_switch | (c.year_group[legacy] >= YEAR_12)]
    keeps = assessed_severity(ctx, legacy, "legacy-review") >= r.inclusion_base_package_threshold
    kept, moves = legacy[keeps], legacy[~keeps]
    c.legacy_ehcp[kept] = False  # now a specialist plan under the new rules
    c.isp[kept] = True
    when = max(ctx.t, ctx.timeline.month_index(tr.no_change_before))
    c.legacy_move_month[moves] = when
    ctx.log("legacy_review", legacy, keeps=keeps)


def apply_legacy_moves(ctx: StepContext) -> None:
    """Legacy plans due to move this month cease and the child moves to the school-led tier its need
    matches (with an ISP), or to no support if the need has resolved."""
    c = ctx.c
    due = np.flatnonzero((c.legacy_move_month != NEVER) & (c.legacy_move_month <= ctx.t) & (c.support_level == EHCP))
    if len(due) == 0:
        return
    reviews_process.cease(ctx, due, "moved_to_isp")
    c.support_level[due] = np.where(c.severity[due] > 0, assign_tier(ctx, c.severity[due]), NONE).astype(np.int8)
    c.isp[due] = c.severity[due] > 0
    c.legacy_move_month[due] = NEVER
    ctx.log("legacy_moved", due)

