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

from sim.config.schema import NEED_TYPES
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


#: Lower edges of the severity bands (none, mild, moderate, severe, complex) the metrics break
#: need down by: 0 exactly is no need; the mild band starts just above it.
SEVERITY_BANDS = np.array([0.0, 1e-6, 1.0, 2.0, 3.0])
SEN_STATUSES = 4  # support levels: no SEN, SEN support, targeted plus, EHCP (sim.population.state)
COLLAPSE_MAX_CELLS = 2.0**62  # joint cell codes are int64


@dataclass
class Snapshot:
    """One child per row: the on-roll slice [lo, hi) of a few columns at month t (kept only on request)."""

    t: int
    lo: int
    hi: int
    columns: dict[str, np.ndarray]


@dataclass
class Cells:
    """A census or a calendar year summed into cells: one entry per combination of breakdown codes
    that has any pupil, with each count summed over the cell's pupils.

    `keys` maps each breakdown to (code of each cell, number of codes); `counts` maps each count to
    its sum per cell, a whole number (`count` reads it as float64); `concentration` is the year's concentration index of matched support
    (`concentration_index`; year snapshots only, None when no pupil had need).
    """

    t: int
    keys: dict[str, tuple[np.ndarray, int]]
    counts: dict[str, np.ndarray]
    concentration: float | None = None

    def count(self, name: str) -> np.ndarray:
        """A count of every cell as float64, as the metrics sum it."""
        return self.counts[name].astype(np.float64)


def compact_cells(t: int, keys: dict[str, tuple[np.ndarray, int]], counts: dict[str, np.ndarray],
                  concentration: float | None = None) -> Cells:
    """Cells kept in the smallest integer types that hold them exactly: codes in one or two bytes,
    counts (whole numbers) in int32 unless one exceeds it. Read back as float64 they are the
    same sums (`Cells.count`); a national run keeps two dozen snapshots of up to about a hundred
    thousand cells each, a third of the memory of float64 and int64 columns."""
    small = {name: (codes.astype(np.min_scalar_type(max(size - 1, 0))), size)
             for name, (codes, size) in keys.items()}
    whole = {}
    for name, values in counts.items():
        as_int = values.astype(np.int64)
        fits = len(as_int) == 0 or (as_int.min() >= np.iinfo(np.int32).min and as_int.max() <= np.iinfo(np.int32).max)
        whole[name] = as_int.astype(np.int32) if fits else as_int
    return Cells(t, small, whole, concentration)


def breakdown_codes(fsm: np.ndarray, income_quintile: np.ndarray, council: np.ndarray, n_councils: int,
                    support_level: np.ndarray | None = None, severity: np.ndarray | None = None,
                    need_type: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, int]]:
    """The breakdown groups of a set of children as integer codes: {breakdown: (codes, number of codes)}.

    One definition for every metric: the metrics label these codes (sim.metrics.compute), and the
    recorder sums census and year snapshots into cells by them. FSM 0/1; income quintile 1-5 as
    0-4; council as its local index; SEN status as the support level; severity band by
    SEVERITY_BANDS; need type as its index, or one past the last for children without need
    (severity 0), whatever type they last had.
    """
    codes = {
        "fsm": (np.asarray(fsm).astype(np.int8), 2),
        "income_quintile": (np.asarray(income_quintile).astype(np.int8) - 1, 5),
        "council": (np.asarray(council).astype(np.int32), n_councils),
    }
    if support_level is not None:
        codes["sen_status"] = (np.asarray(support_level, dtype=np.int8), SEN_STATUSES)
    if severity is not None:
        sev = np.asarray(severity, dtype=np.float64)
        band = np.searchsorted(SEVERITY_BANDS, sev, side="right") - 1
        codes["severity_band"] = (band.astype(np.int8), len(SEVERITY_BANDS))
        codes["need_type"] = (np.where(sev > 0, np.asarray(need_type).astype(np.int8), len(NEED_TYPES)).astype(np.int8),
                              len(NEED_TYPES) + 1)
    return codes


EXACT_SUM_LIMIT = 2.0**53  # integers up to here are exact in float64, so their sums do not depend on order


def exact_in_any_order(values: np.ndarray) -> bool:
    """Whole numbers whose total stays below 2**53: every partial sum is exact, in any order."""
    return bool(np.array_equal(values, np.trunc(values)) and np.abs(values).sum() < EXACT_SUM_LIMIT)


def sum_into_cells(keys: dict[str, tuple[np.ndarray, int]], counts: dict[str, np.ndarray | None]) -> tuple[dict, dict]:
    """Units summed into cells: (keys of the cells, counts of the cells). A cell is a combination of
    the breakdown codes in `keys` that has any unit; each count in `counts` is summed over the
    cell's units (None counts the units themselves). Cells come in the order of their joint code.

    Why: a census or a year's access measures have one unit per pupil (about eight million a year
    nationally); every breakdown of a ratio over them is a sum over cells, and a year is a few
    tens of thousands of cells. Counts must be whole numbers (flags, months, events): their
    float64 sums are exact in any order while totals stay below 2**53, so every metric is the same
    bit for bit as summing unit by unit; other values (money) must not be collapsed, and a
    ValueError says so. A cell exists only if some unit is in it, so a group is present in a
    breakdown exactly when it was with one row per unit.
    """
    names = list(keys)
    sizes = [keys[name][1] for name in names]
    n = len(keys[names[0]][0]) if names else 0
    cardinality = float(np.prod(sizes, dtype=np.float64))
    if cardinality >= COLLAPSE_MAX_CELLS:
        raise ValueError("too many breakdown combinations to collapse into cells")
    joint = np.zeros(n, dtype=np.int64)
    for name, size in zip(names, sizes):
        joint *= size
        joint += keys[name][0]
    if cardinality <= max(4 * n, 1 << 22):  # dense cells: counting beats sorting
        present = np.bincount(joint, minlength=int(cardinality))
        cells = np.flatnonzero(present)
        size = int(cardinality)

        def total(weights):
            return (present if weights is None else np.bincount(joint, weights=weights, minlength=size))[cells].astype(np.float64)
    else:
        cells, cell = np.unique(joint, return_inverse=True)

        def total(weights):
            return np.bincount(cell, weights=weights, minlength=len(cells)).astype(np.float64)
    cell_keys = {}
    rest = cells
    for name, size in reversed(list(zip(names, sizes))):
        cell_keys[name] = (rest % size, size)
        rest = rest // size
    cell_keys = {name: cell_keys[name] for name in names}
    cell_counts = {}
    for name, weights in counts.items():
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if not exact_in_any_order(weights):
                raise ValueError(f"{name}: only whole-number counts can be summed into cells")
        cell_counts[name] = total(weights)
    return cell_keys, cell_counts


def concentration_index(matched_months: np.ndarray, need_months: np.ndarray, band: np.ndarray, quintile: np.ndarray) -> float:
    """Need-adjusted concentration index of matched support by income rank, over one year's pupils with need.

    y = share of need-months with matched support, indirectly standardised for need
    (y - mean(y | severity band) + mean(y)); rank = fractional income rank (quintile codes 0-4,
    ties at their mid-rank). CI = 2 cov(y, rank) / mean(y): positive means support matched to
    need is concentrated among better-off families, 0 means none (docs/MODEL.md). NaN when no
    support was matched. Needs one value per child, so it is computed year by year, as each
    year closes.
    """
    y = np.asarray(matched_months, dtype=np.float64) / np.asarray(need_months, dtype=np.float64)
    band_mean = np.bincount(band, weights=y) / np.maximum(np.bincount(band), 1)
    adjusted = y - band_mean[band] + y.mean()
    counts = np.bincount(quintile, minlength=5)
    mid_rank = (np.cumsum(counts) - counts / 2) / len(quintile)
    rank = mid_rank[quintile]
    return 2 * np.cov(adjusted, rank, bias=True)[0, 1] / adjusted.mean() if adjusted.mean() > 0 else np.nan


def reduce_census(t: int, columns: dict[str, np.ndarray], fsm: np.ndarray, income_quintile: np.ndarray,
                 council: np.ndarray, n_councils: int) -> Cells:
    """A January census of the pupils (Reception-Year 11) in `columns` (their year group, support
    level, placement, need type, severity as float16, ISP and FSM at the census) summed into cells
    by every census breakdown, with the counts the census shares need: pupils ("one"), EHCP, SEN
    support, targeted plus, ISP, FSM at the census ("is_fsm") and plan holders in special schools.
    `fsm`, `income_quintile`, `council`: the breakdown attributes of the same pupils."""
    level = columns["support_level"]
    placement = columns["placement"]
    keys = breakdown_codes(fsm, income_quintile, council, n_councils, support_level=level,
                           severity=columns["severity"], need_type=columns["need_type"])
    cell_keys, cell_counts = sum_into_cells(keys, {
        "one": None,
        "ehcp": level == EHCP,
        "sen_support": level == SEN_SUPPORT,
        "targeted_plus": level == TARGETED_PLUS,
        "isp": columns["isp"],
        "is_fsm": columns["fsm"],
        "special": (level == EHCP) & ((placement == STATE_SPECIAL) | (placement == INDEPENDENT_SPECIAL)),
    })
    return compact_cells(t, cell_keys, cell_counts)


def reduce_year(t: int, columns: dict[str, np.ndarray], fsm: np.ndarray, income_quintile: np.ndarray,
               council: np.ndarray, n_councils: int) -> Cells:
    """A calendar year's access accumulators of the pupils in `columns` (support level, need type
    and float16 severity in December; months with need, unmet and matched; suspensions) summed into
    cells by every breakdown, with the year's concentration index worked out while each pupil's
    values are at hand."""
    need_months = columns["need_months"]
    matched_months = columns["matched_months"]
    keys = breakdown_codes(fsm, income_quintile, council, n_councils, support_level=columns["support_level"],
                           severity=columns["severity"], need_type=columns["need_type"])
    with_need = need_months > 0
    index = None
    if with_need.any():
        index = concentration_index(matched_months[with_need], need_months[with_need],
                                    keys["severity_band"][0][with_need], keys["income_quintile"][0][with_need])
    cell_keys, cell_counts = sum_into_cells(keys, {
        "with_need": with_need,
        "need_months": need_months,
        "unmet_months": columns["unmet_months"],
        "matched_months": matched_months,
        "suspensions": columns["suspensions"],
        "one": None,
    })
    return compact_cells(t, cell_keys, cell_counts, index)


class Recorder:
    """Monthly system counts, each January census and each calendar year's access measures.

    Censuses and years are summed into cells (`Cells`) as they are taken, so the recorder holds
    no per-pupil copies (nationally about 17 bytes per pupil and year, 1.6 GB over a run, was the
    largest part of a worker's peak after the state). Cells group pupils by their breakdowns
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
        c, t = ctx.c, ctx.t
        n = len(ctx.councils)
        pupils = c.year_group <= YEAR_11
        council = c.council.astype(np.intp) if n > 1 else None  # cast once, not once per count

        def count(mask: np.ndarray) -> np.ndarray:
            if n == 1:  # one council: a count is a sum (several times faster than a bincount)
                return np.count_nonzero(mask)
            # the mask as weights: no copy of the selected rows (counts are whole numbers, exact)
            return np.bincount(council, weights=mask, minlength=n)

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
        need = pupils & (c.severity > 0)
        self.system["need"][t] = count(need)
        self.system["unmet_need"][t] = count(need & ~support.is_matched(ctx))
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
