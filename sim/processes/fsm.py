"""FSM eligibility over time: the share of pupils eligible follows a dated, published path.

Why: FSM eligibility rose from 15% of pupils (2019) to 26% (2025) through the pandemic and
Universal Credit's transitional protection, so a model that holds each child's eligibility fixed
cannot reproduce the FSM shares by SEN status, or the demand they carry, in any backtest. Each
January, before the census, non-eligible pupils from the lowest-income families become eligible
until the share of Reception-Year 11 pupils reaches the path's value for that year (interpolated
between the years given). Eligibility is never withdrawn (transitional protection keeps pupils
eligible once they are). With no path (`population.fsm_share_path` empty) nothing changes.
"""

from __future__ import annotations

import numpy as np

from sim.population.year_groups import YEAR_11
from sim.step_context import StepContext


def target_share(path: dict[int, float], year: int) -> float | None:
    """The path's FSM share for `year`: linear between the years given, flat beyond them."""
    if not path:
        return None
    years = np.array(sorted(path))
    return float(np.interp(year, years, [path[y] for y in years]))


def update_eligibility(ctx: StepContext) -> None:
    """January: make the lowest-income non-eligible pupils eligible until each council's share of
    Reception-Year 11 pupils reaches the published path's value (see the module docstring)."""
    c = ctx.c
    target = target_share(ctx.config.population.fsm_share_path, ctx.year)
    if target is None:
        return
    pupils = np.flatnonzero(c.year_group <= YEAR_11)
    if len(pupils) == 0:
        return
    for council in range(len(ctx.councils)):
        mine = pupils[c.council[pupils] == council]
        wanted = int(round(target * len(mine))) - int(c.fsm[mine].sum())
        candidates = mine[~c.fsm[mine]]
        if wanted <= 0 or len(candidates) == 0:
            continue
        # lowest income first, at random within a quintile (keyed draws: common random numbers)
        order = np.lexsort((ctx.uniform("fsm-eligibility", candidates), c.income_quintile[candidates]))
        c.fsm[candidates[order[:wanted]]] = True
