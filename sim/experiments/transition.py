"""The transition cohort: what became of the children who held a plan when the law changed.

Why: the legal switch is where a reform creates losers. Children holding an EHCP the month
before the switch are the ones whose existing entitlement the reform reviews; a think tank
needs to know how many kept their plan, how many moved to an Individual Support Plan, and how
many lost support, and whether that falls more on poorer families.

The cohort is defined in the reform run (`ehcp_at_switch` in `children.parquet`: school-age
EHCP holders at the end of the month before `transition.legal_switch`); each child's fate is
`plan_after_switch` (kept_plan, moved_to_isp, plan_ended). "Lost support" is measured against
the same child in the baseline (common random numbers): a child who left their plan after the
switch (moved to an ISP or ceased) and spent more months with unmet need than in the baseline.
All shares are computed inside each replicate, then summarised (mean and 95% t-interval).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.experiments.compare import ANALYSIS_COLUMNS, pair_children
from sim.metrics.intervals import t_bounds

TRANSITION_CSV = "transition_cohort.csv"
FATES = ("kept_plan", "moved_to_isp", "plan_ended")
COLUMNS = ["by", "group", "measure", "value", "lo", "hi", "replicates"]
MEASURES = {
    "children": "children in the cohort (per replicate)",
    "kept_plan": "% kept a plan",
    "moved_to_isp": "% moved to an ISP",
    "plan_ended": "% plan ended otherwise (needs met, left at 16+)",
    "lost_support": "% lost support (left the plan and more unmet-need months than in the baseline)",
    "unmet_need_change": "change in unmet-need months per child over the run (reform minus baseline)",
}


def transition_cohort(baseline_children: pd.DataFrame, reform_children: pd.DataFrame, *,
                      paired: pd.DataFrame | None = None) -> pd.DataFrame:
    """Tidy table (by, group, measure, value, lo, hi, replicates) for the cohort, by FSM and income quintile.

    Empty when the reform's children table has no `ehcp_at_switch` column or nobody held a plan
    at the switch (the switch is outside the run). `paired`: the tables already paired
    (`sim.experiments.compare.pair_children`, with at least `ANALYSIS_COLUMNS`).
    """
    if "ehcp_at_switch" not in reform_children.columns or not reform_children["ehcp_at_switch"].astype(bool).any():
        return pd.DataFrame(columns=COLUMNS)
    if paired is None:
        paired = pair_children(baseline_children, reform_children, columns=ANALYSIS_COLUMNS)
    cohort = paired[paired["ehcp_at_switch_r"].astype(bool)].copy()
    fate = cohort["plan_after_switch_r"].astype(str)
    change = cohort["unmet_months_r"].astype(float) - cohort["unmet_months_b"].astype(float)
    frame = pd.DataFrame({
        "replicate": cohort["replicate"].to_numpy(),
        "all": "all",
        "fsm": np.where(cohort["fsm_b"].astype(bool), "fsm", "non_fsm"),
        "income_quintile": cohort["income_quintile_b"].astype(int).astype(str).to_numpy(),
        **{f: 100.0 * (fate == f).to_numpy() for f in FATES},
        "lost_support": 100.0 * ((fate != "kept_plan") & (change > 0)).to_numpy(),
        "unmet_need_change": change.to_numpy(),
        "children": 1.0,
    })
    rows = []
    replicates = sorted(paired["replicate"].unique())
    for by in ("all", "fsm", "income_quintile"):
        means = frame.groupby(["replicate", by])[[*FATES, "lost_support", "unmet_need_change"]].mean()
        counts = frame.groupby(["replicate", by])["children"].sum()
        per_rep = means.join(counts).reset_index()
        for group, part in per_rep.groupby(by):
            for measure in MEASURES:
                values = part[measure].to_numpy(dtype=float)
                if measure == "children":  # a group absent from a replicate has no children there
                    values = np.concatenate([values, np.zeros(len(replicates) - len(values))])
                lo, hi = t_bounds(values)
                rows.append({"by": by, "group": str(group), "measure": measure, "value": float(values.mean()),
                             "lo": lo, "hi": hi, "replicates": len(values)})
    return pd.DataFrame(rows, columns=COLUMNS)
