"""Council-level validation: is the spread across councils in the model the published spread?

Councils differ in EHCP rates, refusal rates and timeliness. The England configuration draws
each council's EP capacity, gatekeeping and demand from the SEN2 table; this module compares the
resulting distribution across the 153 councils (quantiles, and the council-by-council
correlation, since councils are matched by code) with the published one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.population.council_table import council_profiles, load_council_table, resolve_path

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# measure: (model metric, model date, published column, scale to %, note)
MEASURES = {
    "ehcp_rate": ("ehcp_share_pupils", "2026-01-01", None, "EHC plans per 100 pupils, January 2026 (published pupils are imputed)"),
    "refusal_rate": ("refusal_rate", "2025-01-01", "refusal_rate_2025", "% of decisions refusing assessment, 2025"),
    "within_20_weeks": ("within_20_weeks_share", "2025-01-01", "within_20_weeks_2025", "% of plans issued within 20 weeks, 2025"),
}


def published_values(table_name: str = "england") -> pd.DataFrame:
    """One row per council: the published measure in %, keyed by council index (table order)."""
    table = load_council_table(resolve_path(table_name)).sort_values("la_code").reset_index(drop=True)
    return pd.DataFrame({
        "council": np.arange(len(table)),
        "la_code": table["la_code"],
        "ehcp_rate": 100 * table["plans_2025"] / table["pupils_est"],
        "refusal_rate": 100 * table["refusal_rate_2025"],
        "within_20_weeks": 100 * table["within_20_weeks_2025"],
    })


def model_values(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per council: the model measure (mean over replicates) from tidy metrics by council."""
    frames = []
    for measure, (metric, date, _, _) in MEASURES.items():
        rows = metrics[(metrics["metric"] == metric) & (metrics["by"] == "council") & (metrics["date"] == pd.Timestamp(date))]
        values = rows.groupby("group")["value"].mean()
        frames.append(values.rename(measure))
    out = pd.concat(frames, axis=1).reset_index(names="council")
    out["council"] = out["council"].astype(int)
    return out.sort_values("council").reset_index(drop=True)


def spread_table(model: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Quantiles across councils, model vs published, and the council-by-council correlation."""
    matched = model.merge(published, on="council", suffixes=("_model", "_published"))
    rows = []
    for measure, (_, _, _, label) in MEASURES.items():
        for source in ("model", "published"):
            values = matched[f"{measure}_{source}"].dropna()
            row = {"measure": measure, "label": label, "source": source, "councils": len(values)}
            row.update({f"q{int(q * 100):02d}": float(values.quantile(q)) for q in QUANTILES})
            row["iqr"] = row["q75"] - row["q25"]
            both = matched[[f"{measure}_model", f"{measure}_published"]].dropna()
            row["correlation"] = float(both.corr().iloc[0, 1]) if source == "model" and len(both) > 2 else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def spread_figure(model: pd.DataFrame, published: pd.DataFrame, path: Path) -> Path:
    """Empirical distribution across councils, model (solid) vs published (dashed), per measure."""
    figure = Figure(figsize=(12, 3.8))
    matched = model.merge(published, on="council", suffixes=("_model", "_published"))
    for i, (measure, (_, _, _, label)) in enumerate(MEASURES.items()):
        ax = figure.add_subplot(1, len(MEASURES), i + 1)
        for source, style in (("model", "-"), ("published", "--")):
            values = np.sort(matched[f"{measure}_{source}"].dropna().to_numpy())
            ax.step(values, np.arange(1, len(values) + 1) / len(values), style, color="black" if source == "model" else "grey", label=source)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("%")
        ax.set_ylabel("share of councils at or below")
        ax.legend(fontsize=8)
    figure.suptitle("Spread across England's councils: model vs published")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def profiles(table_name: str = "england") -> pd.DataFrame:
    """Re-export for reports: the model-facing council profile table."""
    return council_profiles(table_name)
