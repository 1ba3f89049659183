"""What the model remembers while it runs: monthly system counts, January census snapshots,
calendar-year accumulators. Metrics are computed from these after the run (sim/metrics).

Why snapshots of the on-roll slice: census shares and yearly access measures need each child's
state at one moment, and copying a few small columns twelve times a run is far cheaper than
recomputing every breakdown every month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.population.state import (
    APPEAL_PLACEMENT,
    APPEAL_REFUSAL,
    ASSESSING,
    EHCP,
    INDEPENDENT_SPECIAL,
    REQUESTED,
    SEN_SUPPORT,
    STATE_SPECIAL,
    TARGETED_PLUS,
)
from sim.step_context import StepContext

SYSTEM_COLUMNS = (
    "pupils", "ehcp", "sen_support", "targeted_plus", "isp", "requested", "assessing", "appeals_open",
    "state_special", "independent_special", "need", "unmet_need", "ep_hours", "gatekeeping", "deficit",
    "high_needs_income", "experts_days_capacity", "experts_days_used",
)


@dataclass
class Snapshot:
    t: int
    lo: int
    hi: int
    columns: dict[str, np.ndarray]


class Recorder:
    def __init__(self, n_months: int, n_councils: int) -> None:
        self.system = {name: np.zeros((n_months, n_councils)) for name in SYSTEM_COLUMNS}
        self.census: list[Snapshot] = []
        self.years: list[Snapshot] = []

    def record_month(self, ctx: StepContext) -> None:
        c, t = ctx.c, ctx.t
        n = len(ctx.councils)
        pupils = c.year_group <= 11
        council = c.council

        def count(mask: np.ndarray) -> np.ndarray:
            return np.bincount(council[mask], minlength=n)

        level = c.support_level
        self.system["pupils"][t] = count(pupils)
        self.system["ehcp"][t] = count(pupils & (level == EHCP))
        self.system["sen_support"][t] = count(pupils & (level == SEN_SUPPORT))
        self.system["targeted_plus"][t] = count(pupils & (level == TARGETED_PLUS))
        self.system["isp"][t] = count(pupils & c.isp)
        self.system["requested"][t] = count(c.pipeline == REQUESTED)
        self.system["assessing"][t] = count(c.pipeline == ASSESSING)
        self.system["appeals_open"][t] = count((c.pipeline == APPEAL_REFUSAL) | (c.pipeline == APPEAL_PLACEMENT))
        self.system["state_special"][t] = count(pupils & (c.placement == STATE_SPECIAL))
        self.system["independent_special"][t] = count(pupils & (c.placement == INDEPENDENT_SPECIAL))
        need = pupils & (c.severity > 0)
        self.system["need"][t] = count(need)
        self.system["unmet_need"][t] = count(need & (c.support_intensity < ctx.config.sen_support.match_fraction * c.severity))
        self.system["ep_hours"][t] = ctx.councils.ep_hours_per_month
        self.system["gatekeeping"][t] = ctx.councils.gatekeeping
        self.system["deficit"][t] = ctx.councils.deficit
        self.system["high_needs_income"][t] = ctx.councils.high_needs_income
        self.system["experts_days_capacity"][t] = ctx.councils.experts_days_capacity
        self.system["experts_days_used"][t] = ctx.councils.experts_days_used

    def take_census(self, ctx: StepContext) -> None:
        c = ctx.c
        self.census.append(Snapshot(ctx.t, ctx.lo, ctx.hi, {
            "year_group": c.year_group.copy(),
            "support_level": c.support_level.copy(),
            "placement": c.placement.copy(),
            "need_type": c.need_type.copy(),
            "severity": c.severity.astype(np.float16),
            "isp": c.isp.copy(),
            "fsm": c.fsm.copy(),  # eligibility at the census (it can change: population.fsm_share_path)
        }))

    def close_year(self, ctx: StepContext) -> None:
        """End of December: keep the calendar year's accumulators, then reset them."""
        c = ctx.c
        self.years.append(Snapshot(ctx.t, ctx.lo, ctx.hi, {
            "year_group": c.year_group.copy(),
            "support_level": c.support_level.copy(),
            "need_type": c.need_type.copy(),
            "severity": c.severity.astype(np.float16),
            "need_months": c.year_need_months.copy(),
            "unmet_months": c.year_unmet_months.copy(),
            "matched_months": c.year_matched_months.copy(),
            "suspensions": c.year_suspensions.copy(),
        }))
        for name in ("year_need_months", "year_unmet_months", "year_matched_months", "year_suspensions"):
            getattr(c, name)[:] = 0
