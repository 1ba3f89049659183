"""What the model remembers while it runs: monthly system counts, January censuses and
calendar-year accumulators summed into cells. Metrics are computed from these after the run
(sim/metrics).

Why cells taken at the moment: census shares and yearly access measures need each child's state
at one moment, and every breakdown of them is a sum of whole-number counts over the pupils of a
group. Summed at once into (breakdown groups) cells, a national census is a few tens of
thousands of rows instead of a copy of eight million pupils' columns, and the metrics read the
same sums (exact in any order) that they would have made from the copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.cells import Cells, reduce_census, reduce_year
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
from sim.population.year_groups import YEAR_11
from sim.processes import support
from sim.step_context import StepContext

SYSTEM_COLUMNS = (
    "pupils", "ehcp", "sen_support", "targeted_plus", "isp", "requested", "assessing", "appeals_open",
    "state_special", "independent_special", "need", "unmet_need", "ep_hours", "gatekeeping", "deficit",
    "high_needs_income", "experts_days_capacity", "experts_days_used",
)


@dataclass
class Snapshot:
    """One child per row: the on-roll slice [lo, hi) of a few columns at month t (kept only on request)."""

    t: int
    lo: int
    hi: int
    columns: dict[str, np.ndarray]


class Recorder:
    """Monthly system counts, each January census and each calendar year's access measures.

    Censuses and years are summed into cells (`Cells`) as they are taken, so the recorder holds
    no per-pupil copies (about 17 bytes per pupil and year: some 1.5 GiB of a national worker's
    10.5 GiB peak; 0.42 GiB measured at scale 0.3). Cells group pupils by their breakdowns
    *as the metrics read them*: FSM, income quintile and council at the end of the run. Those are
    the values at the census unless FSM eligibility can still change later in the run
    (`population.fsm_share_path`: eligibility is raised each January); then `breakdowns_final` is
    False, the per-pupil snapshots are kept and summed into the same cells after the run.
    `keep_snapshots` keeps them anyway, for the tests and scripts that follow single pupils.
    """

    def __init__(self, n_months: int, n_councils: int, keep_snapshots: bool = False, breakdowns_final: bool = True) -> None:
        self.system = {name: np.zeros((n_months, n_councils)) for name in SYSTEM_COLUMNS}
        self.n_councils = n_councils
        self.keep_snapshots = keep_snapshots or not breakdowns_final
        self.breakdowns_final = breakdowns_final
        self.census: list[Snapshot] = []  # per-pupil snapshots, only with keep_snapshots (or breakdowns not final)
        self.years: list[Snapshot] = []
        self._census_cells: list[Cells] = []
        self._year_cells: list[Cells] = []
        self.year_ends: list[int] = []  # the month index of each December closed
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
        `support.matched_on_roll`), not derived again here, and a mask is counted per council run
        by run over the roll (`StepContext.count_by_council`: one pass over the mask, where finding
        its rows and gathering their councils cost five times as much). Counts are whole numbers,
        so they are the same numbers however they are counted."""
        c, t = ctx.c, ctx.t
        pupils = ctx.school_age()
        count = ctx.count_by_council

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
        """January: the census (after FSM eligibility moved) summed into cells; see the class docstring."""
        c = ctx.c
        columns = {
            "year_group": c.year_group,
            "support_level": c.support_level,
            "placement": c.placement,
            "need_type": c.need_type,
            "severity": c.severity.astype(np.float16),
            "isp": c.isp,
            "fsm": c.fsm,  # eligibility at the census (it can change: population.fsm_share_path)
        }
        self._record(ctx, columns, self.census, self._census_cells, reduce_census)

    def close_year(self, ctx: StepContext) -> None:
        """End of December: sum the calendar year's accumulators into cells, then reset them."""
        c = ctx.c
        columns = {
            "year_group": c.year_group,
            "support_level": c.support_level,
            "need_type": c.need_type,
            "severity": c.severity.astype(np.float16),
            "need_months": c.year_need_months,
            "unmet_months": c.year_unmet_months,
            "matched_months": c.year_matched_months,
            "suspensions": c.year_suspensions,
        }
        self._record(ctx, columns, self.years, self._year_cells, reduce_year)
        self.year_ends.append(ctx.t)
        for name in ("year_need_months", "year_unmet_months", "year_matched_months", "year_suspensions"):
            getattr(c, name)[:] = 0

    def _record(self, ctx: StepContext, columns: dict, snapshots: list, cells: list, reduce) -> None:
        if self.keep_snapshots:
            snapshots.append(Snapshot(ctx.t, ctx.lo, ctx.hi, {name: values.copy() for name, values in columns.items()}))
        if self.breakdowns_final:
            c = ctx.c
            pupils = c.year_group <= YEAR_11
            cells.append(reduce(ctx.t, {name: values[pupils] for name, values in columns.items()},
                                c.fsm[pupils], c.income_quintile[pupils], c.council[pupils], self.n_councils))

    def census_cells(self, children) -> list[Cells]:
        """Every January census in cells, grouped by the breakdowns of `children` (the finished run's)."""
        return self._cells(children, self.census, self._census_cells, reduce_census)

    def year_cells(self, children) -> list[Cells]:
        """Every calendar year's access measures in cells (as `census_cells`)."""
        return self._cells(children, self.years, self._year_cells, reduce_year)

    def _cells(self, children, snapshots: list[Snapshot], cells: list[Cells], reduce) -> list[Cells]:
        if self.breakdowns_final:
            return cells
        out = []
        for snap in snapshots:  # FSM could change after the census: group by its value at the end
            pupils = snap.columns["year_group"] <= YEAR_11
            rows = np.arange(snap.lo, snap.hi)[pupils]
            out.append(reduce(snap.t, {name: values[pupils] for name, values in snap.columns.items()},
                              children.fsm[rows], children.income_quintile[rows], children.council[rows], self.n_councils))
        return out
