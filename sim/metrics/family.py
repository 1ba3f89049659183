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

from sim.population.state import APPEAL_REFUSAL

FAMILY_BREAKDOWNS = ("all", "fsm", "income_quintile")
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
    for name, column in SPENDING_COMPONENTS:
        u[name] = getattr(ch, column)[rows].astype(np.float64)
        builder.add_ratio(u, f"family_spending_{name}", name, "one", 1.0, breakdowns=FAMILY_BREAKDOWNS)
    u["total"] = ch.family_spending()[rows].astype(np.float64)
    builder.add_ratio(u, "family_spending", "total", "one", 1.0, breakdowns=FAMILY_BREAKDOWNS)
    u["reports"] = ch.private_reports_bought[rows].astype(np.float64)
    builder.add_ratio(u, "private_reports_bought", "reports", "one", 100.0, breakdowns=FAMILY_BREAKDOWNS)
    u["wanted"] = ch.special_wanted[rows].astype(np.float64)
    u["secured"] = (ch.special_wanted[rows] & ch.special_secured[rows]).astype(np.float64)
    builder.add_ratio(u, "special_place_secured_share", "secured", "wanted", 100.0, breakdowns=FAMILY_BREAKDOWNS)
    _yearly_flows(builder)


def _yearly_flows(builder) -> None:
    ev = builder.model.events
    full_years = {builder.timeline.calendar(s.t)[0] for s in builder.model.recorder.years}
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


def family_columns(model, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-child family-resource columns for `children_table`."""
    ch = model.children
    return {
        "family_budget": ch.family_budget[rows],
        "family_spending": ch.family_spending()[rows],
        "family_spending_reports": ch.spent_reports[rows],
        "family_spending_representation": ch.spent_representation[rows],
        "family_spending_tutoring": ch.spent_tutoring[rows],
        "private_reports_bought": ch.private_reports_bought[rows],
        "special_wanted": ch.special_wanted[rows],
        "special_secured": ch.special_wanted[rows] & ch.special_secured[rows],
    }


__all__ = ["FAMILY_BREAKDOWNS", "add_family_metrics", "children_in_run", "family_columns"]
