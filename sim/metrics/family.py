"""Family-resource outputs: what families spent, what they secured, who asked, and how appeals ended.

Why: the model's disadvantage gaps should be traceable to the channels that produce them. These
metrics show, by FSM status and income quintile, the money families put into the process
(private reports, representation, tutoring), who made requests (parent or school), how appeals
after a refusal ended (won, withdrawn), and whether families who asked for a special school got
one. Whole-run metrics are dated at the run's last month and cover every child on roll at any
point in the run (one child = one family). Definitions are in docs/METRICS.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.population.state import APPEAL_REFUSAL

FAMILY_BREAKDOWNS = ("all", "fsm", "income_quintile")
#: Width of the need strata (severity units at onset) in within-need comparisons, crossed with need type.
ONSET_SEVERITY_BIN = 0.25
SPENDING_COMPONENTS = (("reports", "spent_reports"), ("representation", "spent_representation"), ("tutoring", "spent_tutoring"))


def children_in_run(model) -> np.ndarray:
    """Rows of every child on roll at some point in the run (the rows of `children_table`)."""
    last_entry = model.timeline.academic_year(model.n_months - 1)
    return np.flatnonzero(model.children.entry_year <= last_entry)


def add_family_metrics(builder) -> None:
    """Append the family-resource metrics to a MetricBuilder's rows."""
    model = builder.model
    ch = model.children
    rows = children_in_run(model)
    end = model.timeline.timestamp(model.n_months - 1)
    u = builder.units(rows)
    u["date"] = end
    u["one"] = 1.0
    # one child per row, every child of the run (17.5 million nationally): each numerator is
    # dropped once summed, so the frame never holds more than two (8 bytes per row each)
    for name, column in SPENDING_COMPONENTS:
        u[name] = getattr(ch, column)[rows].astype(np.float64)
        builder.add_ratio(u, f"family_spending_{name}", name, "one", 1.0, breakdowns=FAMILY_BREAKDOWNS)
        del u[name]
    u["total"] = ch.family_spending()[rows].astype(np.float64)
    builder.add_ratio(u, "family_spending", "total", "one", 1.0, breakdowns=FAMILY_BREAKDOWNS)
    del u["total"]
    u["reports"] = ch.private_reports_bought[rows].astype(np.float64)
    builder.add_ratio(u, "private_reports_bought", "reports", "one", 100.0, breakdowns=FAMILY_BREAKDOWNS)
    del u["reports"], u["one"]
    u["wanted"] = ch.special_wanted[rows].astype(np.float64)
    u["secured"] = (ch.special_wanted[rows] & ch.special_secured[rows]).astype(np.float64)
    builder.add_ratio(u, "special_place_secured_share", "secured", "wanted", 100.0, breakdowns=FAMILY_BREAKDOWNS)
    del u
    _yearly_flows(builder)


def _yearly_flows(builder) -> None:
    ev = builder.model.events
    full_years = {builder.timeline.calendar(t)[0] for t in builder.model.recorder.year_ends}
    requests = ev.frame("request")
    if len(requests):
        u = builder.event_units(requests)
        u["date"] = builder.date_of(requests["month"].to_numpy(), "year").to_numpy()
        u["num"] = requests["by_parent"].to_numpy().astype(float)
        u["den"] = 1.0
        u = u[u["date"].dt.year.isin(full_years)]
        builder.add_ratio(u, "parent_request_share", "num", "den", 100.0, breakdowns=FAMILY_BREAKDOWNS)
    outcomes = ev.frame("tribunal_outcome")
    if len(outcomes) and "withdrawn" in outcomes:
        refusal = outcomes[outcomes["kind"] == APPEAL_REFUSAL]
        u = builder.units(refusal["row"].to_numpy())
        u["date"] = builder.date_of(refusal["month"].to_numpy(), "year").to_numpy()
        u["withdrawn"] = refusal["withdrawn"].to_numpy().astype(float)
        u["represented"] = refusal["represented"].to_numpy().astype(float)
        u["den"] = 1.0
        builder.add_ratio(u, "tribunal_withdrawn_after_refusal", "withdrawn", "den", 100.0, breakdowns=FAMILY_BREAKDOWNS)
        builder.add_ratio(u, "tribunal_represented_after_refusal", "represented", "den", 100.0, breakdowns=FAMILY_BREAKDOWNS)


def family_columns(model, take) -> dict[str, np.ndarray]:
    """Per-child family-resource columns for `children_table`; `take(column)` gives a state
    column's values at the table's rows (a view of a finished run's, else a copy)."""
    ch = model.children
    return {
        "family_budget": take(ch.family_budget),
        "family_spending": take(ch.family_spending()),
        "family_spending_reports": take(ch.spent_reports),
        "family_spending_representation": take(ch.spent_representation),
        "family_spending_tutoring": take(ch.spent_tutoring),
        "private_reports_bought": take(ch.private_reports_bought),
        "special_wanted": take(ch.special_wanted),
        "special_secured": take(ch.special_wanted & ch.special_secured),
    }


def standardised_gap(frame: pd.DataFrame, value: str, group: str, a, b) -> float:
    """Mean of `value` for group `a` minus group `b` within need strata (column `stratum`), weighted
    by the number of children in each stratum both groups share (direct standardisation)."""
    d = frame.dropna(subset=[value])
    means = d.groupby(["stratum", group], observed=True)[value].mean().unstack(group)
    if a not in means or b not in means:
        return float("nan")
    means = means.dropna(subset=[a, b])
    weights = d.groupby("stratum", observed=True).size().loc[means.index]
    return float(((means[a] - means[b]) * weights).sum() / max(weights.sum(), 1))


def within_need_gaps(model, table: pd.DataFrame) -> dict[str, float]:
    """Quintile 1 minus quintile 5 and FSM minus non-FSM at equal need, for one finished replicate.

    Need is the need a child had when it emerged (or at the start census): need *now* is shaped by
    support (unmet need grows, met need eases), so strata of current need compare children selected
    by the very support being measured and hide the gap. Strata: onset severity in bins of
    ONSET_SEVERITY_BIN crossed with need type. `table` is the replicate's `children_table`.
    """
    with_need = table[table["onset_severity"] > 0].copy()
    severity_bin = np.minimum(np.floor(with_need["onset_severity"].astype(np.float64) / ONSET_SEVERITY_BIN), 12).astype(int)
    with_need["stratum"] = severity_bin.astype(str) + "/" + with_need["need_type"].astype(str)
    with_need["plan"] = with_need["held_plan_in_run"].astype(float)
    with_need["unmet_share"] = with_need["unmet_months"] / with_need["need_months"].clip(lower=1)
    gaps = {}
    for label, group, a, b in (("q1_minus_q5", "income_quintile", 1, 5), ("fsm_minus_non_fsm", "fsm", True, False)):
        for value in ("matched_within_a_year", "plan", "unmet_share"):
            name = {"plan": "held_plan_in_run"}.get(value, value)
            gaps[f"{name}_{label}"] = standardised_gap(with_need, value, group, a, b)
    outcome = model.events.frame("tribunal_outcome")
    refusal = outcome[outcome["kind"] == APPEAL_REFUSAL] if len(outcome) else outcome
    quintile = model.children.income_quintile[refusal["row"].to_numpy()]
    won = refusal["won"].to_numpy().astype(float) if len(refusal) else np.zeros(0)
    low, high = won[quintile <= 2], won[quintile >= 4]
    gaps["tribunal_success_after_refusal_q12_minus_q45"] = (low.mean() - high.mean()) if len(low) and len(high) else float("nan")
    return gaps


__all__ = ["FAMILY_BREAKDOWNS", "ONSET_SEVERITY_BIN", "add_family_metrics", "children_in_run", "family_columns", "standardised_gap",
           "within_need_gaps"]
