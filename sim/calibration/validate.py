"""Compare a model's metrics with the calibration targets.

Rule (documented in docs/VALIDATION.md): a target is met when the mean over replicates of the
model value is within the declared tolerance of the published value,

    ok = |model - published| <= tolerance.

The replicate interval (2.5th-97.5th percentiles, `model_lo`/`model_hi`) is reported beside it so
that Monte Carlo noise is visible, but it does not widen the tolerance: a target that is met only
because one noisy replicate came close is not met. Run enough replicates (or a large enough
council) that the interval is narrow compared with the tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.calibration.targets import TARGETS, Target

COLUMNS = ["id", "quantity", "published", "model", "model_lo", "model_hi", "tolerance", "ok", "kind", "unit", "source"]
JSON_KEYS = ("id", "quantity", "published", "model", "model_lo", "model_hi", "tolerance", "ok")


def _values(metrics: pd.DataFrame, target: Target) -> pd.Series:
    """Per-replicate model values of one target (empty when the metric row is absent)."""
    date = pd.Timestamp(target.date)
    rows = metrics[(metrics["metric"] == target.metric) & (metrics["by"] == target.by)
                   & (metrics["group"].astype(str) == target.group) & (metrics["date"] == date)]
    return rows.groupby("replicate")["value"].mean()


def check_targets(metrics: pd.DataFrame, targets: tuple[Target, ...] = TARGETS) -> pd.DataFrame:
    """One row per target: published (in the metric's unit), model mean and 95% replicate interval,
    tolerance, ok. `metrics` is the tidy metrics table with a `replicate` column."""
    metrics = metrics.copy()
    if "replicate" not in metrics.columns:
        metrics["replicate"] = 0
    metrics["date"] = pd.to_datetime(metrics["date"])
    rows = []
    for target in targets:
        values = _values(metrics, target).astype(float)
        values = values[np.isfinite(values)]
        if len(values):
            model = float(values.mean())
            lo, hi = float(values.quantile(0.025)), float(values.quantile(0.975))
        else:
            model = lo = hi = math.nan
        published = float(target.published)
        ok = bool(np.isfinite(model) and abs(model - published) <= target.tolerance)
        rows.append({
            "id": target.id, "quantity": target.quantity, "published": published, "model": model,
            "model_lo": lo, "model_hi": hi, "tolerance": float(target.tolerance), "ok": ok,
            "kind": target.kind, "unit": target.unit, "source": target.source,
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def _fmt(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(df: pd.DataFrame) -> str:
    """The check as a plain Markdown table (no colour, no rich markup)."""
    header = "| id | quantity | published | model [95% interval] | tolerance | ok | kind | unit | source |"
    lines = [header, "|" + "---|" * 9]
    for row in df.itertuples(index=False):
        interval = f"{_fmt(row.model)} [{_fmt(row.model_lo)}, {_fmt(row.model_hi)}]"
        cells = [row.id, row.quantity, _fmt(row.published), interval, f"±{_fmt(row.tolerance)}",
                 "yes" if row.ok else "**no**", row.kind, row.unit, row.source]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def _json_number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def to_json_records(df: pd.DataFrame) -> list[dict]:
    """Records with exactly the keys id, quantity, published, model, model_lo, model_hi, tolerance, ok."""
    records = []
    for row in df.itertuples(index=False):
        records.append({
            "id": str(row.id),
            "quantity": str(row.quantity),
            "published": _json_number(row.published),
            "model": _json_number(row.model),
            "model_lo": _json_number(row.model_lo),
            "model_hi": _json_number(row.model_hi),
            "tolerance": _json_number(row.tolerance),
            "ok": bool(row.ok),
        })
    return records
