"""The Mesa model: owns time, councils, schools, the children's arrays and the random streams.

Each `step()` is one month, run as a plan of named stages (`sim/month_plan.py`): calendar events,
need dynamics, the route's stages (identification to reviews), outcomes, finance, recording.
`sendsim plan CONFIG` prints the plan with the time each stage takes. Nothing in the step loops
over children in Python; per-council work is vectorised over council indices.
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.config.schema import ScenarioConfig
from sim.event_log import EventLog
from sim.finance_ledger import Ledger
from sim.month_plan import Stage, StageTimer
from sim.population.build import build_population
from sim.population.year_groups import YEAR_13
from sim.processes import calendar, family, finance, fsm, needs, outcomes
from sim.random_streams import RandomStreams
from sim.recorder import Recorder
from sim.routes import make_route
from sim.step_context import StepContext
from sim.timeline import Timeline


class SendModel(mesa.Model):
    """England's SEND system for one or more councils, under one route."""

    def __init__(self, config: ScenarioConfig, seed: int | None = None, keep_snapshots: bool = False,
                 event_kinds=None) -> None:
        """`keep_snapshots`: also keep every census and year as per-pupil columns
        (`Recorder.census`, `Recorder.years`), for analyses that follow single pupils; the metrics
        need only the cells the recorder sums them into.

        `event_kinds`: log only events of these kinds (None: every kind; see `EventLog`). The
        run is the same either way: nothing reads the log while the model runs."""
        seed = config.run.seed if seed is None else int(seed)
        super().__init__(rng=seed)
        self.config = config
        self.seed = seed
        self.timeline = Timeline.from_strings(config.run.start, config.run.end)
        self.streams = RandomStreams(seed)
        population = build_population(config, self.streams, self.timeline)
        self.children = population.children
        self.schools = population.schools
        self.councils = population.councils
        self.route = make_route(config.run.route, config, self.timeline, self.schools, self.councils, self.streams)
        self.events = EventLog(event_kinds)
        self.ledger = Ledger(self.timeline.n_months, len(self.councils))
        # FSM eligibility changes during the run only along a dated path: without one, a pupil's
        # breakdowns at a census are those the metrics read at the end, so it is summed into cells at once
        self.recorder = Recorder(self.timeline.n_months, len(self.councils), keep_snapshots=keep_snapshots,
                                 breakdowns_final=not config.population.fsm_share_path)
        self.recorder.track_children(self.children)
        self.month = 0
        self.timer = StageTimer()
        self.datacollector = mesa.DataCollector(model_reporters={
            "ehcp": lambda m: m.recorder.system["ehcp"][max(m.month - 1, 0)].sum(),
            "sen_support": lambda m: m.recorder.system["sen_support"][max(m.month - 1, 0)].sum(),
            "deficit": lambda m: float(m.councils.deficit.sum()),
        })
        calendar.refresh_schools(self.context())

    @property
    def n_months(self) -> int:
        return self.timeline.n_months

    @property
    def finished(self) -> bool:
        return self.month >= self.n_months

    def on_roll(self, t: int) -> tuple[int, int]:
        """The contiguous rows on roll in month t (Reception to Year 13)."""
        academic_year = self.timeline.academic_year(t)
        entry = self.children.entry_year
        # the years as the column's own dtype: a Python int would have the whole column cast
        # to int64 before the search (a pass over every row, every month)
        first, last = np.asarray([academic_year - YEAR_13, academic_year]).astype(entry.dtype)
        lo = int(np.searchsorted(entry, first, side="left"))
        hi = int(np.searchsorted(entry, last, side="right"))
        return lo, hi

    def context(self) -> StepContext:
        t = self.month
        year, month = self.timeline.calendar(t)
        lo, hi = self.on_roll(t)
        return StepContext(
            t=t, year=year, month=month, lo=lo, hi=hi, c=self.children.view(lo, hi), children=self.children,
            schools=self.schools, councils=self.councils, config=self.config, streams=self.streams,
            timeline=self.timeline, events=self.events, ledger=self.ledger,
        )

    def stages(self, ctx: StepContext) -> list[Stage]:
        """This month's plan, in order: calendar events, need, the route's stages, outcomes, money."""
        return [
            Stage("year rollover, phase transfers and their reviews", self.route.on_september, months=(9,)),
            Stage("FSM eligibility follows its dated path", fsm.update_eligibility, months=(1,)),
            Stage("census snapshot", self.recorder.take_census, months=(1,)),
            Stage("new financial year", finance.new_financial_year, months=(4,), after_start=True),
            Stage("need onset, growth and resolution", needs.step),
            Stage("need recorded as it emerged, before support shapes it", needs.record_emerged),
            *self.route.stages(ctx),
            Stage("attainment progress", outcomes.progress),
            Stage("tutoring and therapy families buy beyond school support", family.tutoring),
            Stage("suspensions and exclusions", outcomes.suspensions),
            Stage("key stage tests", outcomes.key_stage_tests, months=(7,)),
            Stage("costs booked, deficits and gatekeeping", finance.book_month),
            Stage("monthly system counts", self.recorder.record_month),
            Stage("calendar-year accumulators closed", self.recorder.close_year, months=(12,)),
        ]

    def step(self) -> None:
        if self.finished:
            raise RuntimeError(f"the run ended at {self.config.run.end}; build a new model to run again")
        ctx = self.context()
        self.timer.run(self.stages(ctx), ctx)
        self.month += 1
        self.datacollector.collect(self)

    def run(self, progress=None) -> "SendModel":
        """Run to the configured end; `progress(months_done, months_total)` is called monthly."""
        while not self.finished:
            self.step()
            if progress is not None:
                progress(self.month, self.n_months)
        return self
