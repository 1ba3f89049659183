"""What a process sees in one month: the children on roll (as views), institutions, draws, logs.

Why one object: every process has the same signature, `process(ctx)`, so a route composes
processes without knowing their internals, and tests can build a context and call one process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sim.config.schema import ScenarioConfig
from sim.event_log import EventLog
from sim.finance_ledger import Ledger
from sim.population.institutions import CouncilTable, SchoolTable
from sim.population.state import EHCP, IDLE, ChildArrays
from sim.population.year_groups import YEAR_11
from sim.random_streams import RandomStreams
from sim.timeline import Timeline

#: Relative widening of a probability bound passed to `StepContext.draws_below`. Not a model
#: parameter: the exact probability of a child is computed in floating point and may exceed an
#: analytic bound by a few units in the last place (about 1e-16 relative); widening by far more
#: only lets a few more children through to the exact comparison, which decides.
BOUND_MARGIN = 1e-6


@dataclass
class StepContext:
    t: int  # month index (0 = start census)
    year: int
    month: int  # 1-12
    lo: int  # first row on roll
    hi: int  # one past the last row on roll
    c: ChildArrays  # views of rows [lo, hi)
    children: ChildArrays  # all rows (for ties into the whole population)
    schools: SchoolTable
    councils: CouncilTable
    config: ScenarioConfig
    streams: RandomStreams
    timeline: Timeline
    events: EventLog
    ledger: Ledger
    #: values derived once a month and shared by the stages that need them (`memo`)
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def memo(self, name: str, make: Callable[[], object]) -> object:
        """`make()` the first time `name` is asked for this month, the same object after that.

        Why: several stages of one month derive the same thing from columns that none of them
        changes (who is of school age once the September rollover is done); deriving it once
        saves a pass over every child on roll per stage. Only what stays valid for the rest of
        the month may be kept here, or what the one stage that changes it forgets (`forget`:
        need after the need dynamics, matched support after support allocation); anything else
        a stage changes (support levels, the pipeline, placements) is derived where it is read.
        """
        if name not in self._memo:
            self._memo[name] = make()
        return self._memo[name]

    def forget(self, *names: str) -> None:
        """Drop month values a stage has just made stale (the stage that changes what they are
        derived from calls this: need dynamics for need, support allocation for matched support)."""
        for name in names:
            self._memo.pop(name, None)

    def need(self) -> np.ndarray:
        """Boolean mask of the children on roll of school age with need (severity > 0).

        Kept for the month once asked for: need changes only in the need dynamics stage
        (`needs.step`, which forgets it), and identification, support, requests, attainment,
        tutoring and the monthly counts all start from it."""
        return self.memo("need", lambda: self.school_age() & (self.c.severity > 0))

    def in_process(self) -> np.ndarray:
        """View indices of the children in the statutory process now (requested, assessing or
        appealing), found afresh at each call (the process moves children every stage).

        Why: the decision, EP, assessment and tribunal stages each concern a few hundred children
        of the roll; one comparison of the stage column and the few set rows found, then each
        stage's own conditions on those rows, cost a fraction of comparing four columns of every
        child on roll and finding the set rows of the result."""
        return np.flatnonzero(self.c.pipeline != IDLE)

    def plan_holders(self) -> np.ndarray:
        """View indices of the children holding a plan now, for the stages that concern plans
        (support, reviews, costs), kept until a plan is issued or ceased.

        Why kept: finding a few children in a hundred among the whole roll costs about 1 ns per
        child, and three stages a month ask. Plans begin in one place only (`assessment.issue_plans`)
        and end in one (`reviews.cease`); both forget these rows."""
        return self.memo("plan holders", lambda: np.flatnonzero(self.c.support_level == EHCP))

    def need_rows(self) -> np.ndarray:
        """View indices of `need` (ascending), once a month (forgotten with it).

        Why: finding the set bits of a mask in which one child in four or five is set costs far
        more than the comparisons that made it; identification, requests, attainment and
        tutoring each select from these rows instead of finding their own in a mask of the roll."""
        return self.memo("need rows", lambda: np.flatnonzero(self.need()))

    def count_by_council(self, mask: np.ndarray) -> np.ndarray:
        """How many children on roll are set in `mask` (a boolean mask of the roll), per council.

        Why not `np.bincount(council[mask])`: the rows are sorted by entry year and council, so
        the roll is a few runs of one council each (about 14 per council; any order gives the
        right counts, only more runs); counting the mask's
        bytes run by run (`np.add.reduceat`) and adding the runs up by council is one pass over
        the mask, where finding its set rows and gathering their councils costs several times
        that (a quarter of the time at 944,000 rows, a count of 1.5% of them: 0.14 against 0.53 ms).
        The counts are whole numbers, the same however they are added."""
        if len(self.councils) == 1 or len(mask) == 0:
            return np.array([np.count_nonzero(mask)] * len(self.councils), dtype=np.int64)
        starts, council = self.memo("council runs", self._council_runs)
        # (32-bit sums: a run is far shorter than 2**31 rows, and they add up twice as fast as 64-bit)
        runs = np.add.reduceat(mask.view(np.uint8), starts, dtype=np.int32)
        return np.bincount(council, weights=runs, minlength=len(self.councils)).astype(np.int64)

    def _council_runs(self) -> tuple[np.ndarray, np.ndarray]:
        """(first row, council) of each run of rows on roll of one council (a child's council never
        changes, so these hold for the month)."""
        council = self.c.council
        starts = np.concatenate(([0], np.flatnonzero(council[1:] != council[:-1]) + 1))
        return starts, council[starts].astype(np.intp)

    def school_age(self) -> np.ndarray:
        """Boolean mask of the children on roll of school age (Reception to Year 11), once a month.

        Valid from the first stage on: the September rollover is the first stage of its month and
        asks for none of it, and no other stage changes a year group."""
        return self.memo("school age", lambda: self.c.year_group <= YEAR_11)

    def uniform(self, process: str, idx: np.ndarray, draw: int = 0) -> np.ndarray:
        """Keyed draws for the children at view indices `idx` (common random numbers)."""
        return self.streams.uniform(process, self.t, self.c.key[idx], draw)

    def draws_below(self, process: str, idx: np.ndarray, bound: float | np.ndarray,
                    higher: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(children, draws): the children at view indices `idx` whose `process` draw is below
        `bound`, with those draws. `idx` may also be a boolean mask over the children on roll.

        Why: a monthly hazard decides "draw < probability", and most children's draws are far
        above the highest probability any child can have this month; they cannot be selected.
        A process that knows such a bound works out the exact probability for these few children
        only. Draws are keyed per child (common random numbers), so each child's draw is the same
        whoever else is drawn for, and the same children are selected as when every child's
        probability is computed: results are identical. `bound` must be at least every child's
        probability (it is widened by BOUND_MARGIN against rounding): one number for all, or
        one per child of `idx` (`sim.processes.requests.hazard_bound`).

        With a mask and one bound (need onset, suspensions: most of the roll may be selected),
        the whole roll's draws are compared with the bound as integers and the mask applied to
        the comparison (`RandomStreams.draws_below`): no index array of most children is made
        and no keys are gathered; `higher = (mask, higher_bound)` then holds the children of
        `mask` to a higher bound (`RandomStreams.draws_below`).
        """
        if idx.dtype == bool and np.ndim(bound) == 0:
            if higher is not None:
                higher = (higher[0], higher[1] * (1.0 + BOUND_MARGIN))
            return self.streams.draws_below(process, self.t, self.c.key, bound * (1.0 + BOUND_MARGIN), among=idx,
                                            higher=higher)
        if higher is not None:
            raise ValueError("a higher bound for some children needs a mask of the roll and one bound for the others")
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        u = self.uniform(process, idx)
        keep = u < bound * (1.0 + BOUND_MARGIN)
        return idx[keep], u[keep]

    def normal(self, process: str, idx: np.ndarray, draw: int = 0) -> np.ndarray:
        return self.streams.normal(process, self.t, self.c.key[idx], draw)

    def log(self, name: str, idx: np.ndarray, **columns: np.ndarray) -> None:
        """Log an event for the children at view indices `idx`, with their need at that moment
        (so every flow can be broken down by need type and severity band). Nothing is logged for
        no children (and nothing is gathered for them: many of a month's logs are empty), nor for a
        kind the log does not keep."""
        if len(idx) == 0 or not self.events.keeps(name):
            return
        if "severity" not in columns:
            columns["severity"] = self.c.severity[idx]
        if "need_type" not in columns:
            columns["need_type"] = self.c.need_type[idx]
        self.events.log(name, self.t, idx + self.lo, **columns)

    def years_since_start(self) -> float:
        return self.t / 12.0


#: Items from which `rank_within_groups` sorts in two stable passes rather than one lexsort. Not a
#: model parameter (the order is the same either way): below it the lexsort's one call is cheaper.
RADIX_SORT_FROM = 1_000
_INT16 = np.iinfo(np.int16)


def rank_within_groups(groups: np.ndarray, priority: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order items by (group, priority) and give each its 0-based rank inside its group.

    The vectorised way to hand out scarce places: accept where rank < capacity[group]
    (lexsort by target and priority, rank within target).
    """
    if len(groups) >= RADIX_SORT_FROM and np.issubdtype(groups.dtype, np.integer) \
            and _INT16.min <= groups.min() and groups.max() <= _INT16.max:
        # the same order in two stable sorts, by priority (`_stable_order`) then by 16-bit groups
        # (a radix sort): a fraction of the lexsort's time for the thousands Experts at Hand rank
        by_priority = _stable_order(priority)
        order = by_priority[np.argsort(groups[by_priority].astype(np.int16), kind="stable")]
    else:
        order = np.lexsort((priority, groups))
    sorted_groups = groups[order]
    # (concatenate, not np.r_: this runs a few hundred times a month, often for a handful of items)
    starts = np.flatnonzero(np.concatenate(([True], sorted_groups[1:] != sorted_groups[:-1])))
    run_lengths = np.diff(np.concatenate((starts, [len(order)])))
    ranks_sorted = np.arange(len(order)) - np.repeat(starts, run_lengths)
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = ranks_sorted
    return order, ranks


def _stable_order(priority: np.ndarray) -> np.ndarray:
    """`np.argsort(priority, kind="stable")`: ascending, ties in their order (priorities not NaN).

    Why another way for float32 priorities (a severity): each priority's bits, made to sort as
    unsigned integers in the order of the floats, above the item's position give distinct 64-bit
    keys, whose order is the stable order; numpy sorts such keys with its vectorised sort several
    times faster than it sorts floats stably (20,000 items: 0.3 against 2.0 ms)."""
    if priority.dtype != np.float32:
        return np.argsort(priority, kind="stable")
    bits = (priority + np.float32(0.0)).view(np.uint32)  # (adding 0 makes -0.0 the 0.0 it equals)
    negative = (bits >> np.uint32(31)).astype(bool)
    ordered = np.where(negative, ~bits, bits | np.uint32(0x80000000)).astype(np.uint64)
    return np.argsort((ordered << np.uint64(32)) | np.arange(len(priority), dtype=np.uint64))
