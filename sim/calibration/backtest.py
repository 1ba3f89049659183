"""Backtesting: start the model from the January 2019 census and compare 2019-2025 with what was
published (docs/BACKTEST.md).

Why: the validation targets are all about 2025, and most of the 2025 state is built into the
start population, so they cannot show whether the *mechanisms* produce the growth of the last
years. A backtest starts from 2019 (`configs/backtest_2019.yaml`), lets the mechanisms run and
scores six published series year by year. The out-of-sample protocol fits the main levers on the
2019-2022 points only (`calibrate` with `in_sample_targets()`), then reports the error on
2023-2025, which the fit never saw.

Conversions are those of `sim.calibration.targets` (docs/VALIDATION.md): national counts to
school age with the 2025 school-age shares and to per-pupil rates with the 8.1m Reception-Year 11
pupils of January 2025 for every year (pupil numbers moved by ~±2% over 2019-2025, inside the
tolerances). Tolerances are the validation ones (census shares ±0.25/±0.40 pp, flows ~7.5%,
timeliness ±5 pp, appeals ~20%).

Run `python -m sim.calibration.backtest --budget 20 --replicates 2 --scale 0.25` for the whole
protocol; it prints the tables of docs/BACKTEST.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration.fit import calibrate, evaluate_many, render_fit, required_end, set_values, write_calibrated_config
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
    Target,
    school_age_sum,
)
from sim.config import ScenarioConfig, load_config, validate_config
from sim.config.loader import deep_merge, nest_dotted
from sim.experiments.executors import make_executor

IN_SAMPLE_YEARS = (2019, 2022)
OUT_OF_SAMPLE_YEARS = (2023, 2025)

REQUEST_FACTOR = school_age_sum(REQUESTS_2025_BY_AGE, 0) / REQUESTS_2025_TOTAL * 1000.0 / SCHOOL_AGE_PUPILS
NEW_PLAN_FACTOR = school_age_sum(NEW_PLANS_2025_BY_AGE) / NEW_PLANS_2025_TOTAL * 1000.0 / SCHOOL_AGE_PUPILS
APPEAL_FACTOR = CASELOAD_2025_RY11 / CASELOAD_2025_TOTAL * 10000.0 / SCHOOL_AGE_PUPILS
_VALIDATION = {t.id: t for t in TARGETS}

#: series -> (metric, unit, relative tolerance or None, absolute tolerance or None)
SERIES = {
    "ehcp_share": ("ehcp_share_pupils", "% of pupils", None, 0.25),
    "sen_support_share": ("sen_support_share_pupils", "% of pupils", None, 0.40),
    "requests": ("request_rate", "per 1,000 pupils per year", 0.075, None),
    "new_plans": ("new_plan_rate", "per 1,000 pupils per year", 0.075, None),
    "within_20_weeks": ("within_20_weeks_share", "% of new plans", None, 5.0),
    "appeals": ("appeal_registration_rate", "per 10,000 pupils per year", 0.20, None),
}

# (series, year, raw published value, factor to the model unit, source, note)
_POINTS: tuple[tuple[str, int, float, float, str, str], ...] = (
    ("ehcp_share", 2020, 3.3, 1.0, "T034", ""),
    ("ehcp_share", 2021, 3.7, 1.0, "T030", ""),
    ("ehcp_share", 2022, 4.0, 1.0, "T026", ""),
    ("ehcp_share", 2023, 4.3, 1.0, "T021", ""),
    ("ehcp_share", 2024, 4.8, 1.0, "T013", ""),
    ("ehcp_share", 2025, 5.3, 1.0, "T002", ""),
    ("sen_support_share", 2020, 12.1, 1.0, "T036", ""),
    ("sen_support_share", 2021, 12.2, 1.0, "T032", ""),
    ("sen_support_share", 2022, 12.6, 1.0, "T028", ""),
    ("sen_support_share", 2023, 13.0, 1.0, "T023", ""),
    ("sen_support_share", 2024, 13.6, 1.0, "T015", ""),
    ("sen_support_share", 2025, 14.2, 1.0, "T004", ""),
    ("requests", 2019, 82_329, REQUEST_FACTOR, "T094", ""),
    ("requests", 2020, 75_951, REQUEST_FACTOR, "T093", "pandemic dip (-8%): the model has no pandemic"),
    ("requests", 2021, 93_302, REQUEST_FACTOR, "T092", ""),
    ("requests", 2022, 114_500, REQUEST_FACTOR, "T091", ""),
    ("requests", 2023, 138_200, REQUEST_FACTOR, "T090", ""),
    ("requests", 2024, 154_489, REQUEST_FACTOR, "T089", ""),
    ("requests", 2025, REQUESTS_2025_TOTAL, REQUEST_FACTOR, "sen2:requests_national.csv", ""),
    ("new_plans", 2019, 53_899, NEW_PLAN_FACTOR, "T086", "assessments ending with a plan issued"),
    ("new_plans", 2020, 60_097, NEW_PLAN_FACTOR, "T085", ""),
    ("new_plans", 2021, 62_180, NEW_PLAN_FACTOR, "T084", ""),
    ("new_plans", 2022, 66_400, NEW_PLAN_FACTOR, "T083", ""),
    ("new_plans", 2023, 84_428, NEW_PLAN_FACTOR, "T082", ""),
    ("new_plans", 2024, 97_747, NEW_PLAN_FACTOR, "T081", ""),
    ("new_plans", 2025, NEW_PLANS_2025_TOTAL, NEW_PLAN_FACTOR, "sen2:newplans_national.csv", ""),
    ("within_20_weeks", 2019, 60.4, 1.0, "T117", "all ages"),
    ("within_20_weeks", 2020, 58.0, 1.0, "T116", "all ages"),
    ("within_20_weeks", 2021, 59.9, 1.0, "T115", "all ages"),
    ("within_20_weeks", 2022, 49.2, 1.0, "T114", "all ages, revised"),
    ("within_20_weeks", 2023, 50.3, 1.0, "T113", "all ages"),
    ("within_20_weeks", 2024, 46.4, 1.0, "T112", "all ages"),
    ("within_20_weeks", 2025, _VALIDATION["sen2:timeliness_2025"].published, 1.0, "sen2:timeliness_20_week_national.csv",
     "school age"),
    ("appeals", 2019, 6_374, APPEAL_FACTOR, "T182", "financial year 2018/19 (centred ~9 months before calendar 2019)"),
    ("appeals", 2022, 11_052, APPEAL_FACTOR, "T180", "academic year 2021/22"),
    ("appeals", 2023, 13_658, APPEAL_FACTOR, "T177", "academic year 2022/23"),
    ("appeals", 2024, 22_276, APPEAL_FACTOR, "T171", "calendar year 2024"),
    ("appeals", 2025, APPEALS_2025, APPEAL_FACTOR, "sen2:SEND_appealable_decisions_rate_2024-2025.csv", "calendar year 2025"),
)


def _target(series: str, year: int, raw: float, factor: float, source: str, note: str) -> Target:
    metric, unit, rel, absolute = SERIES[series]
    published = raw * factor
    tolerance = absolute if absolute is not None else rel * published
    return Target(f"{series}:{year}", f"{series} {year}", raw, "as published", factor, metric, "all", "all",
                  f"{year}-01-01", unit, tolerance, "stock" if series.endswith("_share") else "flow", source,
                  "x school-age share / 8.1m pupils (targets.py)" if factor != 1.0 else "none", note or "validation tolerance",
                  csv_value=False)


BACKTEST_TARGETS: tuple[Target, ...] = tuple(_target(*p) for p in _POINTS)


def _year(target: Target) -> int:
    return int(target.id.rsplit(":", 1)[1])


def in_sample_targets() -> tuple[Target, ...]:
    """The 2019-2022 points: what the out-of-sample protocol calibrates on."""
    return tuple(t for t in BACKTEST_TARGETS if IN_SAMPLE_YEARS[0] <= _year(t) <= IN_SAMPLE_YEARS[1])


def run_backtest(config: ScenarioConfig, replicates: int = 4, executor: str | object = "local",
                 workers: int | None = None, targets: Sequence[Target] = BACKTEST_TARGETS) -> pd.DataFrame:
    """One row per published point: series, year, published, model mean, lo, hi (95% replicate
    interval), abs % error, sample (in/out), source. The run is cut at December 2025."""
    payload = config.model_dump(mode="json")
    payload["run"]["end"] = required_end(targets)
    validate_config(payload)
    own = isinstance(executor, str)
    pool = make_executor(executor, workers) if own else executor
    try:
        values = evaluate_many({0: payload}, targets, replicates, int(payload["run"]["seed"]), pool)[0]
    finally:
        if own:
            pool.close()
    return backtest_frame(values, targets)


def backtest_frame(values: pd.DataFrame, targets: Sequence[Target] = BACKTEST_TARGETS) -> pd.DataFrame:
    rows = []
    for t in targets:
        column = values[t.id].astype(float)
        column = column[np.isfinite(column)]
        mean = float(column.mean()) if len(column) else np.nan
        year = _year(t)
        published = float(t.published)
        rows.append({
            "series": t.id.rsplit(":", 1)[0], "year": year, "published": published, "model": mean,
            "lo": float(column.quantile(0.025)) if len(column) else np.nan,
            "hi": float(column.quantile(0.975)) if len(column) else np.nan,
            "abs_pct_error": 100.0 * abs(mean - published) / abs(published) if published else np.nan,
            "sample": "in" if year <= IN_SAMPLE_YEARS[1] else "out", "source": t.source, "note": t.why_tolerance,
        })
    return pd.DataFrame(rows)


def backtest_errors(df: pd.DataFrame) -> pd.DataFrame:
    """MAPE per series, in sample (2019-2022) and out of sample (2023-2025), with point counts."""
    out = []
    for series in df["series"].unique():
        rows = df[df["series"] == series]
        row = {"series": series}
        for sample, label in (("in", "in_sample"), ("out", "out_of_sample")):
            part = rows[rows["sample"] == sample]["abs_pct_error"]
            row[f"{label}_mape"] = float(part.mean()) if len(part) else np.nan
            row[f"{label}_n"] = int(part.notna().sum())
        out.append(row)
    return pd.DataFrame(out)


# ---- growth decomposition ------------------------------------------------------------------------
#: Each growth mechanism and the setting that switches it off.
GROWTH_MECHANISMS: dict[str, dict[str, float]] = {
    "rising severity of new needs": {"needs.severity_trend_per_year": 0.0},
    "rising request propensity": {"requests.propensity_trend_per_year": 0.0},
    "peer effect on requests": {"requests.peer_effect": 0.0},
    "gatekeeping responding to deficits": {"finance.gatekeeping_per_deficit": 0.0},
    "needs growing while unmet": {"needs.growth_when_unmet_per_year": 0.0},
}


def growth_decomposition(config: ScenarioConfig, replicates: int = 4, executor: str | object = "local",
                         workers: int | None = None) -> pd.DataFrame:
    """EHCP share in January 2025 (and new plans in 2025) with each growth mechanism switched off
    in turn, against the full model, with common random numbers. `share_of_growth_removed` is the
    fall in the 2019-2025 rise in the EHCP share when the mechanism is off."""
    targets = tuple(t for t in BACKTEST_TARGETS if t.id in ("ehcp_share:2025", "new_plans:2025", "requests:2025"))
    base = config.model_dump(mode="json")
    base["run"]["end"] = required_end(targets)
    variants = {"full model": base}
    for name, change in GROWTH_MECHANISMS.items():
        variants[name] = set_values(base, change)
    own = isinstance(executor, str)
    pool = make_executor(executor, workers) if own else executor
    try:
        values = evaluate_many(variants, targets, replicates, int(base["run"]["seed"]), pool)
    finally:
        if own:
            pool.close()
    start_share = 100.0 * config.census.ehcp_share
    full = values["full model"]
    rows = []
    for name, frame in values.items():
        share = frame["ehcp_share:2025"].astype(float)
        diff = share - full["ehcp_share:2025"].astype(float)  # paired replicate by replicate
        setting = "; ".join(f"{k} = {v:g}" for k, v in GROWTH_MECHANISMS.get(name, {}).items()) or "-"
        rows.append({
            "mechanism off": name, "setting": setting,
            "ehcp_share_2025": float(share.mean()), "lo": float(share.quantile(0.025)), "hi": float(share.quantile(0.975)),
            "change_vs_full": float(diff.mean()),
            "relative_to_full": float(share.mean() / full["ehcp_share:2025"].astype(float).mean()),
            "share_of_growth_removed": float(-diff.mean() / (full["ehcp_share:2025"].astype(float).mean() - start_share)),
            "new_plans_2025": float(frame["new_plans:2025"].astype(float).mean()),
            "requests_2025": float(frame["requests:2025"].astype(float).mean()),
        })
    return pd.DataFrame(rows)


# ---- the whole protocol --------------------------------------------------------------------------
def out_of_sample(config: ScenarioConfig, budget: int = 20, replicates: int = 2, executor: str = "local",
                  workers: int | None = None, seed: int = 0, parameters: Sequence[str] | None = None,
                  progress=None):
    """Calibrate on 2019-2022, then backtest the calibrated config: (result, calibrated config,
    backtest frame before fitting, backtest frame after)."""
    pool = make_executor(executor, workers)
    try:
        before = run_backtest(config, replicates, pool)
        result = calibrate(config, in_sample_targets(), parameters=parameters, budget=budget, replicates=replicates,
                           executor=pool, seed=seed, progress=progress)
        calibrated = validate_config(deep_merge(config.model_dump(mode="json"), nest_dotted(result.best_params)))
        after = run_backtest(calibrated, replicates, pool)
    finally:
        pool.close()
    return result, calibrated, before, after


def _markdown(df: pd.DataFrame, floatfmt: str = ".2f") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/backtest_2019.yaml")
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--executor", default="local")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/backtest")
    args = parser.parse_args(argv)

    config = load_config(args.config, {"population": {"scale": args.scale}})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result, calibrated, before, after = out_of_sample(
        config, args.budget, args.replicates, args.executor, args.workers, args.seed,
        progress=lambda d, b, loss: print(f"trial {d}/{b} best loss {loss:.3f}", flush=True))
    write_calibrated_config(result, args.config, out / "backtest_2019_calibrated.yaml")
    decomposition = growth_decomposition(calibrated, args.replicates, args.executor, args.workers)
    before.to_csv(out / "backtest_before.csv", index=False)
    after.to_csv(out / "backtest_after.csv", index=False)
    decomposition.to_csv(out / "growth_decomposition.csv", index=False)
    errors = backtest_errors(after).merge(backtest_errors(before), on="series", suffixes=("", "_uncalibrated"))
    errors.to_csv(out / "backtest_errors.csv", index=False)
    print("\n## Fit (in-sample targets)\n")
    print(render_fit(result.fit))
    print(f"\nloss {result.initial_loss:.3f} -> {result.best_loss:.3f}")
    print("\n## Fitted parameters\n")
    for p in result.parameters:
        print(f"- {p.path}: {result.start_params[p.path]} -> {result.best_params[p.path]} [{p.low}, {p.high}]")
    print("\n## MAPE (calibrated; uncalibrated alongside)\n")
    print(_markdown(errors, ".1f"))
    print("\n## Series (calibrated)\n")
    print(_markdown(after[["series", "year", "published", "model", "lo", "hi", "abs_pct_error", "sample", "source"]]))
    print("\n## Series (uncalibrated)\n")
    print(_markdown(before[["series", "year", "published", "model", "lo", "hi", "abs_pct_error", "sample"]]))
    print("\n## Growth decomposition\n")
    print(_markdown(decomposition, ".3f"))


if __name__ == "__main__":
    main()
