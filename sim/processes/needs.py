"""Need dynamics: onset, growth while unmet, improvement while met, resolution.

Onset and resolution vary by year group (`needs.onset_age_profile`, `needs.resolution_age_profile`)
so that, with every trend switched off, the January share of pupils with latent need in each year
group is what the start census gives it: the start is a steady state of these rules rather than a
state they drift away from (docs/DYNAMICS.md gives the derivation and the check).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaincinv

from sim.population.build import onset_rate_per_year
from sim.population.need_draw import need_type_from_uniform, relative_type_severity
from sim.population.year_groups import YEAR_11, YEAR_13
from sim.processes import support
from sim.step_context import StepContext


def step(ctx: StepContext) -> None:
    """One month of need: onset among children without need (by year group and FSM, derived so the
    start census is a steady state), growth while unmet and easing while met (assumptions), and
    resolution of mild needs, faster when met."""
    c, needs = ctx.c, ctx.config.needs
    on_roll = c.year_group <= YEAR_13
    has_need = c.severity > 0
    # school age with need as the month began: derived here, the month's first stage to ask (a
    # need kept from before, by a caller that steps one context twice, may be stale)
    ctx.forget("need", "need rows", "matched")
    need_before_onset = ctx.need_rows()
    # onset among children without need, by year group [assume: derived to keep the start profile];
    # only children whose draw is below the highest hazard of any year group can have an onset
    # (most of the roll is without need: the draws are compared over the mask, no index of them)
    candidates, u = ctx.draws_below("need-onset", on_roll & ~has_need, onset_probability_bound(ctx))
    rate = onset_rate_per_year(needs, c.year_group[candidates], c.fsm[candidates]) / 12 * pandemic_multiplier(ctx)
    new = candidates[u < rate]
    if len(new):
        _emerge(ctx, new)
    # growth and improvement [assume]: unmet need grows, met need eases
    # (need as the month began: the onsets above start to change next month); the rows' severity
    # is gathered once, changed here and written back once
    idx = need_before_onset  # post-16 support is not modelled
    severity = c.severity[idx]
    matched = support.matches(ctx, c.support_intensity[idx], severity)
    drift = (np.array([needs.growth_when_unmet_per_year, needs.growth_when_met_per_year]) / 12).astype(np.float32)
    severity = np.maximum(severity + drift[matched.view(np.uint8)], 0.0)
    # resolution of mild needs, by year group: met ones at the full rate, unmet ones more slowly
    mild = np.flatnonzero(severity < needs.resolution_severity)
    candidates = idx[mild]
    resolution_profile = np.asarray(needs.resolution_age_profile)
    rate = (needs.resolution_rate_per_year / 12 * resolution_profile[c.year_group[candidates]]
            * np.where(matched[mild], 1.0, needs.unmet_resolution_ratio))
    severity[mild[ctx.uniform("need-resolution", candidates) < rate]] = 0.0
    severity[severity <= 0.0] = 0.0
    c.severity[idx] = severity
    _update_need(ctx, idx, severity > 0.0, new)


def _update_need(ctx: StepContext, idx: np.ndarray, still: np.ndarray, new: np.ndarray) -> None:
    """The month's need mask and rows (`StepContext.need`, `need_rows`) after this stage: the rows
    `idx` (need as the month began) keep need where `still`, and the onsets `new` of school age
    gain it; matched support is forgotten (severity changed).

    Why not derive them afresh: finding the set rows of a mask of the whole roll costs more than
    the rest of this update; the rows kept and the onsets (both ascending, and disjoint: an onset
    had no need) merge into the same ascending rows that `np.flatnonzero` of the new mask gives
    (`tests/test_performance.py` checks both at the end of every month)."""
    c = ctx.c
    need = ctx.need().copy()
    need[idx[~still]] = False
    onsets = new[c.year_group[new] <= YEAR_11]
    need[onsets] = True
    kept = idx[still]
    ctx.forget("need", "need rows", "matched")
    ctx.memo("need", lambda: need)
    ctx.memo("need rows", lambda: np.insert(kept, np.searchsorted(kept, onsets), onsets))


def onset_probability_bound(ctx: StepContext) -> float:
    """The highest monthly onset probability of any child this month (every year group, FSM or not)."""
    needs = ctx.config.needs
    year_groups = np.arange(YEAR_13 + 1)
    rates = onset_rate_per_year(needs, np.r_[year_groups, year_groups], np.r_[np.zeros(len(year_groups), bool), np.ones(len(year_groups), bool)])
    return float(rates.max() / 12 * pandemic_multiplier(ctx))


def pandemic_multiplier(ctx: StepContext) -> float:
    """Onset of new need during the pandemic's school closures and their aftermath, relative to
    other months (`needs.pandemic_onset_multiplier` between `needs.pandemic_from` and
    `needs.pandemic_to`; 1 = no shock, the default until a backtest fits it)."""
    needs = ctx.config.needs
    within = ctx.timeline.month_index(needs.pandemic_from) <= ctx.t <= ctx.timeline.month_index(needs.pandemic_to)
    return needs.pandemic_onset_multiplier if within else 1.0


def _emerge(ctx: StepContext, new: np.ndarray) -> None:
    c, needs = ctx.c, ctx.config.needs
    fsm = c.fsm[new]
    need_type = need_type_from_uniform(needs, fsm, ctx.uniform("need-type", new))
    type_sev = relative_type_severity(needs)
    shape = needs.severity_shape
    u = np.clip(ctx.uniform("need-severity", new), 1e-9, 1 - 1e-9)
    raw = gammaincinv(shape, u) * needs.severity_mean / shape
    # later onsets are milder on average than needs present from the start [assume]
    trend = (1 + needs.severity_trend_per_year) ** ctx.years_since_start()
    severity = needs.later_onset_severity_ratio * raw * type_sev[need_type] * np.where(fsm, needs.fsm_severity_multiplier, 1.0) * trend
    c.need_type[new] = need_type
    c.severity[new] = severity.astype(np.float32)
    c.onset_month[new] = ctx.t
    ctx.log("need_onset", new)


def record_emerged(ctx: StepContext) -> None:
    """Keep each need's severity as it emerged this month: support then shapes severity (unmet need
    grows, met need eases), so comparisons "at equal need" group children by need at onset."""
    c = ctx.c
    emerged = c.onset_month == ctx.t
    c.onset_severity[emerged] = c.severity[emerged]
