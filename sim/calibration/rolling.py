"""Rolling-origin backtest: fit on the years up to an origin, forecast to 2025, score what was
not seen (`sendsim backtest`, docs/BACKTEST.md).

Why: a single split (fit 2019-2022, score 2023-2025) is one draw of the forecast error, and a
model can be lucky on one split. The rolling-origin protocol starts the EHCP route from the
earliest January census the published data support (2015: the first year with the census shares
by SEN status and the plan series; `configs/backtest_2015.yaml`), and for each origin Y fits the
main levers (`fit.DEFAULT_PARAMETERS`, inside their plausible ranges or the backtest's declared
`BACKTEST_RANGES`, with a loss that weighs recent points more: `DEFAULT_RECENCY_HALF_LIFE`) to
the published points of 2016..Y only, then runs the fitted model to 2025 and reports the mean absolute percentage error
(MAPE) of every series on Y+1..2025, which that fit never saw. The errors per origin show how far
ahead the model can be trusted and whether it improves as more history is used.

Seven series are scored: the EHCP and SEN support shares (January census), requests for an
assessment, new plans, the share of new plans issued within 20 weeks, tribunal appeals (calendar
years, SEN2 and tribunal statistics) and high-needs spending (financial years, the national
allocation; spending exceeds it by a few per cent, T255, inside the tolerance). Conversions are
those of `sim.calibration.backtest` and `sim.calibration.targets`: national counts to school age
with the 2025 school-age shares, and to per-pupil rates with the 8.1m Reception-Year 11 pupils of
January 2025 for every year (pupil numbers moved by a few per cent over 2015-2025).

MAPE is |replicate-mean model - published| / published x 100, averaged over a series' scored
years. Percentage errors of a share (EHCP %) are percentages of the share, not percentage points.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration.backtest import _POINTS, NEW_PLAN_FACTOR, REQUEST_FACTOR, SERIES
from sim.calibration.fit import DEFAULT_PARAMETERS, calibrate, evaluate_many, get_value, required_end
from sim.calibration.targets import HIGH_NEEDS_SCHOOL_AGE_SHARE, SCHOOL_AGE_PUPILS, Target
from sim.config import ScenarioConfig, validate_config
from sim.config.loader import deep_merge, nest_dotted
from sim.experiments.executors import make_executor

#: The last year scored (the January 2025 census, calendar-2025 flows, financial year 2025-26).
LAST_YEAR = 2025
DEFAULT_ORIGINS: tuple[int, ...] = (2019, 2020, 2021, 2022)
SPENDING_FACTOR = 1e9 * HIGH_NEEDS_SCHOOL_AGE_SHARE / SCHOOL_AGE_PUPILS

#: Half-life (years) of the weight of an in-sample point in each origin's loss: a point `a` years
#: before the origin weighs 0.5^(a / half-life). Why: a forecast starts from the jump-off year,
#: and with equal weights the early years (2016-2018, when the system grew more slowly) pull the
#: fitted growth down and leave the jump-off under the last published point (requests 10% under
#: 2022 in the fit to 2022). Discounting older points is standard forecasting practice
#: (exponentially weighted least squares). Two years: the origin's points weigh four times the
#: points four years earlier, and the points the fit to 2019 sees (2016-2019) all keep a weight of
#: at least 0.35. Chosen before the out-of-sample errors of any half-life were seen; 0 or None
#: weighs every year equally (the earlier protocol).
DEFAULT_RECENCY_HALF_LIFE = 2.0

#: Search ranges of the backtest that differ from the schema's plausible ranges (which describe
#: the 2025 baseline). The request propensity trend is searched up to 20% a year: in the points
#: every origin sees, requests grew 13.7% from 2018 to 2019 (T095, T094) and 12% a year from 2018
#: to 2022 (T095, T091), new plans 16% a year 2016-2018 (T088, T087) and 11% a year 2016-2022
#: (T088, T083), and the model's requests grow about half as fast as their hazards (children
#: with the highest need get plans and leave the pool; configs/backtest_2015.yaml), so the
#: schema's 10% cap kept every fit's requests growing more slowly than published in sample.
BACKTEST_RANGES: dict[str, tuple[float, float]] = {"requests.propensity_trend_per_year": (0.0, 0.2)}

#: Levers fitted at an origin only where that origin's fit sees at least two points of the series
#: they set the growth of (one point fixes a level, not a growth). The appeal propensity trend:
#: the appeal propensities are dated to the 2019 point (`disputes.appeal_trend_anchor`), so the
#: fit to 2022, which also sees the 2022 point (T180), dates the trend from 2019-2022; the fits to
#: 2019-2021 see one appeals point and keep the trend dated from the points to 2019 (the config's).
SERIES_LEVERS: dict[str, str] = {"disputes.appeal_trend_per_year": "appeals"}

#: series -> (metric, unit, relative tolerance or None, absolute tolerance or None); the six
#: backtest series plus high-needs spending (tolerance as the validation target T248, ~11%).
ROLLING_SERIES = {
    **SERIES,
    "high_needs_spending": ("high_needs_spend_per_pupil", "GBP per pupil per year", 0.11, None),
}

SERIES_LABELS = {
    "ehcp_share": "EHCP % of pupils (January)",
    "sen_support_share": "SEN support % of pupils (January)",
    "requests": "requests per 1,000 pupils",
    "new_plans": "new plans per 1,000 pupils",
    "within_20_weeks": "% of new plans within 20 weeks",
    "appeals": "tribunal appeals per 10,000 pupils",
    "high_needs_spending": "high-needs spending, GBP per pupil",
}

# (series, year, raw published value, factor to the model unit, source, note): the points before
# 2019 and the high-needs series, added to the 2019-2025 points of sim.calibration.backtest.
_EARLY_POINTS: tuple[tuple[str, int, float, float, str, str], ...] = (
    ("ehcp_share", 2016, 2.8, 1.0, "T052", "statements and EHC plans"),
    ("ehcp_share", 2017, 2.8, 1.0, "T048", "statements and EHC plans"),
    ("ehcp_share", 2018, 2.9, 1.0, "T045", "statements and EHC plans"),
    ("sen_support_share", 2016, 11.6, 1.0, "T053", ""),
    ("sen_support_share", 2017, 11.6, 1.0, "T049", ""),
    ("sen_support_share", 2018, 11.7, 1.0, "T046", ""),
    ("requests", 2018, 72_400, REQUEST_FACTOR, "T095", ""),
    ("new_plans", 2016, 36_094, NEW_PLAN_FACTOR, "T088", "new plans made in the calendar year"),
    ("new_plans", 2018, 48_907, NEW_PLAN_FACTOR, "T087", "new plans made in the calendar year"),
    ("within_20_weeks", 2016, 58.0, 1.0, "T120", "all ages, including exceptions"),
    ("within_20_weeks", 2017, 64.9, 1.0, "T119", "all ages"),
    ("within_20_weeks", 2018, 60.0, 1.0, "T118", "all ages"),
    ("high_needs_spending", 2018, 6.0, SPENDING_FACTOR, "T252", "allocation 2018-19 ('just under GBP 6bn')"),
    ("high_needs_spending", 2022, 8.9, SPENDING_FACTOR, "T251", "allocation 2022-23"),
    ("high_needs_spending", 2024, 10.7, SPENDING_FACTOR, "T250", "funding 2024-25"),
    ("high_needs_spending", 2025, 11.9, SPENDING_FACTOR, "T248", "allocation 2025-26"),
)


def _target(series: str, year: int, raw: float, factor: float, source: str, note: str) -> Target:
    metric, unit, rel, absolute = ROLLING_SERIES[series]
    published = raw * factor
    tolerance = absolute if absolute is not None else rel * published
    financial = series == "high_needs_spending"
    kind = "stock" if series.endswith("_share") else "flow"
    conversion = ("GBP bn x school-age share 0.9 / 8.1m pupils" if financial
                  else "x school-age share / 8.1m pupils (targets.py)" if factor != 1.0 else "none")
    return Target(f"{series}:{year}", f"{SERIES_LABELS[series]} {year}", raw, "as published", factor, metric, "all",
                  "all", f"{year}-04-01" if financial else f"{year}-01-01", unit, tolerance, kind, source, conversion,
                  note or "validation tolerance", csv_value=False)


ROLLING_TARGETS: tuple[Target, ...] = tuple(
    sorted((_target(*p) for p in (*_POINTS, *_EARLY_POINTS)), key=lambda t: (list(ROLLING_SERIES).index(t.id.split(":")[0]),
                                                                              int(t.id.rsplit(":", 1)[1]))))


def target_year(target: Target) -> int:
    return int(target.id.rsplit(":", 1)[1])


def recency_weights(targets: Sequence[Target], origin: int, half_life: float | None) -> dict[str, float]:
    """Weight of each in-sample point in the fit to `origin`: 0.5^((origin - year) / half_life),
    every point 1 if `half_life` is 0 or None (see `DEFAULT_RECENCY_HALF_LIFE`)."""
    if not half_life:
        return {t.id: 1.0 for t in targets}
    if half_life < 0:
        raise ValueError(f"the recency half-life must be positive (or 0 for equal weights), got {half_life}")
    return {t.id: 0.5 ** ((origin - target_year(t)) / half_life) for t in targets}


def levers_for(fitted_on: Sequence[Target], parameters: Sequence[str] | None,
               series_levers: dict[str, str] | None) -> list[str]:
    """The levers one origin's fit moves: `parameters` (default `DEFAULT_PARAMETERS`), plus each
    of `series_levers` (lever -> series) whose series has at least two points in `fitted_on`."""
    levers = list(parameters or DEFAULT_PARAMETERS)
    for lever, series in (series_levers or {}).items():
        seen = sum(1 for t in fitted_on if t.id.split(":")[0] == series)
        if seen >= 2 and lever not in levers:
            levers.append(lever)
    return levers


def targets_for(start_year: int, first: int | None = None, last: int = LAST_YEAR) -> tuple[Target, ...]:
    """The points a run from `start_year` can be scored on, between `first` and `last` (inclusive).
    The start year's census shares are the start state, so they are never scored."""
    out = []
    for t in ROLLING_TARGETS:
        year = target_year(t)
        if year < start_year or year > last or (first is not None and year < first):
            continue
        if t.kind == "stock" and year == start_year:
            continue
        out.append(t)
    return tuple(out)


def score(values: pd.DataFrame, targets: Sequence[Target], origin: int | None) -> pd.DataFrame:
    """One row per point: model mean and 95% replicate interval, abs % error, in/out of sample."""
    rows = []
    for t in targets:
        column = values[t.id].astype(float)
        column = column[np.isfinite(column)]
        mean = float(column.mean()) if len(column) else np.nan
        published = float(t.published)
        year = target_year(t)
        rows.append({
            "origin": origin, "series": t.id.split(":")[0], "year": year, "published": published, "model": mean,
            "lo": float(column.quantile(0.025)) if len(column) else np.nan,
            "hi": float(column.quantile(0.975)) if len(column) else np.nan,
            "abs_pct_error": 100.0 * abs(mean - published) / abs(published) if published else np.nan,
            "sample": "fitted" if origin is None else ("in" if year <= origin else "out"),
            "source": t.source, "note": t.why_tolerance,
        })
    return pd.DataFrame(rows)


MAPE_COLUMNS = ["origin", "series", "label", "mape_out_of_sample", "n_out_of_sample", "mape_in_sample", "n_in_sample",
                "mape_uncalibrated", "loss_before", "loss_after"]


def mape_table(points: pd.DataFrame, uncalibrated: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """One row per series and origin: MAPE out of sample (origin+1..2025) and in sample (..origin),
    and the MAPE of the dated but unfitted config over the same out-of-sample years."""
    rows = []
    for origin in sorted(points["origin"].dropna().unique()):
        part = points[points["origin"] == origin]
        fit = fits[fits["origin"] == origin].iloc[0]
        for series in ROLLING_SERIES:
            rows_s = part[part["series"] == series]
            out = rows_s[rows_s["sample"] == "out"]["abs_pct_error"].dropna()
            ins = rows_s[rows_s["sample"] == "in"]["abs_pct_error"].dropna()
            unc = uncalibrated[(uncalibrated["series"] == series) & (uncalibrated["year"] > origin)]["abs_pct_error"].dropna()
            rows.append({
                "origin": int(origin), "series": series, "label": SERIES_LABELS[series],
                "mape_out_of_sample": float(out.mean()) if len(out) else np.nan, "n_out_of_sample": int(len(out)),
                "mape_in_sample": float(ins.mean()) if len(ins) else np.nan, "n_in_sample": int(len(ins)),
                "mape_uncalibrated": float(unc.mean()) if len(unc) else np.nan,
                "loss_before": float(fit["loss_before"]), "loss_after": float(fit["loss_after"]),
            })
    return pd.DataFrame(rows, columns=MAPE_COLUMNS)


def rolling_backtest(config: ScenarioConfig, origins: Sequence[int] = DEFAULT_ORIGINS, budget: int = 20,
                     replicates: int = 2, executor: str | object = "local", workers: int | None = None, seed: int = 0,
                     parameters: Sequence[str] | None = None,
                     progress: Callable[[str], None] | None = None, confirm: int = 0,
                     confirm_replicates: int = 0, recency_half_life: float | None = None,
                     ranges: dict[str, tuple[float, float]] | None = None,
                     series_levers: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """The whole protocol on one start config. Returns `points` (every origin x scored point),
    `mape` (one row per series and origin), `fits` (fitted values and losses per origin) and
    `uncalibrated` (the start config as dated, scored on every point).

    `confirm` and `confirm_replicates` are passed to `calibrate`: the best few trials of each
    search, and the start, are re-run on fresh replicates and the fit keeps the best of them
    there. Every scored run (the start config and each origin's fit) then uses
    `replicates + confirm_replicates` replicates, the same seeds for every origin, so the
    out-of-sample errors are read with the precision the choice was made with.

    The same protocol holds at every origin: `recency_half_life` weighs each in-sample point by
    its distance from the origin (`recency_weights`), `ranges` replaces the search ranges of some
    levers (those not fitted at an origin are ignored there) and `series_levers` adds levers
    where the origin's fit sees two or more points of their series (`levers_for`). The defaults
    here are the earlier, unweighted protocol; `sendsim backtest` passes
    `DEFAULT_RECENCY_HALF_LIFE`, `BACKTEST_RANGES` and `SERIES_LEVERS` unless told otherwise."""
    start_year = int(config.run.start[:4])
    origins = sorted(int(o) for o in origins)
    if not origins:
        raise ValueError("give at least one origin year")
    bad = [o for o in origins if not start_year < o < LAST_YEAR]
    if bad:
        raise ValueError(f"origins must lie after the start year {start_year} and before {LAST_YEAR}, got {bad}")
    every = targets_for(start_year)
    unknown = sorted(set(ranges or {}) - {*(parameters or DEFAULT_PARAMETERS), *(series_levers or {})})
    if unknown:
        raise ValueError(f"a search range was given for {', '.join(unknown)}, which no origin fits")
    base = config.model_dump(mode="json")
    base["run"]["end"] = required_end(every)
    validate_config(base)
    say = progress or (lambda message: None)
    own = isinstance(executor, str)
    pool = make_executor(executor, workers) if own else executor
    point_frames, fit_rows = [], []
    scored_replicates = replicates + (confirm_replicates if confirm > 0 else 0)
    try:
        say("scoring the dated, unfitted start config")
        uncalibrated = score(evaluate_many({0: base}, every, scored_replicates, int(base["run"]["seed"]), pool)[0], every, None)
        for origin in origins:
            fitted_on = targets_for(start_year, last=origin)
            levers = levers_for(fitted_on, parameters, series_levers)
            began = time.monotonic()
            result = calibrate(config, fitted_on, parameters=levers, budget=budget, replicates=replicates,
                               executor=pool, seed=seed, confirm=confirm, confirm_replicates=confirm_replicates,
                               weights=recency_weights(fitted_on, origin, recency_half_life),
                               ranges={p: r for p, r in (ranges or {}).items() if p in levers},
                               progress=lambda d, b, loss, origin=origin: say(f"origin {origin}: trial {d}/{b}, best loss {loss:.2f}"))
            calibrated = deep_merge(base, nest_dotted(result.best_params))
            values = evaluate_many({0: calibrated}, every, scored_replicates, int(base["run"]["seed"]), pool)[0]
            point_frames.append(score(values, every, origin))
            fit_rows.append({"origin": origin, "root_seed": int(base["run"]["seed"]), "targets_fitted": len(fitted_on),
                             "loss_before": result.initial_loss, "loss_after": result.best_loss,
                             "best_trial": result.best_trial, "seconds": round(time.monotonic() - began, 1),
                             "recency_half_life": recency_half_life or 0.0, "levers_fitted": len(levers),
                             **{lever: get_value(base, lever) for lever in (series_levers or {})},
                             **result.best_params})
    finally:
        if own:
            pool.close()
    points = pd.concat(point_frames, ignore_index=True)
    fits = pd.DataFrame(fit_rows)
    return {"points": points, "mape": mape_table(points, uncalibrated, fits), "fits": fits, "uncalibrated": uncalibrated}


def seed_check(config: ScenarioConfig, root_seeds: Sequence[int], origins: Sequence[int] = (2022,),
               **options) -> dict[str, pd.DataFrame]:
    """The protocol once per replicate root seed (`run.seed`), everything else equal.

    Why: a fit chooses among parameter sets by a loss estimated from a few replicates of a small
    population, so which forecast it lands on can depend on the dice; a reading that holds for
    one root seed only is not a result. Returns `by_seed` (the MAPE rows of every seed, with a
    `root_seed` column), `summary` (per origin and series: mean, min and max of the
    out-of-sample MAPE over the seeds, and how many seeds are under 10%) and `fits`."""
    if not root_seeds:
        raise ValueError("give at least one root seed")
    frames, fits = [], []
    for root in root_seeds:
        seeded = validate_config(deep_merge(config.model_dump(mode="json"), {"run": {"seed": int(root)}}))
        result = rolling_backtest(seeded, origins, **options)
        frames.append(result["mape"].assign(root_seed=int(root)))
        fits.append(result["fits"])
    by_seed = pd.concat(frames, ignore_index=True)
    summary = (by_seed.groupby(["origin", "series"], sort=False)["mape_out_of_sample"]
               .agg(mean="mean", low="min", high="max", under_10=lambda v: int((v < 10).sum()), seeds="count")
               .reset_index())
    summary.insert(2, "label", summary["series"].map(SERIES_LABELS))
    return {"by_seed": by_seed, "summary": summary, "fits": pd.concat(fits, ignore_index=True)}


def render_seeds(check: dict[str, pd.DataFrame]) -> str:
    """Series x seed table of out-of-sample MAPE per origin, with the mean and range over seeds."""
    by_seed, summary = check["by_seed"], check["summary"]
    seeds = list(dict.fromkeys(by_seed["root_seed"]))
    lines = []
    for origin in sorted(by_seed["origin"].unique()):
        head = ["series", *[f"seed {s}" for s in seeds], "mean", "range", "seeds under 10%"]
        lines += [f"Fitted to {origin}, out-of-sample MAPE (%):", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        part = by_seed[by_seed["origin"] == origin]
        for series in ROLLING_SERIES:
            rows = part[part["series"] == series].set_index("root_seed")["mape_out_of_sample"]
            agg = summary[(summary["origin"] == origin) & (summary["series"] == series)].iloc[0]
            lines.append(f"| {SERIES_LABELS[series]} | " + " | ".join(f"{rows.loc[s]:.1f}" for s in seeds)
                         + f" | {agg['mean']:.1f} | {agg['low']:.1f}-{agg['high']:.1f} | {agg['under_10']}/{agg['seeds']} |")
        counts = [int((part[part["root_seed"] == s]["mape_out_of_sample"] < 10).sum()) for s in seeds]
        lines += ["| series under 10% | " + " | ".join(str(c) for c in counts) + " | | | |", ""]
    return "\n".join(lines)


def write_seeds(check: dict[str, pd.DataFrame], out: str | Path, command: str = "") -> list[Path]:
    """Write rolling_seeds.csv (per seed), rolling_seeds_summary.csv, rolling_seeds_fits.csv and
    rolling_seeds.md into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in (("seeds", check["by_seed"]), ("seeds_summary", check["summary"]), ("seeds_fits", check["fits"])):
        path = out / f"rolling_{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    md = ["# Rolling-origin backtest across replicate root seeds", ""]
    if command:
        md += [f"Command: `{command}`", ""]
    md += [render_seeds(check), "Fits (loss = sum of squared tolerance-scaled errors):", ""]
    md += [f"- root seed {row.root_seed}, {_fit_line(row)}" for row in check["fits"].itertuples(index=False)]
    return paths + [_write_markdown(out / "rolling_seeds.md", md)]


def render_mape(mape: pd.DataFrame) -> str:
    """Series x origin table of out-of-sample MAPE (in-sample and unfitted alongside)."""
    origins = sorted(mape["origin"].unique())
    head = ["series", *[f"fit to {o}: out [in]" for o in origins], "mean out of sample"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(value: float) -> str:
        return "-" if not np.isfinite(value) else f"{value:.1f}"

    for series in ROLLING_SERIES:
        rows = mape[mape["series"] == series].set_index("origin")
        cells = [f"{cell(rows.loc[o, 'mape_out_of_sample'])} [{cell(rows.loc[o, 'mape_in_sample'])}]" for o in origins]
        mean_out = rows["mape_out_of_sample"].mean()
        lines.append(f"| {SERIES_LABELS[series]} | " + " | ".join(cells) + f" | {cell(mean_out)} |")
    return "\n".join(lines)


def write_rolling(results: dict[str, pd.DataFrame], out: str | Path, command: str = "") -> list[Path]:
    """Write rolling_points.csv, rolling_mape.csv, rolling_fits.csv, rolling_uncalibrated.csv and
    rolling_mape.md into `out` (created if needed; other files there are left alone)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("points", "mape", "fits", "uncalibrated"):
        path = out / f"rolling_{name}.csv"
        results[name].to_csv(path, index=False)
        paths.append(path)
    fits = results["fits"]
    md = ["# Rolling-origin backtest", "",
          "Mean absolute percentage error per series: out of sample (origin+1 to 2025) and, in brackets, "
          "in sample (the years fitted).", ""]
    if command:
        md += [f"Command: `{command}`", ""]
    md += [render_mape(results["mape"]), "", "Fits (loss = sum of squared tolerance-scaled errors; with confirmation, "
           "on the fresh replicates):", ""]
    md += [f"- {_fit_line(row, with_points=True)}" for row in fits.itertuples(index=False)]
    return paths + [_write_markdown(out / "rolling_mape.md", md)]


def _fit_line(row, with_points: bool = False) -> str:
    """One fit of the backtest, as listed under its table: origin, points, loss before -> after, trial kept."""
    points = f"{row.targets_fitted} points fitted, " if with_points else ""
    return (f"origin {row.origin}: {points}loss {row.loss_before:.1f} -> {row.loss_after:.1f} "
            f"(trial {row.best_trial}, {row.seconds:.0f} s)")


def _write_markdown(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path
