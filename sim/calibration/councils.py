"""Council-level validation: is each council's model value its published value, council by council?

Councils differ in EHCP rates, refusal rates, timeliness and appeals. The England configuration
gives each council its own size and deprivation (school census), EP capacity (from timeliness),
gatekeeping (from refusals), request and appeal propensity and caseload; this module compares the
resulting council values with the published ones, matched by `la_code`: quantiles across councils,
the relative spread (IQR / median) and the council-by-council correlation, with real denominators:

- EHCP rate: % of pupils with an EHC plan at the January 2025 census (published: DfE Local
  Authority Interactive Tool, all schools; model: its start census, which each council's plans per
  pupil scale, so the comparison tests how a council's 0-25 caseload per census pupil translates
  into its school-age EHCP rate, not the model's dynamics);
- refusal rate: % of decisions on requests that refuse an assessment, calendar 2025;
- 20-week timeliness: % of plans issued within 20 weeks (exceptions excluded), calendar 2025;
- appeal rate: appeals registered with the tribunal / appealable decisions, calendar 2025 (MoJ/DfE
  appealable-decisions table).

Small councils at a small `population.scale` have few simulated events, so their model values are
noisy; `sampling_note` says how many children and decisions the median council had.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.config.council_table import (
    council_profiles,
    load_council_table,
    resolve_path,
)

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# measure: (model metric, model date, published column (fraction), label)
MEASURES = {
    "ehcp_rate": ("ehcp_share_pupils", "2025-01-01", "ehcp_share_2025", "% of pupils with an EHC plan, January 2025"),
    "refusal_rate": ("refusal_rate", "2025-01-01", "refusal_rate_2025", "% of decisions refusing assessment, 2025"),
    "within_20_weeks": ("within_20_weeks_share", "2025-01-01", "within_20_weeks_2025", "% of plans issued within 20 weeks, 2025"),
    "appeal_rate": ("appeal_rate", "2025-01-01", "appeal_rate_2025", "appeals as % of appealable decisions, 2025"),
}


def published_values(table_name: str = "england") -> pd.DataFrame:
    """One row per council: la_code, la_name, region_name and each published measure in %."""
    table = load_council_table(resolve_path(table_name)).sort_values("la_code").reset_index(drop=True)
    out = table[["la_code", "la_name", "region_name"]].copy()
    for measure, (_, _, column, _) in MEASURES.items():
        out[measure] = 100 * table[column].astype(float)
    return out


def model_values(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per council (`la_code`): the model measure (mean over replicates) from tidy metrics by council."""
    frames = []
    for measure, (metric, date, _, _) in MEASURES.items():
        rows = metrics[(metrics["metric"] == metric) & (metrics["by"] == "council") & (metrics["date"] == pd.Timestamp(date))]
        frames.append(rows.groupby("group")["value"].mean().rename(measure))
    out = pd.concat(frames, axis=1)
    out.index = out.index.astype(str)
    return out.reset_index(names="la_code").sort_values("la_code").reset_index(drop=True)


def matched_values(model: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Model and published values side by side for the councils simulated (keyed by la_code)."""
    return published.merge(model, on="la_code", suffixes=("_published", "_model"))


def spread_table(model: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Per measure and source: councils, quantiles, IQR, IQR / median, and (model rows) the
    council-by-council Pearson and Spearman correlations with the published values."""
    matched = matched_values(model, published)
    rows = []
    for measure, (_, _, _, label) in MEASURES.items():
        both = matched[[f"{measure}_model", f"{measure}_published"]].dropna()
        for source in ("model", "published"):
            values = both[f"{measure}_{source}"]
            row = {"measure": measure, "label": label, "source": source, "councils": len(values)}
            row.update({f"q{int(q * 100):02d}": float(values.quantile(q)) if len(values) else np.nan for q in QUANTILES})
            row["iqr"] = row["q75"] - row["q25"]
            row["iqr_over_median"] = row["iqr"] / row["q50"] if row["q50"] else np.nan
            model_row = source == "model" and len(both) > 2
            row["correlation"] = float(both.corr().iloc[0, 1]) if model_row else np.nan
            row["rank_correlation"] = float(both.corr(method="spearman").iloc[0, 1]) if model_row else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def sampling_note(system: pd.DataFrame, scale: float) -> str:
    """What the scale means for council values: pupils simulated in the median and smallest council."""
    first = system[system["date"] == system["date"].min()]
    if "replicate" in first.columns:
        first = first[first["replicate"] == first["replicate"].min()]
    pupils = first.groupby("la_code" if "la_code" in first.columns else "council")["pupils"].sum()
    return (f"population.scale {scale}: the median council has {int(pupils.median()):,} simulated pupils "
            f"(smallest {int(pupils.min()):,}), so its yearly requests, decisions and appeals number in the tens "
            "at scale 0.05 and in the hundreds at scale 0.5; model quantiles and correlations include that "
            "sampling noise (more replicates or a larger scale reduce it).")


def spread_figure(model: pd.DataFrame, published: pd.DataFrame, path: Path) -> Path:
    """Per measure: model vs published, one point per council (with the 1:1 line)."""
    matched = matched_values(model, published)
    figure = Figure(figsize=(4.0 * len(MEASURES), 4.0))
    for i, (measure, (_, _, _, label)) in enumerate(MEASURES.items()):
        ax = figure.add_subplot(1, len(MEASURES), i + 1)
        both = matched[[f"{measure}_published", f"{measure}_model"]].dropna()
        x, y = both[f"{measure}_published"].to_numpy(), both[f"{measure}_model"].to_numpy()
        ax.scatter(x, y, s=10, color="black", alpha=0.6)
        if len(x):
            lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
            ax.plot([lo, hi], [lo, hi], "--", color="grey", linewidth=1, label="model = published")
        r = both.corr().iloc[0, 1] if len(both) > 2 else np.nan
        ax.set_title(f"{label}\n(r = {r:.2f}, {len(both)} councils)", fontsize=9)
        ax.set_xlabel("published (%)")
        ax.set_ylabel("model (%)")
        ax.legend(fontsize=8, loc="upper left")
    figure.suptitle("England's councils, model vs published (one point per council)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def profiles(table_name: str = "england") -> pd.DataFrame:
    """Re-export for reports: the model-facing council profile table."""
    return council_profiles(table_name)
