"""The transition cohort on the page: children who held a plan at the switch, by FSM and income."""

from __future__ import annotations

import pandas as pd

from sim.report.document import DASH, Document, interval

GROUPS = (("all", "all", "All plan holders at the switch"), ("fsm", "fsm", "Free school meals (FSM)"),
          ("fsm", "non_fsm", "Not FSM"), *[("income_quintile", str(q), f"Income quintile {q}"
                                            + (" (lowest)" if q == 1 else " (highest)" if q == 5 else ""))
                                           for q in range(1, 6)])
COLUMNS = (("children", "Children per replicate", 0), ("kept_plan", "Kept a plan, %", 1),
           ("moved_to_isp", "Moved to an ISP, %", 1), ("plan_ended", "Plan ended otherwise, %", 1),
           ("lost_support", "Lost support, %", 1), ("unmet_need_change", "Change in unmet-need months", 2))


def transition_section(doc: Document, table: pd.DataFrame | None, small_cell: int = 10) -> None:
    """The section (nothing when the table is absent or empty: no switch in the run)."""
    if table is None or table.empty:
        return
    doc.heading(2, "The transition cohort: children holding a plan at the switch")
    doc.para("Children holding an EHCP at school age in the month before the legal switch, followed under the reform "
             "to the end of the run: whether they kept a plan, moved to an Individual Support Plan (ISP) at the "
             "legacy review, or their plan ended otherwise (needs met, left education at 16+). **Lost support**: "
             "left their plan after the switch and spent more months with need unmet than the same child in the "
             "baseline. The change in unmet-need months is reform minus baseline for the same children, over the "
             "whole run. Shares are computed inside each replicate; 95% t-intervals over replicates. Income and FSM "
             f"are the family's. {DASH}: fewer than {small_cell} children per replicate.")
    rows = []
    for by, group, label in GROUPS:
        part = table[(table["by"] == by) & (table["group"].astype(str) == group)].set_index("measure")
        if part.empty:
            continue
        n = float(part.loc["children", "value"]) if "children" in part.index else 0.0
        cells = [label]
        for measure, _, decimals in COLUMNS:
            if measure not in part.index:
                cells.append(DASH)
            elif measure == "children":
                cells.append(f"{n:,.0f}")
            elif n < small_cell:
                cells.append(DASH)
            else:
                r = part.loc[measure]
                cells.append(interval(r["value"], r["lo"], r["hi"], decimals, signed=measure == "unmet_need_change"))
        rows.append(cells)
    doc.table(["Group", *[c[1] for c in COLUMNS]], rows)
