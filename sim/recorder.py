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
from sim.processes import support
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
        self.start_need: dict[str, np.ndarray] | None = None
        self.ever: dict[str, np.ndarray] | None = None

    def track_children(self, children) -> None:
        """Remember each child's need as the run starts and follow who ever holds a plan or a special place.

        Why: need-standardised gaps compare children at the same need *before* the policy acts
        (severity drifts with unmet need, so need at the end of the run is partly an outcome),
        and "EHCP receipt" or "special-school placement" conditional on need are whole-run
        statuses that January snapshots would miss between censuses. Called once, after the
        population is built and before the first step.
        """
        self.start_need = {"severity": children.severity.copy(), "need_type": children.need_type.copy()}
        self.ever = {"ehcp": np.zeros(len(children), dtype=bool), "special": np.zeros(len(children), dtype=bool)}
        # who held an EHCP (school age) at the end of the month before the legal switch: the
        # transition cohort, whose fate under the reform the comparison report follows
        self.plans_at_switch: np.ndarray | None = None

    def record_month(self, ctx: StepContext) -> None:
        """The month's system counts per council, and who ever held a plan or a special place.

        Why it is written as it is (it runs every month over every child on roll): the school-age,
        need and matched masks are the month's own (`StepContext.need`,
        `support.matched_on_roll`), not derived again here, and with several councils a mask is
        counted by a bincount of the councils of its rows (most masks select few children), not
        with the whole mask as weights. Counts are whole numbers, so they are the same numbers
        however they are counted."""
        c, t = ctx.c, ctx.t
        n = len(ctx.councils)
        pupils = ctx.school_age()
        council = c.council.astype(np.intp) if n > 1 else None  # cast once, not once per count

        def count(mask: np.ndarray) -> np.ndarray:
            if n == 1:  # one council: a count is a sum (several times faster than a bincount)
                return np.count_nonzero(mask)
            return np.bincount(council[mask], minlength=n)

        level = c.support_level
        if t == ctx.timeline.month_index(ctx.config.transition.legal_switch) - 1:
            held = np.zeros(len(ctx.children.key), dtype=bool)
            held[ctx.lo:ctx.hi] = pupils & (level == EHCP)
            self.plans_at_switch = held
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
        need = ctx.need()
        self.system["need"][t] = count(need)
        self.system["unmet_need"][t] = count(need & ~support.matched_on_roll(ctx))
        self.system["ep_hours"][t] = ctx.councils.ep_hours_per_month
        self.system["gatekeeping"][t] = ctx.councils.gatekeeping
        self.system["deficit"][t] = ctx.councils.deficit
        self.system["high_needs_income"][t] = ctx.councils.high_needs_income
        self.system["experts_days_capacity"][t] = ctx.councils.experts_days_capacity
        self.system["experts_days_used"][t] = ctx.councils.experts_days_used
        if self.ever is not None:
            self.ever["ehcp"][ctx.lo:ctx.hi] |= level == EHCP
            self.ever["special"][ctx.lo:ctx.hi] |= (c.placement == STATE_SPECIAL) | (c.placement == INDEPENDENT_SPECIAL)

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
