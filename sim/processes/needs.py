"""Need dynamics: onset, growth while unmet, improvement while met, resolution (MODEL.md §4.2)."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaincinv

from sim.config.schema import NEED_TYPES
from sim.step_context import StepContext


def step(ctx: StepContext) -> None:
    c, needs = ctx.c, ctx.config.needs
    on_roll = c.year_group <= 13
    has_need = c.severity > 0
    # onset among children without need [assume: constant hazard, FSM odds as at the start]
    candidates = np.flatnonzero(on_roll & ~has_need)
    u = ctx.uniform("need-onset", candidates)
    # FSM children develop needs faster too (half the prevalence odds ratio, on the log scale) [assume]
    rate = needs.onset_rate_per_year / 12 * np.where(c.fsm[candidates], np.sqrt(needs.fsm_need_odds_ratio), 1.0)
    new = candidates[u < rate]
    if len(new):
        _emerge(ctx, new)
    # growth and improvement [assume]: unmet need grows, met need eases
    idx = np.flatnonzero(on_roll & has_need & (c.year_group <= 11))  # post-16 support is not modelled
    matched = c.support_intensity[idx] >= ctx.config.sen_support.match_fraction * c.severity[idx]
    drift = np.where(matched, needs.growth_when_met_per_year, needs.growth_when_unmet_per_year) / 12
    c.severity[idx] = np.maximum(c.severity[idx] + drift.astype(np.float32), 0.0)
    # resolution of mild needs that are met (or mild enough to fade on their own)
    mild = idx[(c.severity[idx] < needs.resolution_severity) & matched]
    resolved = mild[ctx.uniform("need-resolution", mild) < needs.resolution_rate_per_year / 12]
    c.severity[resolved] = 0.0
    c.severity[idx[c.severity[idx] <= 0.0]] = 0.0


def _emerge(ctx: StepContext, new: np.ndarray) -> None:
    c, needs = ctx.c, ctx.config.needs
    fsm = c.fsm[new]
    weights = np.array(needs.type_mix)[None, :] * np.exp(np.outer(fsm, needs.deprivation_type_tilt))
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    need_type = (ctx.uniform("need-type", new)[:, None] > cum).sum(axis=1).clip(0, len(NEED_TYPES) - 1)
    type_sev = np.array(needs.type_severity)
    mix = np.array(needs.type_mix) / np.sum(needs.type_mix)
    type_sev = type_sev / (mix * type_sev).sum()
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
