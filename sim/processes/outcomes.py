"""Outcomes: attainment progress, KS2 and KS4 results, suspensions, exclusions, NEET (docs/MODEL.md).

Monthly progress = gain while support matches need (EEF-anchored) - loss while need is unmet
(scaled by severity). Tests read the latent score with noise against thresholds calibrated to
published pass rates. Suspension hazards rise with need, unmet need, SEMH and disadvantage, and
fall for families who challenge. What families buy beyond school support is `family.tutoring`.
"""

from __future__ import annotations

import numpy as np

from sim.population.state import ALTERNATIVE_PROVISION, INDEPENDENT_SPECIAL, NEET, POST16, STATE_SPECIAL
from sim.population.year_groups import KS2_YEAR, KS4_YEAR, YEAR_7
from sim.processes import support
from sim.step_context import StepContext

SEMH = 2  # index of SEMH in NEED_TYPES


def progress(ctx: StepContext) -> None:
    """Attainment moves each month: a gain while support matches need (EEF toolkit effect sizes
    [reported]) and a loss in proportion to the shortfall while it does not (an assumption)."""
    c, o = ctx.c, ctx.config.outcomes
    idx = ctx.need_rows()
    sev = c.severity[idx]
    matched = support.matched_on_roll(ctx)[idx]
    shortfall = np.maximum(sev - c.support_intensity[idx], 0.0)
    delta = np.where(matched, o.matched_gain_sd_per_year, -o.unmet_loss_sd_per_year * shortfall) / 12
    c.attainment[idx] += delta.astype(np.float32)


def suspensions(ctx: StepContext) -> None:
    """Monthly suspensions and permanent exclusions in term time: base rate and need effect from the
    published suspension rates by SEN status; raised by unmet need, SEMH and FSM, lower in primary,
    lower for families who challenge (assumptions); a fixed share of suspensions become exclusions
    (published ratio)."""
    c, o = ctx.c, ctx.config.outcomes
    # months in term time only: no suspensions in August
    if ctx.month == 8:
        return
    # only children whose draw is below the highest probability anyone like them can have this
    # month can be suspended: pupils without need are held to the highest probability without
    # need (a few times lower), pupils with need to the highest of all (nearly every pupil may be
    # drawn for: the draws are compared over the mask, no index of them)
    idx, u = ctx.draws_below("suspension", ctx.school_age() & ~c.excluded, suspension_probability_bound(ctx, with_need=False),
                             higher=(c.severity > 0, suspension_probability_bound(ctx)))
    suspended = idx[u < suspension_probability(ctx, idx)]
    c.suspensions[suspended] += 1
    c.year_suspensions[suspended] = np.minimum(c.year_suspensions[suspended] + 1, 127)
    excluded = suspended[ctx.uniform("exclusion", suspended) < o.exclusion_per_suspension]
    c.excluded[excluded] = True
    c.placement[excluded] = ALTERNATIVE_PROVISION
    ctx.log("suspension", suspended)
    ctx.log("exclusion", excluded)


def _in_special(placement: np.ndarray) -> np.ndarray:
    """Whether each placement is a state or independent special school (two comparisons: the same
    answer as `np.isin` with the two codes, without its set machinery, in a monthly hazard)."""
    return (placement == STATE_SPECIAL) | (placement == INDEPENDENT_SPECIAL)


def suspension_probability(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """This month's suspension probability of the pupils at view indices `idx` (term time)."""
    c, o = ctx.c, ctx.config.outcomes
    severity = c.severity[idx]
    sev = np.minimum(severity, o.suspension_need_cap)
    unmet = (severity > 0) & ~support.is_matched(ctx, idx)
    phase = np.where(c.year_group[idx] >= YEAR_7, o.suspension_secondary_multiplier, o.suspension_primary_multiplier)
    rate = (
        o.suspension_monthly_base
        * phase
        * np.exp(o.suspension_need_effect * sev)
        * np.exp(o.suspension_unmet_effect * unmet)
        * np.exp(o.suspension_semh_effect * (c.need_type[idx] == SEMH) * (severity > 0))
        * np.exp(o.suspension_fsm_effect * c.fsm[idx])
        * np.exp(-ctx.config.family.suspension_challenge_effect * (c.advocacy[idx] - 0.5))  # families who challenge
        * np.where(_in_special(c.placement[idx]), o.suspension_special_school_multiplier, 1.0)
    )
    return 1 - np.exp(-rate * 12 / 11)


def suspension_probability_bound(ctx: StepContext, with_need: bool = True) -> float:
    """The highest monthly suspension probability any pupil on roll can have this month: every
    factor of the hazard in `suspension_probability` at its largest (need at its cap, unmet, SEMH, FSM, the
    least advocacy on roll, the larger phase and setting multiplier).

    `with_need=False`: the highest for pupils without need (severity 0), whose need, unmet-need and
    SEMH factors are 1 (each acts only with need). Why: about three pupils in four have no need,
    and their bound is several times lower than that of a pupil with severe unmet SEMH need, so
    far fewer exact probabilities are worked out (`suspensions`)."""
    c, o = ctx.c, ctx.config.outcomes
    least_advocacy = float(c.advocacy.min()) if len(c.advocacy) else 0.5
    need_factor = (np.exp(max(o.suspension_need_effect * o.suspension_need_cap, 0.0)) * np.exp(max(o.suspension_unmet_effect, 0.0))
                   * np.exp(max(o.suspension_semh_effect, 0.0))) if with_need else 1.0
    rate = (
        o.suspension_monthly_base
        * max(o.suspension_secondary_multiplier, o.suspension_primary_multiplier)
        * need_factor
        * np.exp(max(o.suspension_fsm_effect, 0.0))
        * np.exp(max(-ctx.config.family.suspension_challenge_effect * (least_advocacy - 0.5), 0.0))
        * max(o.suspension_special_school_multiplier, 1.0)
    )
    return float(1 - np.exp(-rate * 12 / 11))


def test_score(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """Latent attainment less the penalty of the need the child has now (concave in severity):
    a need that grows lowers results, one that resolves stops weighing on them."""
    c = ctx.c
    return c.attainment[idx] - ctx.config.outcomes.severity_attainment_sd * np.log1p(c.severity[idx])


def key_stage_tests(ctx: StepContext) -> None:
    """July: Year 6 sit KS2, Year 11 sit GCSEs (English and maths grade 4+)."""
    if ctx.month != 7:
        return
    c, o = ctx.c, ctx.config.outcomes
    y6 = np.flatnonzero(c.year_group == KS2_YEAR)
    c.ks2_expected[y6] = (test_score(ctx, y6) + o.test_noise_sd * ctx.normal("ks2", y6) > o.ks2_threshold).astype(np.int8)
    y11 = np.flatnonzero(c.year_group == KS4_YEAR)
    c.ks4_em4[y11] = (test_score(ctx, y11) + o.test_noise_sd * ctx.normal("ks4", y11) > o.ks4_threshold).astype(np.int8)
    ctx.log("ks2", y6, expected=c.ks2_expected[y6], sen=c.support_level[y6])
    ctx.log("ks4", y11, em4=c.ks4_em4[y11], sen=c.support_level[y11])


def neet_at_16(ctx: StepContext, idx: np.ndarray) -> None:
    """September of Year 12: education/training or NEET, by need, unmet need, KS4 and disadvantage.

    Risk follows the young person's need and how well it was met, not the support label: a label
    without better-met need changes nothing, and need that support met (or that resolved) lowers
    it. `send` (holding support) is logged only to compare with the published SEND/non-SEND rates.
    """
    c, o = ctx.c, ctx.config.outcomes
    send = c.support_level[idx] > 0
    no_pass = c.ks4_em4[idx] != 1
    unmet_share = c.unmet_months[idx] / np.maximum(c.need_months[idx], 1)
    p = (o.neet_base * np.exp(o.neet_need_effect * np.log1p(c.severity[idx])) * np.exp(o.neet_unmet_effect * unmet_share)
         * np.where(no_pass, o.neet_no_ks4_multiplier, 1.0) * np.where(c.fsm[idx], o.neet_fsm_multiplier, 1.0))
    neet = ctx.uniform("neet", idx) < np.minimum(p, o.neet_probability_cap)
    c.neet[idx] = neet.astype(np.int8)
    stays_special = np.isin(c.placement[idx], (STATE_SPECIAL, INDEPENDENT_SPECIAL))  # special schools have sixth forms
    c.placement[idx] = np.where(neet, NEET, np.where(stays_special, c.placement[idx], POST16))
    ctx.log("neet", idx, neet=neet, send=send)
