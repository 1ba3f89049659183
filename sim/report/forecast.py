"""A published forecast: the calibrated model's January 2026 census and calendar-2026 flows,
written with intervals so that anyone can score it when the statistics appear
(`sendsim forecast`, docs/FORECAST.md).

Why: a backtest is scored on data the modeller has seen, however carefully the fit is blinded.
A forecast written down, dated and tied to a commit before the figures are published is the
only test nobody can tune to. Each quantity is stated in the unit of the publication it will be
compared with (national counts for plans, requests, new plans and appeals; shares for the
census and timeliness), with the release that will settle it.

Conversions invert those of `sim.calibration.targets`: the model's per-pupil rates for
Reception-Year 11 times the 8.1m pupils of January 2025, divided by the 2025 school-age share of
each national count (requests, new plans; appeals with the plans' share). Plans of all ages are
forecast in proportion to the census share the model is calibrated to (638,745 plans per 5.3% of
pupils, January 2025). The forecast therefore assumes that pupil numbers, the age mix and the
ratio of plans to the census share stay at 2025's; the denominator's
own uncertainty (about 2%) is not in the intervals, which cover the model's chance and, with an
ensemble, its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from sim import __version__
from sim.calibration.ensemble_runs import ensemble_metrics, ensemble_summary, single_member
from sim.calibration.targets import (
    APPEALS_2025,
    CASELOAD_2025_RY11,
    CASELOAD_2025_TOTAL,
    NEW_PLANS_2025_BY_AGE,
    NEW_PLANS_2025_TOTAL,
    REQUESTS_2025_BY_AGE,
    REQUESTS_2025_TOTAL,
    SCHOOL_AGE_PUPILS,
    TARGETS,
    school_age_sum,
)
from sim.config import validate_config
from sim.experiments.provenance import git_state

#: The run must cover calendar 2026.
FORECAST_END = "2026-12"
CENSUS_DATE = "2026-01-01"
FLOW_DATE = "2026-01-01"  # calendar-year flows are dated on 1 January of their year

_TIMELINESS_2025 = next(t.published for t in TARGETS if t.id == "sen2:timeliness_2025")
#: The model is calibrated to the census share of pupils with a plan (T002, 5.3%), so plans of all
#: ages are forecast in proportion to it: 638,745 plans (SEN2, January 2025) per 5.3% of pupils.
_EHCP_SHARE_2025 = next(t.published for t in TARGETS if t.id == "T002")


@dataclass(frozen=True)
class Quantity:
    """One forecast quantity: which model metric, how it becomes the published unit, and what
    it will be compared with."""

    key: str
    label: str
    metric: str
    date: str
    factor: float  # model value x factor = the published unit
    unit: str
    decimals: int
    last_published: str  # the latest published value, for context
    compared_with: str


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("ehcp_share", "Pupils with an EHC plan, January 2026", "ehcp_share_pupils", CENSUS_DATE, 1.0,
             "% of pupils", 2, "5.3% (January 2025)",
             "'Special educational needs in England', January 2026 school census: % of pupils with an EHC plan, all schools"),
    Quantity("sen_support_share", "Pupils on SEN support, January 2026", "sen_support_share_pupils", CENSUS_DATE, 1.0,
             "% of pupils", 2, "14.2% (January 2025)",
             "'Special educational needs in England', January 2026 school census: % of pupils on SEN support"),
    Quantity("ehc_plans", "EHC plans maintained, January 2026 (ages 0-25)", "ehcp_share_pupils", CENSUS_DATE,
             CASELOAD_2025_TOTAL / _EHCP_SHARE_2025, "plans", 0,
             f"{CASELOAD_2025_TOTAL:,} (January 2025)",
             "'Education, health and care plans' (SEN2), England, plans maintained in January 2026"),
    Quantity("requests", "Initial requests for an EHC needs assessment, calendar 2026", "request_rate", FLOW_DATE,
             SCHOOL_AGE_PUPILS / 1000.0 / (school_age_sum(REQUESTS_2025_BY_AGE, 0) / REQUESTS_2025_TOTAL), "requests", 0,
             f"{REQUESTS_2025_TOTAL:,} (2025)",
             "'Education, health and care plans' (SEN2) covering calendar 2026: initial requests for assessment, England"),
    Quantity("new_plans", "New EHC plans, calendar 2026", "new_plan_rate", FLOW_DATE,
             SCHOOL_AGE_PUPILS / 1000.0 / (school_age_sum(NEW_PLANS_2025_BY_AGE) / NEW_PLANS_2025_TOTAL), "plans", 0,
             f"{NEW_PLANS_2025_TOTAL:,} (2025)",
             "'Education, health and care plans' (SEN2) covering calendar 2026: new EHC plans made, England"),
    Quantity("within_20_weeks", "New plans issued within 20 weeks (excluding exceptions), calendar 2026",
             "within_20_weeks_share", FLOW_DATE, 1.0, "% of new plans", 1,
             f"{_TIMELINESS_2025:.1f}% school age (2025; all ages 46.1%)",
             "'Education, health and care plans' (SEN2) covering calendar 2026: % issued within 20 weeks, excluding exceptions"),
    Quantity("appeals", "SEND tribunal appeals registered, calendar 2026", "appeal_registration_rate", FLOW_DATE,
             SCHOOL_AGE_PUPILS / 10000.0 / (CASELOAD_2025_RY11 / CASELOAD_2025_TOTAL), "appeals", 0,
             f"{APPEALS_2025:,} (2025)",
             "SEN2 appealable decisions and appeal rates covering calendar 2026 (or tribunal statistics, calendar 2026)"),
)

FORECAST_COLUMNS = ["key", "quantity", "unit", "forecast", "lo_combined", "hi_combined", "lo", "hi",
                    "model_metric", "model_value", "last_published", "compared_with"]


def forecast_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The forecast quantities from an ensemble summary (`sim.calibration.ensemble_runs.ensemble_summary`)."""
    summary = summary.copy()
    summary["date"] = pd.to_datetime(summary["date"])
    rows = []
    for q in QUANTITIES:
        match = summary[(summary["metric"] == q.metric) & (summary["by"] == "all") & (summary["date"] == pd.Timestamp(q.date))]
        if match.empty:
            raise ValueError(f"the run did not produce {q.metric} for {q.date} (it must cover calendar 2026)")
        row = match.iloc[0]
        rows.append({
            "key": q.key, "quantity": q.label, "unit": q.unit, "forecast": row["mean"] * q.factor,
            "lo_combined": row["lo_combined"] * q.factor, "hi_combined": row["hi_combined"] * q.factor,
            "lo": row["lo"] * q.factor, "hi": row["hi"] * q.factor, "model_metric": q.metric,
            "model_value": row["mean"], "last_published": q.last_published, "compared_with": q.compared_with,
        })
    return pd.DataFrame(rows, columns=FORECAST_COLUMNS)


def _number(value: float, decimals: int) -> str:
    if not np.isfinite(value):
        return "-"
    return f"{value:,.{decimals}f}" if decimals else f"{round(value, -2):,.0f}"


def render_forecast(table: pd.DataFrame, provenance: dict) -> str:
    """docs/FORECAST.md: what is forecast, with what, when, and how to score it."""
    decimals = {q.key: q.decimals for q in QUANTITIES}
    git = provenance.get("git", {})
    commit = git.get("commit", "unknown") + (" (with uncommitted changes)" if git.get("dirty") else "")
    lines = [
        "# Forecast: January 2026 census and calendar-2026 flows", "",
        f"Made on **{provenance['made']}** by `{provenance['command']}` with sendsim {provenance['version']}, "
        f"commit `{commit}`.", "",
        f"Model: `{provenance['config']}` ({provenance['scenario']}), the EHCP route as it stands, "
        f"{provenance['scale_note']}; {provenance['replicates']} replicates per parameter set, root seed "
        f"{provenance['seed']}. Parameters: {provenance['ensemble_note']}", "",
        "The model was calibrated to published figures up to 2025 only; no 2026 figure was used or looked at.", "",
        "| quantity | forecast | 95% interval (chance + parameters) | 95% interval (chance alone) | latest published | "
        "to be compared with |",
        "|---|---|---|---|---|---|",
    ]
    for row in table.itertuples(index=False):
        d = decimals[row.key]
        unit = "" if row.unit in ("plans", "requests", "appeals") else f" {row.unit}"
        lines.append(f"| {row.quantity} | **{_number(row.forecast, d)}**{unit} | {_number(row.lo_combined, d)} to "
                     f"{_number(row.hi_combined, d)} | {_number(row.lo, d)} to {_number(row.hi, d)} | {row.last_published} | "
                     f"{row.compared_with} |")
    lines += [
        "", "## How to score it", "",
        "* For each quantity, note whether the published figure falls inside the 95% interval (chance + "
        "parameters) and its error, (forecast - published) / published. A well-calibrated model has about 19 of 20 "
        "such intervals containing the published figure over many forecasts; one forecast year is a single draw.",
        "* Counts (requests, new plans, appeals) are national, all ages, converted from the model's "
        "Reception-Year 11 rates with the 2025 school-age shares and 8.1m pupils; plans maintained are 638,745 "
        "(January 2025) scaled by the model's census share over 5.3%. A change in the age mix, pupil numbers or "
        "the ratio of plans to the census share moves them by a few per cent that the intervals do not include.",
        "* The census shares are % of all pupils in the publication and % of Reception-Year 11 pupils in the model "
        "(the validation tolerances, docs/VALIDATION.md, quantify the difference: about 0.2 points).",
        "* Timeliness is the school-age share excluding exceptions; the headline national figure covers all ages.",
        "",
        "## What the intervals cover", "",
        "*Chance alone* is the spread across replicates (the same children, different luck). *Chance + "
        "parameters* pools the replicates of every ensemble member, each a parameter set the published targets do "
        "not rule out, so it adds what the data leave open about the parameters. Neither covers structural error "
        "(a mechanism the model lacks, such as a change in law or funding after January 2025): the backtest "
        "(docs/BACKTEST.md) shows how large that has been in the past.", "",
        "Model values (the metric each row is converted from):", "",
    ]
    for row in table.itertuples(index=False):
        lines.append(f"* {row.key}: `{row.model_metric}` = {row.model_value:.4g}")
    lines.append("")
    return "\n".join(lines)


def forecast_provenance(config_path: str | Path, config, replicates: int, ensemble, ensemble_path, command: str) -> dict:
    scale = config.population.scale
    pupils = config.population.pupils_per_council * scale * config.population.councils
    if ensemble_path:
        note = (f"an ensemble of {len(ensemble.members)} parameter sets (`{ensemble_path}`, made {ensemble.created}): "
                f"{ensemble.method}." + ("" if ensemble.cut_met else " **Too few parameter sets passed the "
                                         "implausibility cut; the intervals are conditional on the least implausible ones.**"))
    else:
        note = "the config's own values (no ensemble given): the intervals cover chance only."
    return {"made": date.today().isoformat(), "command": command, "version": __version__, "git": git_state(),
            "config": str(config_path), "scenario": config.name, "seed": config.run.seed, "replicates": replicates,
            "scale_note": f"{config.population.councils} council(s) of {pupils:,.0f} simulated pupils (scale {scale:g})",
            "ensemble_note": note}


def write_forecast(config, config_path: str | Path, out: str | Path, replicates: int = 4, ensemble=None,
                   ensemble_path: str | Path | None = None, workers: int | None = None, command: str = "",
                   on_done=None) -> tuple[Path, pd.DataFrame]:
    """Run the config (cut at December 2026) at every ensemble member, or at its own values, and
    write the forecast document. Returns the path and the forecast table."""
    data = config.model_dump(mode="json")
    if data["run"]["start"] > CENSUS_DATE[:7]:
        raise ValueError(f"a forecast of January 2026 needs a run starting by then, not {data['run']['start']}")
    data["run"]["end"] = FORECAST_END
    config = validate_config(data)
    members = ensemble if ensemble is not None else single_member(config)
    metrics, _ = ensemble_metrics(config, members, replicates, workers, on_done)
    summary = ensemble_summary(metrics, {m.name: m.weight for m in members.members})
    table = forecast_table(summary)
    provenance = forecast_provenance(config_path, config, replicates, members, ensemble_path if ensemble else None,
                                     command)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render_forecast(table, provenance), encoding="utf-8")
    tmp.replace(out)
    return out, table
