"""The headline of a paired comparison, per replicate: unmet need, the FSM gap, winners, losers, money.

Why per replicate: every summary a report quotes (a mean, an interval, a cost-effectiveness
ratio, the replicates a precision needs) must be computed from per-replicate values, never by
combining summaries. This module gives one row per replicate for a baseline and a reform run
with the same seed (the same children with the same luck), which the comparison, the
decomposition and the replicate check all read: one definition of each headline number.

Cost-effectiveness (defined in docs/METRICS.md):
- net cost: reform minus baseline spending over the run's complete financial years, all budget
  holders (£, simulated councils);
- child-months of unmet need avoided: the sum over children of (baseline - reform) unmet-need
  months, among children with need in either run;
- net cost per child-month avoided = net cost / child-months avoided, and net cost per child
  better off = net cost / (children better off - children worse off), **only when the reform
  costs more and does good**. A reform that saves money and avoids unmet need dominates (no
  ratio: dividing a saving would make a better reform look "cheaper per month" by a negative
  number); one that costs more and does harm is dominated; one that saves money by adding unmet
  need is reported as the saving per child-month added, a trade-off and never a cost.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.experiments.compare import ANALYSIS_COLUMNS, _route_costs, pair_children, per_child_values
from sim.metrics.intervals import t_bounds

PER_REPLICATE_COLUMNS = [
    "replicate", "unmet_need_months", "fsm_gap_unmet_need_months", "share_worse_off", "share_better_off",
    "children_with_need", "children_better_off", "children_worse_off", "child_months_avoided", "spend",
]


def total_spend(system: pd.DataFrame, deflator=None) -> pd.Series:
    """Total spending per replicate over the complete financial years (optionally deflated by FY)."""
    costs = _route_costs(system, deflator)
    spend = costs[(costs["measure"] == "spend") & (costs["holder"] == "total")]
    return spend.groupby("replicate")["value"].sum()


def paired_outcomes(baseline_children: pd.DataFrame, baseline_system: pd.DataFrame,
                    children: pd.DataFrame, system: pd.DataFrame, deflator=None, *,
                    paired: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per replicate (index `replicate`): the paired headline changes of a run against the baseline.

    Unmet-need months: mean per-child change among children with need in either run; the FSM
    gap: (FSM mean - not-FSM mean) in the run minus the same in the baseline, among the same
    children; worse/better off: shares (%) and counts of those children whose own months
    rose/fell; child-months avoided: the sum of their falls minus rises; spend: change in total
    spending over complete financial years (£, simulated councils; deflated when `deflator`
    maps a financial year's start to a price factor). `paired`: the children tables already
    paired (`sim.experiments.compare.pair_children`, with at least `ANALYSIS_COLUMNS`).
    """
    if paired is None:
        paired = pair_children(baseline_children, children, columns=ANALYSIS_COLUMNS)
    b, r, mask = per_child_values(paired, "unmet_need_months")
    frame = pd.DataFrame({"replicate": paired["replicate"], "fsm": paired["fsm_b"].astype(bool),
                          "b": b, "r": r})[mask.to_numpy()]
    frame["d"] = frame["r"] - frame["b"]
    rows = []
    for replicate, part in frame.groupby("replicate"):
        fsm, non = part[part["fsm"]], part[~part["fsm"]]
        gap_change = (fsm["r"].mean() - non["r"].mean()) - (fsm["b"].mean() - non["b"].mean())
        better, worse = int((part["d"] < 0).sum()), int((part["d"] > 0).sum())
        rows.append({"replicate": replicate, "unmet_need_months": part["d"].mean(),
                     "fsm_gap_unmet_need_months": gap_change,
                     "share_worse_off": 100 * worse / len(part), "share_better_off": 100 * better / len(part),
                     "children_with_need": len(part), "children_better_off": better, "children_worse_off": worse,
                     "child_months_avoided": -float(part["d"].sum())})
    out = pd.DataFrame(rows).set_index("replicate")
    out["spend"] = (total_spend(system, deflator).reindex(out.index)
                    - total_spend(baseline_system, deflator).reindex(out.index))
    return out


# ---- cost-effectiveness ---------------------------------------------------------------------
def _ratio(numerator: pd.Series, denominator: pd.Series) -> tuple[float, float, float]:
    """Ratio of means, with a t-interval over per-replicate ratios when every denominator is positive."""
    value = float(numerator.mean()) / float(denominator.mean()) if denominator.mean() != 0 else math.nan
    if (denominator > 0).all():
        lo, hi = t_bounds((numerator / denominator).to_numpy())
    else:
        lo = hi = math.nan
    return value, lo, hi


def cost_effectiveness(per_replicate: pd.DataFrame) -> pd.DataFrame:
    """Tidy rows (measure, value, lo, hi, unit, verdict) from `paired_outcomes` rows.

    The verdict says which quadrant the reform is in; ratios are given only where they mean
    what their name says (see the module docstring).
    """
    cost = per_replicate["spend"]
    months = per_replicate["child_months_avoided"]
    net_better = per_replicate["children_better_off"] - per_replicate["children_worse_off"]
    mean_cost, mean_months = float(cost.mean()), float(months.mean())
    if mean_cost <= 0 and mean_months > 0:
        verdict = "dominant: saves money and avoids unmet need"
    elif mean_cost > 0 and mean_months <= 0:
        verdict = "dominated: costs more and adds unmet need"
    elif mean_cost > 0:
        verdict = "costs more and avoids unmet need: the ratios below are the price of what it buys"
    else:
        verdict = "saves money by adding unmet need: a trade-off, given as the saving per child-month added"
    rows = []

    def add(measure: str, unit: str, values: tuple[float, float, float]) -> None:
        rows.append({"measure": measure, "value": values[0], "lo": values[1], "hi": values[2], "unit": unit,
                     "verdict": verdict, "replicates": len(per_replicate)})

    add("net_cost", "£", (mean_cost, *t_bounds(cost.to_numpy())))
    add("child_months_avoided", "child-months", (mean_months, *t_bounds(months.to_numpy())))
    add("net_children_better_off", "children", (float(net_better.mean()), *t_bounds(net_better.to_numpy())))
    if mean_cost > 0 and mean_months > 0:
        add("net_cost_per_child_month_avoided", "£ per child-month", _ratio(cost, months))
    if mean_cost > 0 and mean_months > 0 and float(net_better.mean()) > 0:
        add("net_cost_per_child_better_off", "£ per child (better off minus worse off)", _ratio(cost, net_better))
    if mean_cost <= 0 and mean_months < 0:
        add("saving_per_child_month_added", "£ per child-month", _ratio(-cost, -months))
    return pd.DataFrame(rows, columns=["measure", "value", "lo", "hi", "unit", "verdict", "replicates"])


def deflator_for(price_base: str, growth: float, base_year: int = 2025):
    """FY start year -> factor turning that year's cash into base-year prices (None for cash)."""
    if price_base == "cash":
        return None
    return lambda fy: float((1 + growth) ** (base_year - int(fy)))


def summarise(per_replicate: pd.DataFrame, columns=None) -> pd.DataFrame:
    """Mean and t-interval of each column across replicates."""
    rows = []
    for column in columns or [c for c in per_replicate.columns if c != "replicate"]:
        values = per_replicate[column].to_numpy(dtype=float)
        lo, hi = t_bounds(values)
        rows.append({"outcome": column, "value": float(np.nanmean(values)), "lo": lo, "hi": hi,
                     "replicates": int(np.isfinite(values).sum())})
    return pd.DataFrame(rows)
