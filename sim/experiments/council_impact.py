"""Council results of a paired comparison: which councils, regions and kinds of council gain or lose.

Why: the reform's winners and losers are councils as much as families, and councils differ
enormously (3% to 47% of pupils eligible for free school meals). Every number here is computed
inside a replicate from sums over the same paired children and the same council months, and only
then summarised across replicates (mean; 2.5-97.5 percentile interval for the change in unmet
need), as everywhere in the comparison. Groups of councils (deprivation deciles, regions) pool the
sums of their councils, so a group value is a child- or pupil-weighted value, not a mean of
council means.

Definitions (per council, each route):

- unmet-need months: mean over the children with need in either run of the months their need was
  unmet (the equity table's `unmet_need_months`, per council);
- FSM gap in unmet-need months, **raw**: FSM minus non-FSM mean of the same; not standardised for
  need (more FSM children have severe needs), so it mixes disadvantage in access with differences
  in need;
- EHC plans per 100 pupils at the January 2030 and January 2035 censuses (if the run covers them;
  the run's `ehcp_share_pupils`, pooled over councils with their pupils as weights);
- high-needs spending per pupil: council high-needs spending over the run / pupil-months x 12
  (£ per pupil per year, prices as in the cost table);
- cumulative high-needs deficit per pupil at the end of the run (£; positive = deficit);
- cost per child supported: all spending (every budget holder) over the run / children with need
  who received any support during the run (£ per child).

Per-pupil and per-child values do not depend on `population.scale`; small councils at a small
scale have few children, so their values are noisy (`children_with_need` says how many).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.config.council_table import load_council_table, resolve_path
from sim.experiments.compare import ANALYSIS_COLUMNS, pair_children, text_codes
from sim.finance_ledger import LINES
from sim.metrics.intervals import t_hi, t_lo

CENSUS_YEARS = (2030, 2035)
DECILES = 10
HIGH_NEEDS_LINES = [f"spend_{line}" for line, holder in LINES if holder == "council_high_needs"]
ALL_SPEND_LINES = [f"spend_{line}" for line, _ in LINES]

#: Columns of council_impact.csv (the decile and region tables share the value columns).
VALUE_COLUMNS = [
    "children_with_need",
    "unmet_need_months_baseline", "unmet_need_months_reform", "unmet_need_months_change",
    "unmet_need_months_change_lo", "unmet_need_months_change_hi",
    "fsm_gap_unmet_need_months_raw_baseline", "fsm_gap_unmet_need_months_raw_reform", "fsm_gap_unmet_need_months_raw_change",
    *[f"ehcps_per_100_pupils_{y}_{route}" for y in CENSUS_YEARS for route in ("baseline", "reform", "change")],
    "high_needs_spend_per_pupil_baseline", "high_needs_spend_per_pupil_reform", "high_needs_spend_per_pupil_change",
    "deficit_end_per_pupil_baseline", "deficit_end_per_pupil_reform", "deficit_end_per_pupil_change",
    "cost_per_child_supported_baseline", "cost_per_child_supported_reform", "cost_per_child_supported_change",
    "replicates",
]
IDENTITY_COLUMNS = ["la_code", "la_name", "region_name", "deprivation_decile", "fsm_share"]


def deprivation_deciles(table_name: str) -> pd.DataFrame:
    """Each council's deprivation decile among all councils of the table, by its share of pupils
    eligible for free school meals (1 = the tenth of councils with the lowest share, 10 = highest)."""
    table = load_council_table(resolve_path(table_name))
    ranks = table["fsm_share"].rank(method="first")
    decile = np.ceil(ranks / len(table) * DECILES).astype(int).clip(1, DECILES)
    return pd.DataFrame({"la_code": table["la_code"], "la_name": table["la_name"], "region_name": table["region_name"],
                         "deprivation_decile": decile, "fsm_share": table["fsm_share"]})


def _child_sums(paired: pd.DataFrame) -> pd.DataFrame:
    """Per replicate and council: sums over the paired children (unmet need, FSM split, supported)."""
    need_b, need_r = paired["need_months_b"] > 0, paired["need_months_r"] > 0
    with_need = need_b | need_r
    fsm = paired["fsm_b"].astype(bool)
    frame = pd.DataFrame({
        "n": with_need.astype(float).to_numpy(),
        "unmet_b": paired["unmet_months_b"].where(with_need, 0.0).astype(float).to_numpy(),
        "unmet_r": paired["unmet_months_r"].where(with_need, 0.0).astype(float).to_numpy(),
        "n_fsm": (with_need & fsm).astype(float).to_numpy(),
        "unmet_b_fsm": paired["unmet_months_b"].where(with_need & fsm, 0.0).astype(float).to_numpy(),
        "unmet_r_fsm": paired["unmet_months_r"].where(with_need & fsm, 0.0).astype(float).to_numpy(),
        "supported_b": (need_b & paired["months_to_support_b"].notna()).astype(float).to_numpy(),
        "supported_r": (need_r & paired["months_to_support_r"].notna()).astype(float).to_numpy(),
    })
    replicates, replicate = np.unique(paired["replicate"].to_numpy(), return_inverse=True)
    council, councils = text_codes(paired["la_code_b"])
    # one integer key per (replicate, council), in (replicate, council code) order
    sums = frame.groupby(replicate.astype(np.int64) * len(councils) + council).sum()
    found = sums.index.to_numpy()
    sums.insert(0, "la_code", councils[found % len(councils)])
    sums.insert(0, "replicate", replicates[found // len(councils)])
    return sums.reset_index(drop=True)


def _system_sums(system: pd.DataFrame, metrics: pd.DataFrame, suffix: str) -> pd.DataFrame:
    """Per replicate and council: pupil-months, spending, end-of-run deficit and pupils, and the
    January census EHCP share (the run's `ehcp_share_pupils` by council) times the council's pupils."""
    system = system.copy()
    system["la_code"] = system["la_code"].astype(str)
    if "replicate" not in system.columns:
        system["replicate"] = 0
    keys = ["replicate", "la_code"]
    grouped = system.groupby(keys, observed=True)
    out = pd.DataFrame({
        "pupil_months": grouped["pupils"].sum(),
        "high_needs": grouped[HIGH_NEEDS_LINES].sum().sum(axis=1) if HIGH_NEEDS_LINES else 0.0,
        "spend": grouped[ALL_SPEND_LINES].sum().sum(axis=1),
    })
    last = system[system["date"] == system["date"].max()].set_index(keys)
    out["deficit_end"] = last["deficit"]
    out["pupils_end"] = last["pupils"]
    if "replicate" not in metrics.columns:
        metrics = metrics.assign(replicate=0)
    share = metrics[(metrics["metric"] == "ehcp_share_pupils") & (metrics["by"] == "council")]
    for year in CENSUS_YEARS:
        date = pd.Timestamp(year=year, month=1, day=1)
        census = system[system["date"] == date].set_index(keys)["pupils"]
        rows = share[share["date"] == date].rename(columns={"group": "la_code"}).set_index(keys)["value"]
        out[f"pupils_{year}"] = census.where(census.index.isin(rows.index)) if len(rows) else np.nan
        out[f"ehcp_{year}"] = rows / 100 * census if len(rows) else np.nan
    return out.add_suffix(suffix).reset_index()


def _ratios(sums: pd.DataFrame) -> pd.DataFrame:
    """Per-replicate values from pooled sums (any grouping of councils)."""
    out = pd.DataFrame(index=sums.index)
    out["children_with_need"] = sums["n"]
    out["smaller_fsm_group"] = np.minimum(sums["n_fsm"], sums["n"] - sums["n_fsm"])
    for route, s in (("baseline", "b"), ("reform", "r")):
        out[f"unmet_need_months_{route}"] = sums[f"unmet_{s}"] / sums["n"].where(sums["n"] > 0)
        fsm = sums[f"unmet_{s}_fsm"] / sums["n_fsm"].where(sums["n_fsm"] > 0)
        non = (sums[f"unmet_{s}"] - sums[f"unmet_{s}_fsm"]) / (sums["n"] - sums["n_fsm"]).where(sums["n"] > sums["n_fsm"])
        out[f"fsm_gap_unmet_need_months_raw_{route}"] = fsm - non
        for year in CENSUS_YEARS:
            out[f"ehcps_per_100_pupils_{year}_{route}"] = 100 * sums[f"ehcp_{year}_{s}"] / sums[f"pupils_{year}_{s}"].where(
                sums[f"pupils_{year}_{s}"] > 0)
        out[f"high_needs_spend_per_pupil_{route}"] = 12 * sums[f"high_needs_{s}"] / sums[f"pupil_months_{s}"].where(
            sums[f"pupil_months_{s}"] > 0)
        out[f"deficit_end_per_pupil_{route}"] = sums[f"deficit_end_{s}"] / sums[f"pupils_end_{s}"].where(sums[f"pupils_end_{s}"] > 0)
        out[f"cost_per_child_supported_{route}"] = sums[f"spend_{s}"] / sums[f"supported_{s}"].where(sums[f"supported_{s}"] > 0)
    for stem in ("unmet_need_months", "fsm_gap_unmet_need_months_raw", *[f"ehcps_per_100_pupils_{y}" for y in CENSUS_YEARS],
                 "high_needs_spend_per_pupil", "deficit_end_per_pupil", "cost_per_child_supported"):
        out[f"{stem}_change"] = out[f"{stem}_reform"] - out[f"{stem}_baseline"]
    return out


def _summarise(per_council: pd.DataFrame, keys: list[str], small_cell: int) -> pd.DataFrame:
    """Pool councils into `keys` groups inside each replicate, then mean (and interval) across replicates."""
    sum_columns = [c for c in per_council.columns if c not in {"replicate", *IDENTITY_COLUMNS}]
    pooled = per_council.groupby([*keys, "replicate"], observed=True)[sum_columns].sum(min_count=1)
    values = _ratios(pooled).reset_index()
    grouped = values.groupby(keys, observed=True)
    summary = grouped.mean(numeric_only=True).drop(columns="replicate")
    summary["unmet_need_months_change_lo"] = grouped["unmet_need_months_change"].agg(t_lo)
    summary["unmet_need_months_change_hi"] = grouped["unmet_need_months_change"].agg(t_hi)
    summary["replicates"] = grouped["replicate"].nunique()
    # disclosure and noise: every child-based value needs enough children, a gap enough in both groups
    few = summary["children_with_need"] < small_cell
    summary.loc[few, [c for c in VALUE_COLUMNS if c.startswith(("unmet", "fsm_gap"))]] = np.nan
    summary.loc[summary["smaller_fsm_group"] < small_cell, [c for c in VALUE_COLUMNS if c.startswith("fsm_gap")]] = np.nan
    return summary.drop(columns="smaller_fsm_group").reset_index()


def council_results(baseline_children: pd.DataFrame, reform_children: pd.DataFrame, baseline_system: pd.DataFrame,
                    reform_system: pd.DataFrame, baseline_metrics: pd.DataFrame, reform_metrics: pd.DataFrame,
                    table_name: str, small_cell: int = 10, *,
                    paired: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Per-council impact table, and the same pooled by deprivation decile and by region.

    The children tables must be paired (same replicates and children: `pair_children` checks it)
    and carry `la_code`; the system tables carry `la_code` and the spending lines; the metrics
    tables give each council's January census EHCP share. `paired`: the children tables already
    paired (`pair_children`, with at least `ANALYSIS_COLUMNS`).
    """
    if paired is None:
        paired = pair_children(baseline_children, reform_children, columns=ANALYSIS_COLUMNS)
    sums = _child_sums(paired)
    for system, metrics, suffix in ((baseline_system, baseline_metrics, "_b"), (reform_system, reform_metrics, "_r")):
        sums = sums.merge(_system_sums(system, metrics, suffix), on=["replicate", "la_code"], how="outer")
    identity = deprivation_deciles(table_name)
    sums = sums.merge(identity, on="la_code", how="left")
    if sums["la_name"].isna().any():
        unknown = sorted(sums.loc[sums["la_name"].isna(), "la_code"].unique())
        raise ValueError(f"councils {unknown} are not in the council table {table_name!r}")
    councils = _summarise(sums, IDENTITY_COLUMNS, small_cell)
    councils = councils[IDENTITY_COLUMNS + VALUE_COLUMNS].sort_values("la_code").reset_index(drop=True)
    councils["deprivation_decile"] = councils["deprivation_decile"].astype(int)
    by_decile = _summarise(sums, ["deprivation_decile"], small_cell)
    by_decile["deprivation_decile"] = by_decile["deprivation_decile"].astype(int)
    by_decile.insert(1, "councils", sums.groupby("deprivation_decile")["la_code"].nunique().reindex(by_decile["deprivation_decile"]).to_numpy().astype(int))
    by_region = _summarise(sums, ["region_name"], small_cell)
    by_region.insert(1, "councils", sums.groupby("region_name")["la_code"].nunique().reindex(by_region["region_name"]).to_numpy().astype(int))
    return {
        "council_impact": councils,
        "council_impact_by_decile": by_decile[["deprivation_decile", "councils", *VALUE_COLUMNS]],
        "council_impact_by_region": by_region[["region_name", "councils", *VALUE_COLUMNS]],
    }
