"""Every metric of one replicate, in tidy long form: (date, metric, by, group, value).

Metrics are ratios computed inside the replicate (docs/MODEL.md); summaries across replicates
come later and never combine summaries. Each metric is built from "units" — one row per
child-event or child-snapshot with its numerator and denominator — so every breakdown is the
same group-by. Definitions, units and breakdowns are documented in docs/METRICS.md.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from sim.cells import (  # noqa: F401 (concentration_index, exact_in_any_order: read from here by tests)
    SEVERITY_BANDS,
    Cells,
    breakdown_codes,
    concentration_index,
    exact_in_any_order,
    sum_into_cells,
)
from sim.config.council_table import simulated_councils
from sim.config.schema import NEED_TYPES
from sim.finance_ledger import LINES
from sim.metrics.family import add_family_metrics, family_columns
from sim.population.state import (
    APPEAL_REFUSAL,
    NEVER,
    ChildArrays,
)
from sim.population.year_groups import YEAR_11

if TYPE_CHECKING:  # `FinishedRun`'s fields only: the recorder brings in the monthly step, which `sendsim --help` does not load
    from sim.config.schema import ScenarioConfig
    from sim.event_log import EventLog
    from sim.finance_ledger import Ledger
    from sim.recorder import Recorder
    from sim.timeline import Timeline

BREAKDOWNS = ("all", "fsm", "income_quintile", "need_type", "council", "sen_status", "severity_band")
FLOW_BREAKDOWNS = ("all", "fsm", "income_quintile", "need_type", "severity_band", "council")  # need at the event
SEVERITY_LABELS = np.array(["none", "mild", "moderate", "severe", "complex"])
#: The labels of each breakdown's codes (`sim.cells.breakdown_codes`; councils: their la_code).
BREAKDOWN_LABELS = {
    "fsm": ["non_fsm", "fsm"],
    "income_quintile": ["1", "2", "3", "4", "5"],
    "sen_status": ["no_sen", "sen_support", "targeted_plus", "ehcp"],
    "severity_band": list(SEVERITY_LABELS),
    "need_type": [*NEED_TYPES, "none"],
}


def severity_band(severity: np.ndarray) -> np.ndarray:
    return SEVERITY_LABELS[np.searchsorted(SEVERITY_BANDS, np.asarray(severity, dtype=np.float64), side="right") - 1]


COLLAPSE_MIN_ROWS = 50_000  # below this, summing row by row is as fast as collapsing first
def group_cells(date_codes: np.ndarray, n_dates: int, grouped: list):
    """The cells of units sharing a date and every breakdown group: (cell of each unit, date codes
    and breakdowns of the cells), or None when summing row by row is as good.

    Why: a national run's census and per-pupil rates have one unit per pupil and year (about a
    hundred million rows), and each metric sums them once per breakdown; summing them once into
    cells (a few hundred thousand) makes every breakdown a sum over cells. `add_ratio` uses the
    cells only when numerators and denominators are whole numbers with totals below 2**53, whose
    float64 sums are exact in any order (counts, months, 0/1 flags), so values are the same bit
    for bit; other units (pounds) are summed row by row.
    """
    n = len(date_codes)
    if n < COLLAPSE_MIN_ROWS or any(len(codes) and codes.min() < 0 for _, codes, _ in grouped):
        return None
    sizes = [len(labels) for _, _, labels in grouped if len(labels) > 1]
    cardinality = float(n_dates) * float(np.prod(sizes, dtype=np.float64))
    if cardinality >= 2.0**62:
        return None
    joint = np.asarray(date_codes, dtype=np.int64).copy()
    for _, codes, labels in grouped:
        if len(labels) > 1:
            joint *= len(labels)
            joint += codes
    if cardinality <= max(4 * n, 1 << 22):  # dense cells: counting beats sorting
        cells = np.flatnonzero(np.bincount(joint, minlength=int(cardinality)))
        position = np.empty(int(cardinality), dtype=np.int64)
        position[cells] = np.arange(len(cells))
        cell = position[joint]
    else:
        cells, cell = np.unique(joint, return_inverse=True)
    decoded = []
    rest = cells
    for by, codes, labels in reversed(grouped):
        if len(labels) > 1:
            decoded.append((by, rest % len(labels), labels))
            rest = rest // len(labels)
        else:
            decoded.append((by, np.zeros(len(cells), dtype=np.int64), labels))
    return cell, rest, decoded[::-1]


def collapse_to_cells(units: pd.DataFrame, counts: dict[str, np.ndarray | None]) -> pd.DataFrame:
    """A frame of units summed into cells by its categorical columns (`sim.cells.sum_into_cells`,
    the one definition the recorder sums each census and year with): one row per combination of
    categories that has any unit, each count in `counts` summed over it (None counts the units)."""
    categorical = [name for name in units.columns if isinstance(units[name].dtype, pd.CategoricalDtype)]
    keys = {name: (units[name].array.codes, len(units[name].cat.categories)) for name in categorical}
    cell_keys, cell_counts = sum_into_cells(keys, counts)
    frame = pd.DataFrame({name: pd.Categorical.from_codes(cell_keys[name][0], units[name].cat.categories) for name in categorical})
    for name, values in cell_counts.items():
        frame[name] = values
    return frame


class MetricBuilder:
    """Turns a finished model's records into the tidy metrics table."""

    def __init__(self, model, children_frame: pd.DataFrame | None = None) -> None:
        self.model = model
        self.children = model.children
        self.children_frame = children_frame  # the run's `children_table`, if already built
        self.timeline = model.timeline
        self.rows: list[pd.DataFrame] = []
        self.council_codes = list(simulated_councils(model.config.population)["la_code"])
        self._grouping: tuple | None = None  # (key, weak reference to the frame, groups) of the last frame grouped
        self._census: list[Cells] | None = None  # the recorder's census cells, read twice (shares, flow denominators)

    # ---- units: attach breakdown columns to rows -------------------------------------------
    def units(self, rows: np.ndarray, **columns) -> pd.DataFrame:
        """Breakdown columns (as categoricals: group-bys stay fast) for the children at `rows`:
        their FSM, income quintile and council, and with `support_level` their SEN status, with
        `severity` (and `need_type`, by default the child's own) their severity band and need type
        (`sim.cells.breakdown_codes`); other keyword columns are added as they are."""
        ch = self.children
        rows = np.asarray(rows, dtype=np.int64)
        level = columns.pop("support_level", None)
        severity = columns.pop("severity", None)
        need_type = None if severity is None else columns.pop("need_type", ch.need_type[rows])
        keys = breakdown_codes(ch.fsm[rows], ch.income_quintile[rows], ch.council[rows], len(self.council_codes),
                               support_level=level, severity=severity, need_type=need_type)
        frame = pd.DataFrame(self.categoricals(keys))
        for key, values in columns.items():
            frame[key] = values
        return frame

    def categoricals(self, keys: dict[str, tuple[np.ndarray, int]]) -> dict[str, pd.Categorical]:
        """Breakdown codes (`sim.cells.breakdown_codes`) as categoricals with their labels."""
        labels = {**BREAKDOWN_LABELS, "council": self.council_codes}
        return {name: pd.Categorical.from_codes(codes, labels[name]) for name, (codes, _) in keys.items()}

    def cells_frame(self, cells: Cells) -> pd.DataFrame:
        """A census or a year the recorder summed into cells: its breakdowns as categoricals and its counts."""
        frame = pd.DataFrame(self.categoricals(cells.keys))
        for name in cells.counts:
            frame[name] = cells.count(name)
        return frame

    def add_ratio(self, units: pd.DataFrame, metric: str, numerator: str, denominator: str, scale: float = 1.0,
                  breakdowns=BREAKDOWNS, min_denominator: float = 0) -> None:
        """value = scale * sum(numerator) / sum(denominator) per (date, breakdown group).

        Sums are np.bincount over (date, group) codes: the same group-by for every breakdown.
        """
        if units.empty:
            return
        num = units[numerator].to_numpy(dtype=np.float64)
        den = units[denominator].to_numpy(dtype=np.float64)
        dates, date_codes, grouped, cells = self.grouping(units, tuple(breakdowns))
        if cells is not None and exact_in_any_order(num) and exact_in_any_order(den):
            cell, date_codes, grouped = cells
            num = np.bincount(cell, weights=num, minlength=len(date_codes))
            den = np.bincount(cell, weights=den, minlength=len(date_codes))
        # one frame per call, not one per breakdown: building small frames was most of the cost
        parts: dict[str, list[np.ndarray]] = {"date": [], "by": [], "group": [], "value": []}
        for by, codes, labels in grouped:
            size = len(dates) * len(labels)
            key = date_codes * len(labels) + codes
            sum_num = np.bincount(key, weights=num, minlength=size)
            sum_den = np.bincount(key, weights=den, minlength=size)
            present = np.bincount(key, minlength=size) > 0
            keep = np.flatnonzero(present & (sum_den > min_denominator))
            parts["date"].append(np.asarray(dates)[keep // len(labels)])
            parts["by"].append(np.full(len(keep), by, dtype=object))
            parts["group"].append(labels[keep % len(labels)].astype(str).astype(object))
            parts["value"].append(scale * sum_num[keep] / sum_den[keep])
        if parts["value"]:
            self.rows.append(pd.DataFrame({"date": np.concatenate(parts["date"]), "metric": metric,
                                           "by": np.concatenate(parts["by"]), "group": np.concatenate(parts["group"]),
                                           "value": np.concatenate(parts["value"])}))

    def grouping(self, units: pd.DataFrame, breakdowns: tuple) -> tuple:
        """(dates, date codes, [(breakdown, codes, labels)], cells or None) of a units frame.

        Metric families call `add_ratio` several times on one frame with different numerators;
        the group codes and cells depend only on the frame's date and breakdown columns, so they
        are worked out once per frame. The frame is followed by a weak reference (a frame freed
        and another made at the same address is not mistaken for it, and no frame is kept alive);
        when the frame is freed its codes and cells are let go too. Callers add numerator columns
        between calls but never rewrite breakdown columns.
        """
        key = (id(units), len(units), breakdowns, tuple(units.columns.intersection(["date", *breakdowns])))
        if self._grouping is not None and self._grouping[0] == key and self._grouping[1]() is units:
            return self._grouping[2]
        self._grouping = None  # free the last frame's codes before making this one's
        date_codes, dates = pd.factorize(units["date"], sort=True)
        grouped = []
        for by in breakdowns:
            if by == "all":
                codes, labels = np.zeros(len(units), dtype=np.int8), np.array(["all"], dtype=object)
            elif by in units.columns:
                column = units[by]
                if isinstance(column.dtype, pd.CategoricalDtype):  # codes stay int8/int16: one frame holds several
                    codes, labels = column.array.codes, np.asarray(column.cat.categories, dtype=object)
                else:
                    codes, labels = pd.factorize(column, sort=True)
                    labels = np.asarray(labels, dtype=object)
            else:
                continue
            grouped.append((by, codes, labels))
        result = (dates, date_codes, grouped, group_cells(date_codes, len(dates), grouped))

        def forget(_frame) -> None:  # the frame is gone: its codes and cells (16-24 bytes per unit) go with it
            self._grouping = None

        self._grouping = (key, weakref.ref(units, forget), result)
        return result

    def date_of(self, months: np.ndarray, kind: str) -> pd.Series:
        """Period dates: 'year' -> 1 Jan of the calendar year; 'month' -> that month.

        Each month's date is worked out once and looked up: a text date per event ("2031" +
        "-01-01", parsed) took about 150 bytes per event while it was made, and a national run
        dates some 6 million appealable decisions at once. The dates are the same values in the
        same dtype (no months: the empty series parsed from no text, as before)."""
        months = np.asarray(months)
        years = np.array([self.timeline.calendar(int(m))[0] for m in range(self.timeline.n_months)])
        if kind == "year":
            if len(months) == 0:
                return pd.to_datetime(pd.Series(years[months]).astype(str) + "-01-01")
            return pd.Series(pd.to_datetime(pd.Series(years).astype(str) + "-01-01").to_numpy()[months])
        cal = [self.timeline.timestamp(int(m)) for m in range(self.timeline.n_months)]
        return pd.Series(pd.DatetimeIndex(cal)[months])

    def school_age_events(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Keep events of children in Reception-Year 11 at the time (per-pupil rates' numerators)."""
        if frame.empty:
            return frame
        academic = np.array([self.timeline.academic_year(t) for t in range(self.timeline.n_months)])
        year_group = academic[frame["month"].to_numpy()] - self.children.entry_year[frame["row"].to_numpy()]
        return frame[year_group <= YEAR_11]

    # ---- metric families ----------------------------------------------------------------------
    def census(self) -> None:
        """January census shares, from each census the recorder summed into (group) cells."""
        frames = []
        for cells in self.census_cells():
            u = self.cells_frame(cells)
            u["date"] = self.timeline.timestamp(cells.t)
            frames.append(u)
        if not frames:
            return
        u = pd.concat(frames, ignore_index=True)
        self.add_ratio(u, "ehcp_share_pupils", "ehcp", "one", 100)
        self.add_ratio(u, "sen_support_share_pupils", "sen_support", "one", 100)
        self.add_ratio(u, "targeted_plus_share_pupils", "targeted_plus", "one", 100)
        self.add_ratio(u, "isp_share_pupils", "isp", "one", 100)
        self.add_ratio(u, "fsm_share_pupils", "is_fsm", "one", 100, breakdowns=("all", "sen_status", "council"))
        self.add_ratio(u, "special_school_rate", "special", "ehcp", 100)
        plans = u[u["ehcp"] > 0].copy()  # cells of plan holders: every unit in them holds a plan
        plans["total"] = plans["ehcp"]
        for need in NEED_TYPES:
            plans[f"is_{need}"] = np.where(plans["need_type"] == need, plans["ehcp"], 0.0)
        rows = []
        for need in NEED_TYPES:
            s = plans.groupby("date")[[f"is_{need}", "total"]].sum().reset_index()
            rows.append(pd.DataFrame({"date": s["date"], "metric": "plan_need_type_share", "by": "need_type", "group": need,
                                      "value": 100 * s[f"is_{need}"] / s["total"]}))
        self.rows.extend(rows)

    def census_cells(self) -> list[Cells]:
        if self._census is None:
            self._census = self.model.recorder.census_cells(self.children)
        return self._census

    def pupils_by_year(self) -> pd.DataFrame:
        """Pupil denominators per calendar year and group, from each January census: (date, group)
        cells with the pupils counted in column "pupils" (the census cells summed over SEN status)."""
        frames = []
        for cells in self.census_cells():
            keys = {name: key for name, key in cells.keys.items() if name != "sen_status"}
            cell_keys, counts = sum_into_cells(keys, {"pupils": cells.count("one")})
            u = pd.DataFrame(self.categoricals(cell_keys))
            u["pupils"] = counts["pupils"]
            u["date"] = pd.Timestamp(year=self.timeline.calendar(cells.t)[0], month=1, day=1)
            frames.append(u)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def event_units(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Breakdown columns for logged events, with the child's need when the event happened."""
        rows = frame["row"].to_numpy()
        if "severity" not in frame:  # an empty log has no event columns
            return self.units(rows, severity=self.children.severity[rows], need_type=self.children.need_type[rows])
        return self.units(rows, severity=frame["severity"].to_numpy(), need_type=frame["need_type"].to_numpy())

    def flows(self) -> None:
        ev = self.model.events
        full_years = {self.timeline.calendar(t)[0] for t in self.model.recorder.year_ends}
        pupils = self.pupils_by_year()
        if pupils.empty:
            return

        def per_pupil(event: str, metric: str, scale: float = 1000.0) -> None:
            frame = self.school_age_events(ev.frame(event, ("severity", "need_type")))  # all a count reads
            u = self.event_units(frame)
            u["date"] = self.date_of(frame["month"].to_numpy(), "year").to_numpy()
            u["n"] = 1.0
            u["pupils"] = 0.0
            p = pupils.copy()  # cells: "pupils" already counts them
            p["n"] = 0.0
            both = pd.concat([u, p], ignore_index=True)
            both = both[both["date"].dt.year.isin(full_years)]
            self.add_ratio(both, metric, "n", "pupils", scale, breakdowns=FLOW_BREAKDOWNS)

        per_pupil("request", "request_rate")
        per_pupil("plan_issued", "new_plan_rate")
        per_pupil("plan_ceased", "ceased_plan_rate")
        per_pupil("appeal", "appeal_registration_rate", scale=10000.0)
        per_pupil("exclusion", "exclusion_rate", scale=100.0)

        def share(event: str, metric: str, numerator, scale: float = 100.0, extra=None) -> None:
            frame = ev.frame(event)
            if frame.empty:
                return
            u = self.event_units(frame)
            u["date"] = self.date_of(frame["month"].to_numpy(), "year").to_numpy()
            u["num"] = numerator(frame).astype(float)
            u["den"] = 1.0 if extra is None else extra(frame).astype(float)
            u = u[u["date"].dt.year.isin(full_years)]
            self.add_ratio(u, metric, "num", "den", scale, breakdowns=FLOW_BREAKDOWNS)

        share("decision", "refusal_rate", lambda f: f["refused"].to_numpy())
        final_weeks = self.model.config.assessment.final_weeks  # the statutory 20 weeks
        share("plan_issued", "within_20_weeks_share", lambda f: (f["weeks"] <= final_weeks).to_numpy())
        share("plan_issued", "over_52_weeks_share", lambda f: (f["weeks"] > 52).to_numpy())
        decision_weeks = self.model.config.decision.statutory_weeks  # the statutory 6 weeks
        share("decision", "decision_within_6_weeks_share", lambda f: (f["weeks"] <= decision_weeks).to_numpy())
        need = ("severity", "need_type")  # all the appeal rate reads of these (the most numerous events, with `kind` as text)
        appealable = ev.frame("appealable_decision", need)
        appeals = ev.frame("appeal", need)
        if len(appealable):
            a = self.event_units(pd.concat([appealable, appeals], ignore_index=True))
            a["date"] = self.date_of(np.r_[appealable["month"].to_numpy(), appeals["month"].to_numpy()], "year").to_numpy()
            a["den"] = np.r_[np.ones(len(appealable)), np.zeros(len(appeals))]
            a["num"] = np.r_[np.zeros(len(appealable)), np.ones(len(appeals))]
            a = a[a["date"].dt.year.isin(full_years)]
            self.add_ratio(a, "appeal_rate", "num", "den", 100, breakdowns=FLOW_BREAKDOWNS)
        outcomes = ev.frame("tribunal_outcome")
        if len(outcomes):
            refusal = outcomes[outcomes["kind"] == APPEAL_REFUSAL]
            u = self.event_units(refusal)
            u["date"] = self.date_of(refusal["month"].to_numpy(), "year").to_numpy()
            u["num"] = refusal["won"].to_numpy().astype(float)
            u["den"] = 1.0
            self.add_ratio(u, "tribunal_success_after_refusal", "num", "den", 100, breakdowns=("all", "fsm", "income_quintile"))
            decided = outcomes[outcomes["decided"]]
            u = self.units(decided["row"].to_numpy())
            u["date"] = self.date_of(decided["month"].to_numpy(), "year").to_numpy()
            u["num"] = decided["won"].to_numpy().astype(float)
            u["den"] = 1.0
            self.add_ratio(u, "tribunal_family_win_rate", "num", "den", 100, breakdowns=("all",))
        # success: requests made in a year that end in a plan (by the end of the run)
        requests = ev.frame("request")
        plans = ev.frame("plan_issued")
        if len(requests):
            key = pd.MultiIndex.from_arrays([plans["row"], plans["request_month"]]) if len(plans) else pd.MultiIndex.from_arrays([[], []])
            made = pd.MultiIndex.from_arrays([requests["row"], requests["month"]])
            u = self.event_units(requests)
            u["date"] = self.date_of(requests["month"].to_numpy(), "year").to_numpy()
            u["num"] = made.isin(key).astype(float)
            u["den"] = 1.0
            u = u[u["date"].dt.year.isin(full_years)]
            self.add_ratio(u, "request_success_rate", "num", "den", 100, breakdowns=FLOW_BREAKDOWNS)

    def access(self) -> None:
        """Calendar-year access: unmet-need months, matched share, suspensions, from each year the
        recorder summed into (group) cells as it closed; the concentration index, which needs each
        pupil's matched share, was worked out then too (`sim.cells.reduce_year`)."""
        frames = []
        index_rows = []
        for cells in self.model.recorder.year_cells(self.children):
            u = self.cells_frame(cells)
            date = pd.Timestamp(year=self.timeline.calendar(cells.t)[0], month=1, day=1)
            if cells.concentration is not None:
                index_rows.append({"date": date, "metric": "support_concentration_index", "by": "all", "group": "all",
                                   "value": cells.concentration})
            u["date"] = date
            frames.append(u)
        if not frames:
            return
        if len({row["date"] for row in index_rows}) != len(index_rows):
            raise ValueError("two year snapshots share a calendar year")  # close_year runs once a December
        u = pd.concat(frames, ignore_index=True)
        self.add_ratio(u, "unmet_need_months", "unmet_months", "with_need", 1.0)
        self.add_ratio(u, "matched_support_share", "matched_months", "need_months", 100)
        self.add_ratio(u, "suspension_rate", "suspensions", "one", 100)
        if index_rows:
            self.rows.append(pd.DataFrame(index_rows))
        # months from need onset to first support, for children first supported in the year
        ch = self.children
        started = (ch.first_support_month != NEVER) & (ch.onset_month >= 0) & (ch.first_support_month >= ch.onset_month)
        rows = np.flatnonzero(started)
        for column, metric in (("first_support_month", "months_to_support"), ("first_matched_month", "months_to_matched_support")):
            when = getattr(ch, column)
            ok = rows[(when[rows] != NEVER) & (when[rows] >= ch.onset_month[rows]) & (when[rows] < self.timeline.n_months)]
            v = self.units(ok, support_level=np.where(when[ok] != NEVER, 1, 0), severity=ch.severity[ok])
            v = v.drop(columns=["sen_status"])
            v["date"] = self.date_of(when[ok].astype(np.int64), "year").to_numpy()
            v["months"] = (when[ok] - ch.onset_month[ok]).astype(float)
            v["one"] = 1.0
            self.add_ratio(v, metric, "months", "one", 1.0)

    def concentration(self, units: pd.DataFrame) -> None:
        """The concentration index (`concentration_index`) of each date of a frame with one row per
        pupil (need_months, matched_months, severity_band and income_quintile columns)."""
        with_need = units[units["need_months"] > 0]
        rows = []
        for date, year in with_need.groupby("date", observed=True):
            value = concentration_index(year["matched_months"].to_numpy(), year["need_months"].to_numpy(),
                                        year["severity_band"].cat.codes.to_numpy(), year["income_quintile"].cat.codes.to_numpy())
            rows.append({"date": date, "metric": "support_concentration_index", "by": "all", "group": "all", "value": value})
        if rows:
            self.rows.append(pd.DataFrame(rows))

    def attainment(self) -> None:
        ev = self.model.events
        # each test's frames are let go before the next's are made (a result per pupil of a year group:
        # 0.46 per child row each); only the columns read are taken from the log
        for event, column, metric in (("ks2", "expected", "ks2_expected_rate"), ("ks4", "em4", "ks4_em4_rate")):
            frame = ev.frame(event, (column, "sen"))
            if frame.empty:
                continue
            rows = frame["row"].to_numpy()
            u = self.units(rows, support_level=frame["sen"].to_numpy(), severity=self.children.severity[rows])
            u["date"] = self.date_of(frame["month"].to_numpy(), "month").to_numpy()
            u["num"] = frame[column].to_numpy().astype(float)
            u["den"] = 1.0
            self.add_ratio(u, metric, "num", "den", 100)
            if metric == "ks4_em4_rate":
                plans = u[u["sen_status"] == "ehcp"]
                self.add_ratio(plans, "ks4_em4_rate_ehcp", "num", "den", 100, breakdowns=("all", "fsm", "income_quintile", "council"))
                del plans
            del frame, u
        neet = ev.frame("neet", ("neet", "send"))
        if len(neet):
            rows = neet["row"].to_numpy()
            u = self.units(rows)
            # a categorical (one byte per result, not text): its groups and their order are the text's
            u["sen_status"] = pd.Categorical.from_codes(neet["send"].to_numpy().astype(np.int8), ["no_send", "send"])
            u["date"] = self.date_of(neet["month"].to_numpy(), "month").to_numpy()
            u["num"] = neet["neet"].to_numpy().astype(float)
            u["den"] = 1.0
            self.add_ratio(u, "neet_rate", "num", "den", 100)

    def finance(self) -> None:
        amounts = self.model.ledger.amounts  # [month, council, line]
        fy = np.array([self.timeline.financial_year(t) for t in range(self.timeline.n_months)])
        months_per_fy = pd.Series(fy).value_counts()
        full = [y for y, n in months_per_fy.items() if n == 12]
        high_needs = np.array([holder == "council_high_needs" for _, holder in LINES])
        pupils = self.model.recorder.system["pupils"]
        for year in sorted(full):
            sel = fy == year
            date = pd.Timestamp(year=int(year), month=4, day=1)
            spend = amounts[sel][:, :, high_needs].sum(axis=(0, 2))
            mean_pupils = pupils[sel].mean(axis=0)
            per_council = spend / np.maximum(mean_pupils, 1)
            self.rows.append(pd.DataFrame({"date": date, "metric": "high_needs_spend_per_pupil", "by": "all", "group": "all",
                                           "value": [spend.sum() / max(mean_pupils.sum(), 1)]}))
            self.rows.append(pd.DataFrame({"date": date, "metric": "high_needs_spend_per_pupil", "by": "council",
                                           "group": self.council_codes, "value": per_council}))
            for holder in ("school", "council_high_needs", "council_general_fund", "central_reform"):
                mask = np.array([h == holder for _, h in LINES])
                total = amounts[sel][:, :, mask].sum()
                self.rows.append(pd.DataFrame({"date": date, "metric": "spend_per_pupil_by_holder", "by": "budget_holder",
                                               "group": [holder], "value": [total / max(mean_pupils.sum(), 1)]}))
        deficit = self.model.recorder.system["deficit"]
        income = self.model.recorder.system["high_needs_income"]
        for t in range(self.timeline.n_months):
            if self.timeline.calendar(t)[1] == 3:  # end of each financial year
                self.rows.append(pd.DataFrame({"date": [self.timeline.timestamp(t)], "metric": ["deficit_share_of_income"], "by": ["all"],
                                               "group": ["all"], "value": [100 * deficit[t].sum() / max(income[t].sum(), 1)]}))

    def need_standardised_gaps(self) -> None:
        """FSM and quintile 1-5 gaps of whole-run per-child outcomes, raw and at equal need (sim.metrics.gaps)."""
        from sim.metrics.gaps import gap_metric_rows  # gaps builds on this module's severity bands

        end = self.timeline.timestamp(self.timeline.n_months - 1)
        table = self.children_frame if self.children_frame is not None else children_table(self.model)
        rows = gap_metric_rows(table, end)
        self.rows.append(rows[rows["value"].notna()])  # a gap with no children on one side is empty, not NaN

    def build(self, between: Callable[[], None] | None = None) -> pd.DataFrame:
        """The metrics table; `between()` is called after each family of metrics (see `compute_metrics`)."""
        for family in (self.census, self.flows, self.access, self.attainment, self.finance,
                       partial(add_family_metrics, self), self.need_standardised_gaps):
            family()
            if between is not None:
                between()
        frame = pd.concat([r for r in self.rows if len(r)], ignore_index=True)
        frame["date"] = pd.to_datetime(frame["date"])
        frame = frame.sort_values(["metric", "by", "group", "date"], kind="stable").reset_index(drop=True)
        return frame[["date", "metric", "by", "group", "value"]]


def council_identity_columns(identity: pd.DataFrame, local: np.ndarray) -> dict[str, pd.Categorical]:
    """la_code, la_name and region_name for rows of local council indices (categoricals: cheap per child)."""
    columns = {}
    for column in ("la_code", "la_name", "region_name"):
        categories, codes = np.unique(identity[column].astype(str).to_numpy(), return_inverse=True)
        columns[column] = pd.Categorical.from_codes(codes[local].astype(np.int32), categories)
    return columns


#: The children's state columns the children table and the metrics read from a finished run.
OUTCOME_COLUMNS = (
    "council", "key", "entry_year", "fsm", "income_quintile", "need_type", "severity", "onset_month", "onset_severity",
    "first_support_month", "first_matched_month", "support_level", "attainment", "ks2_expected", "ks4_em4", "suspensions",
    "excluded", "neet", "need_months", "unmet_months", "matched_months", "family_budget", "spent_reports",
    "spent_representation", "spent_tutoring", "private_reports_bought", "special_wanted", "special_secured",
)


#: The kinds of event the children table and the metrics read from a finished run.
OUTCOME_EVENTS = ("appeal", "appealable_decision", "decision", "exclusion", "ks2", "ks4", "need_onset", "neet", "plan_ceased",
                  "plan_issued", "request", "tribunal_outcome")


class FinishedChildren(SimpleNamespace):
    """The columns of `OUTCOME_COLUMNS` of a finished run's children (the same arrays, not copies)."""

    def __len__(self) -> int:
        return len(self.key)

    family_spending = ChildArrays.family_spending


@dataclass
class FinishedRun:
    """What the children table, the metrics and the system table read of a finished model, and
    nothing else: read by them exactly as the model would be.

    Why: a worker holds its model's whole state (145 bytes per child row nationally, future
    cohorts included: school, ties, pipeline dates, ...) while it builds the children table and
    the metrics, yet those read 28 of its 60 columns (65 bytes per row) and a dozen kinds of
    event (`OUTCOME_EVENTS`: 23 of the event log's 38 bytes per row). Keeping only these and
    letting go of the model frees the rest (about 1.5 GiB at full scale) before the children
    table is built."""

    children: FinishedChildren
    events: EventLog
    recorder: Recorder
    ledger: Ledger
    timeline: Timeline
    config: ScenarioConfig
    n_months: int
    finished: bool = True


def finished_run(model) -> FinishedRun:
    """The finished `model`'s outcomes (`FinishedRun`); the model itself can then be let go."""
    if not model.finished:
        raise ValueError("the run has not reached its end: its outcomes are not final")
    children = FinishedChildren(**{name: getattr(model.children, name) for name in OUTCOME_COLUMNS})
    return FinishedRun(children, model.events.only(OUTCOME_EVENTS), model.recorder, model.ledger, model.timeline, model.config, model.n_months)


def compute_metrics(model, children: pd.DataFrame | None = None, between: Callable[[], None] | None = None) -> pd.DataFrame:
    """The tidy metrics table of a finished run. `children`: the run's `children_table(model)`
    if the caller has built it (a replicate keeps it as an output): the gaps read it, and
    building it twice cost a worker the time and memory of a second copy (17.5 M rows nationally).

    `between()`, if given, is called after each family of metrics (census, flows, access, ...):
    a worker hands the memory a family freed back to the system there
    (`sim.experiments.runner.release_memory`). Why: the allocator keeps freed memory for reuse,
    and what one family freed did not fit the next family's arrays, so both counted; at scale 0.3
    the metrics' peak was 0.2 GiB higher without it."""
    return MetricBuilder(model, children).build(between)


def system_table(model) -> pd.DataFrame:
    """Monthly counts and money per council (system.parquet)."""
    rec = model.recorder.system
    n_months, n_councils = rec["pupils"].shape
    dates = pd.DatetimeIndex([model.timeline.timestamp(t) for t in range(n_months)])
    identity = simulated_councils(model.config.population)
    local = np.tile(np.arange(n_councils), n_months)
    frame = pd.DataFrame({
        "date": np.repeat(dates, n_councils),
        "council": identity["row"].to_numpy()[local],
        **council_identity_columns(identity, local),
    })
    for name, values in rec.items():
        frame[name] = values.reshape(-1)
    ledger = model.ledger.amounts
    for i, (line, _) in enumerate(LINES):
        frame[f"spend_{line}"] = ledger[:, :, i].reshape(-1)
    return frame


#: Window for `matched_within_a_year` (months from need onset).
MATCH_WINDOW_MONTHS = 12


def first_need(model) -> tuple[np.ndarray, np.ndarray]:
    """(severity, need type index) of every child's first need: as the run started, else at its first onset.

    This is the need the child brings to the system before either policy acts: drawn with the
    population (or at a first onset during the run, which is drawn from the child's own random
    stream whatever the policy), so the same child has the same first need under every route.
    Severity later drifts with unmet need and needs can resolve and re-emerge, so the need at
    the end of the run — or the highest band reached — would partly be an outcome of the policy
    being measured. Severity 0 = no need during the run.
    """
    start = model.recorder.start_need
    severity = start["severity"].astype(np.float64)
    need_type = start["need_type"].astype(np.int8)
    onsets = model.events.frame("need_onset")
    if len(onsets):
        first = onsets.drop_duplicates("row", keep="first")
        later = first[severity[first["row"].to_numpy()] <= 0]
        rows = later["row"].to_numpy()
        severity[rows] = later["severity"].to_numpy(dtype=np.float64)
        need_type[rows] = later["need_type"].to_numpy().astype(np.int8)
    return severity, need_type


def need_type_labels(severity: np.ndarray, need_type: np.ndarray) -> pd.Categorical:
    """Each child's need type label, "none" without need (severity 0), as a categorical.

    Why a categorical: nationally the table has 17.5 million rows, and a label string per row took
    about 12 bytes in the table (and a fixed-width text array several times that while it was
    built); codes take one byte and read back as the same labels."""
    codes = np.where(np.asarray(severity) > 0, np.asarray(need_type).astype(np.int8), len(NEED_TYPES)).astype(np.int8)
    return pd.Categorical.from_codes(codes, BREAKDOWN_LABELS["need_type"])


def children_table(model) -> pd.DataFrame:
    """One row per child ever on roll: the per-child outcomes used for paired comparisons.

    Labels (need types, a plan's fate after the legal switch, council names) are categoricals:
    the same values as strings, at a byte or two per row.

    Of a finished run, the columns read as they are (the children's state, whether each ever held
    a plan...) are views of the run's arrays, not copies: the table's rows are the first rows of
    the state (rows are ordered by entry year), which does not change any more. Nationally this
    saves about 58 of the table's 109 bytes per row while the worker holds both. Of a run still
    going, they are copies, which later months leave as they are."""
    ch = model.children
    last_entry = model.timeline.academic_year(model.n_months - 1)
    rows = np.flatnonzero(ch.entry_year <= last_entry)
    if model.finished and (len(rows) == 0 or rows[-1] == len(rows) - 1):  # ascending: the last row tells
        def take(values: np.ndarray) -> np.ndarray:
            return values[:len(rows)]
    else:
        def take(values: np.ndarray) -> np.ndarray:
            return values[rows]
    identity = simulated_councils(model.config.population)
    local = take(ch.council)  # council indices index as they are (no 64-bit copy of every row)
    first_severity, first_type = first_need(model)
    requested = np.zeros(len(ch.key), dtype=bool)
    requested[model.events.frame("request", ())["row"].to_numpy()] = True
    at_switch, after_switch = _transition_columns(model, rows)
    frame = pd.DataFrame({
        "child": take(ch.key),
        "council": identity["row"].to_numpy()[local].astype(np.int32),
        **council_identity_columns(identity, local),
        "entry_year": take(ch.entry_year),
        "fsm": take(ch.fsm),
        "income_quintile": take(ch.income_quintile),
        "need_type": need_type_labels(take(ch.severity), take(ch.need_type)),
        "severity": take(ch.severity),
        "onset_severity": take(ch.onset_severity),
        "held_plan_in_run": take(model.recorder.ever["ehcp"]),  # one definition: held an EHCP on roll in any month
        "support_level": take(ch.support_level),
        "first_severity": take(first_severity),
        "first_need_type": need_type_labels(take(first_severity), first_type[rows]),
        "ever_ehcp": take(model.recorder.ever["ehcp"]),
        "ever_special_school": take(model.recorder.ever["special"]),
        "ever_requested": take(requested),
        "need_months": take(ch.need_months),
        "unmet_months": take(ch.unmet_months),
        "matched_months": take(ch.matched_months),
        **_months_from_onset(take(ch.onset_month), take(ch.first_support_month), take(ch.first_matched_month), model.n_months),
        "attainment": take(ch.attainment),
        "ks2_expected": take(ch.ks2_expected),
        "ks4_em4": take(ch.ks4_em4),
        "suspensions": take(ch.suspensions),
        "excluded": take(ch.excluded),
        "neet": take(ch.neet),
        "ehcp_at_switch": at_switch,
        "plan_after_switch": after_switch,
        **family_columns(model, take),
    }, copy=False)  # as they are: gathered into blocks (or added one by one) every column would be copied once more
    return frame


def _months_from_onset(onset: np.ndarray, first: np.ndarray, matched: np.ndarray, n_months: int) -> dict[str, np.ndarray]:
    """The children table's months_to_support, months_to_matched_support and
    matched_within_a_year, from each child's onset, first support and first matched support
    months (int16, NEVER if not reached).

    Why on its own: its temporaries (the months as 32-bit integers, which hold every difference
    of two int16 months, and masks; about 20 bytes per row) are gone before the table is put
    together."""
    onset, first, matched = (values.astype(np.int32) for values in (onset, first, matched))
    valid = (onset >= 0) & (first != NEVER) & (first >= onset)
    valid_m = (onset >= 0) & (matched != NEVER) & (matched >= onset)
    # matched within a year of onset, for onsets at least a year before the end: defined for the same
    # children under any policy (onset is drawn up front), so paired comparisons select nobody
    followed = (onset >= 0) & (onset <= n_months - 1 - MATCH_WINDOW_MONTHS)
    within = valid_m & (matched - onset <= MATCH_WINDOW_MONTHS)
    return {
        "months_to_support": np.where(valid, first - onset, np.nan),
        "months_to_matched_support": np.where(valid_m, matched - onset, np.nan),
        "matched_within_a_year": np.where(followed, within.astype(float), np.nan),
    }


#: What became of a plan held at the legal switch, by the first cessation after it.
PLAN_AFTER_SWITCH = {"moved_to_isp": "moved_to_isp", "needs_met": "plan_ended", "other": "plan_ended",
                     "post16": "plan_ended"}
PLAN_FATES = ["", "kept_plan", "moved_to_isp", "plan_ended"]  # "": not in the cohort


def _transition_columns(model, rows: np.ndarray) -> tuple[np.ndarray, pd.Categorical]:
    """`ehcp_at_switch` (held an EHCP at school age the month before `transition.legal_switch`)
    and `plan_after_switch` for those children: "kept_plan" (no cessation after the switch),
    "moved_to_isp" (the legacy review moved the plan to an ISP) or "plan_ended" (ceased for
    another reason: needs met, left at 16+); "" outside the cohort or when the switch is not in
    the run."""
    held = getattr(model.recorder, "plans_at_switch", None)
    at_switch = np.zeros(len(rows), dtype=bool) if held is None else held[rows]
    after = np.where(at_switch, PLAN_FATES.index("kept_plan"), 0).astype(np.int8)  # codes of PLAN_FATES
    if held is None or not at_switch.any():
        return at_switch, pd.Categorical.from_codes(after, PLAN_FATES)
    switch = model.timeline.month_index(model.config.transition.legal_switch)
    ceased = model.events.frame("plan_ceased")
    if len(ceased) and "reason" in ceased.columns:
        ceased = ceased[ceased["month"] >= switch].sort_values("month", kind="stable").drop_duplicates("row")
        position = np.full(len(model.children.key), -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        where = position[ceased["row"].to_numpy()]
        keep = (where >= 0)
        where, reasons = where[keep], ceased["reason"].to_numpy()[keep]
        in_cohort = at_switch[where]
        after[where[in_cohort]] = [PLAN_FATES.index(PLAN_AFTER_SWITCH.get(str(r), "plan_ended")) for r in reasons[in_cohort]]
    return at_switch, pd.Categorical.from_codes(after, PLAN_FATES)
