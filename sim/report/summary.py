"""`summary.md`: the page a researcher opens first in a run directory.

It says where the numbers came from (the manifest: config hash, seeds, commit, versions,
command), gives the headline metrics for the latest complete period with 95% replicate
intervals, an equity table by free school meals and income quintile, and the figures with
captions. Every interval is the 2.5th-97.5th percentile of per-replicate values
(`sim.metrics.summarise`); gaps are differenced within each replicate first.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.metrics.registry import HEADLINE_METRICS, yearly
from sim.metrics.summarise import summarise
from sim.report.figures import (
    CALENDAR_YEAR_METRICS,
    FINANCIAL_YEAR_METRICS,
    FigureSpec,
    drop_partial_years,
    fsm_gap,
    last_full_calendar_year,
    make_figures,
    with_replicate,
)
from sim.report.population_text import describe_simulated

SUMMARY_FILE = "summary.md"

EQUITY_METRICS = ("unmet_need_months", "matched_support_share", "ks4_em4_rate")
EQUITY_GROUPS = (
    ("fsm", "fsm", "Free school meals (FSM)"),
    ("fsm", "non_fsm", "Not FSM"),
    ("fsm_gap", "fsm_minus_non_fsm", "**Gap: FSM minus not FSM**"),
    ("income_quintile", "1", "Income quintile 1 (lowest)"),
    ("income_quintile", "2", "Income quintile 2"),
    ("income_quintile", "3", "Income quintile 3"),
    ("income_quintile", "4", "Income quintile 4"),
    ("income_quintile", "5", "Income quintile 5 (highest)"),
)
SUPPRESSED = "suppressed"


# ---- formatting -----------------------------------------------------------------------------
def period_label(metric: str, date) -> str:
    """What the dated value covers: a calendar year, a financial year, a census or a results month."""
    d = pd.Timestamp(date)
    if metric in FINANCIAL_YEAR_METRICS:
        return f"FY {d.year}-{(d.year + 1) % 100:02d}"
    if metric in CALENDAR_YEAR_METRICS:
        return f"{d.year} (calendar year)"
    if d.month == 1:
        return f"January {d.year} census"
    return d.strftime("%B %Y")


def _decimals(metric: str, value: float) -> int:
    if metric == "high_needs_spend_per_pupil":
        return 0
    return 2 if abs(value) < 1 else 1


def _number(metric: str, value: float, decimals: int) -> str:
    text = f"{value:,.{decimals}f}"
    return f"£{text}" if metric == "high_needs_spend_per_pupil" else text


def _estimate(metric: str, row: pd.Series) -> tuple[str, str]:
    """(mean, '[lo, hi]') with a precision chosen once per row so the interval reads like the mean."""
    decimals = _decimals(metric, row["mean"])
    return (_number(metric, row["mean"], decimals),
            f"[{_number(metric, row['lo'], decimals)}, {_number(metric, row['hi'], decimals)}]")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# ---- sections -------------------------------------------------------------------------------
def _provenance(manifest: dict, replicates_in_data: int, system: pd.DataFrame | None = None) -> list[str]:
    git = manifest.get("git") or {}
    commit = git.get("commit", "unknown")
    dirty = git.get("dirty")
    dirty_text = {True: "yes — uncommitted changes were present; the commit alone does not reproduce this run",
                  False: "no", None: "unknown"}.get(dirty, str(dirty))
    seeds = manifest.get("replicate_seeds") or {}
    seed_text = ", ".join(f"{k}: {v}" for k, v in seeds.items()) if seeds else "not recorded"
    version = manifest.get("sendsim_version") or (manifest.get("packages") or {}).get("sendsim", "unknown")
    config = manifest.get("config") or {}
    run = config.get("run") or {}
    root_seed = manifest.get("seed", run.get("seed", "unknown"))
    replicates = manifest.get("replicates", replicates_in_data)
    config_file = manifest.get("config_file", "<scenario.yaml>")
    reproduce = f"sendsim run {config_file} --seed {root_seed} --replicates {replicates}"
    lines = ["## Provenance", ""]
    lines += _table(["Item", "Value"], [
        ["Scenario", f"`{manifest.get('scenario', config.get('name', 'unknown'))}`"],
        ["Config file", f"`{config_file}`"],
        ["Config hash (SHA-256)", f"`{manifest.get('config_sha256', 'unknown')}`"],
        ["Root seed", f"`{root_seed}`"],
        ["Replicates", str(replicates)],
        ["Replicate seeds", seed_text],
        ["Simulated", describe_simulated(config, system)],
        ["Git commit", f"`{commit}`"],
        ["Uncommitted changes", dirty_text],
        ["sendsim version", str(version)],
        ["Started", str(manifest.get("started", "unknown"))],
        ["Finished", str(manifest.get("finished", "unknown"))],
        ["Command as run", f"`{manifest.get('command', 'unknown')}`"],
    ])
    lines += ["", "To reproduce (every replicate's seed follows from the root seed):", "", "```sh",
              f"git checkout {commit}", reproduce, "```", "",
              "Full configuration, package versions and seeds: `manifest.json` in this folder.", ""]
    return lines


def _headline(summary: pd.DataFrame) -> list[str]:
    rows = []
    for metric in HEADLINE_METRICS:
        label, unit = yearly(metric).label, yearly(metric).unit
        found = summary[(summary["metric"] == metric) & (summary["by"] == "all")]
        if found.empty:
            rows.append([f"{label} (`{metric}`)", unit, "not produced by this run", "–", "–", "0"])
            continue
        last = found.sort_values("date").iloc[-1]
        mean, interval = _estimate(metric, last)
        rows.append([f"{label} (`{metric}`)", unit, period_label(metric, last["date"]), mean, interval, str(int(last["n"]))])
    lines = ["## Headline metrics", "",
             "Latest complete period of each metric, all pupils. Mean across replicates and 95% replicate interval.", ""]
    lines += _table(["Metric", "Unit", "Period", "Mean", "95% interval", "Replicates"], rows)
    return lines + [""]


def _equity(metrics: pd.DataFrame, replicates: int, small_cell_threshold) -> list[str]:
    by_group = metrics[metrics["metric"].isin(EQUITY_METRICS) & metrics["by"].isin(["fsm", "income_quintile"])]
    gaps = pd.concat([fsm_gap(metrics, m) for m in EQUITY_METRICS], ignore_index=True)
    frames = [f for f in (by_group, gaps) if len(f)]
    if not frames:
        return ["## Equity", "", "No equity breakdowns were produced by this run.", ""]
    summary = summarise(pd.concat(frames, ignore_index=True))
    header = ["Group"]
    latest: dict[str, pd.Timestamp | None] = {}
    for metric in EQUITY_METRICS:
        label, unit = yearly(metric).label, yearly(metric).unit
        dates = summary.loc[(summary["metric"] == metric) & (summary["by"] != "fsm_gap"), "date"]
        latest[metric] = dates.max() if len(dates) else None
        when = period_label(metric, latest[metric]) if latest[metric] is not None else "no data"
        header.append(f"{label} ({unit}; {when})")
    suppressed_any = False
    rows = []
    for by, group, name in EQUITY_GROUPS:
        row = [name]
        for metric in EQUITY_METRICS:
            hit = summary[(summary["metric"] == metric) & (summary["by"] == by) & (summary["group"] == group)
                          & (summary["date"] == latest[metric])]
            if hit.empty or pd.isna(hit["mean"].iloc[0]) or int(hit["n"].iloc[0]) < replicates:
                row.append(SUPPRESSED)
                suppressed_any = True
                continue
            mean, interval = _estimate(metric, hit.iloc[0])
            row.append(f"{mean} {interval}")
        rows.append(row)
    lines = ["## Equity", "",
             "Latest complete period, mean and [95% replicate interval]. The FSM gap is the FSM minus not-FSM "
             "difference computed inside each replicate and then summarised, so its interval is not the "
             "difference of the two groups' intervals. Income quintile 1 is the lowest-income fifth of families.", ""]
    lines += _table(header, rows)
    threshold = f" (`metrics.small_cell_threshold` = {small_cell_threshold} children)" if small_cell_threshold is not None else ""
    note = ("*Suppression:* the metrics table carries no denominators, so cells cannot be suppressed by the "
            f"small-cell threshold{threshold} here. A cell reads \"{SUPPRESSED}\" when its group had no "
            "children in the denominator (or an undefined value) in at least one replicate; small groups "
            "otherwise show up as wide intervals.")
    if not suppressed_any:
        note += " No cell needed suppressing in this run."
    return lines + ["", note, ""]


def _figures(specs: list[FigureSpec]) -> list[str]:
    lines = ["## Figures", ""]
    for number, spec in enumerate(specs, start=1):
        lines += [f"### Figure {number}. {spec.title}", "", f"![{spec.title}]({spec.path})", "",
                  f"*Figure {number}. {spec.caption}*", ""]
    return lines


HOW_TO_READ = (
    "## How to read this\n\n"
    "Each number comes from running the same scenario several times with different random seeds "
    "(replicates) and computing the metric inside each run. The mean is the average over replicates; the "
    "95% interval is the range covering the middle 95% of replicate values. It shows how much the result "
    "moves with chance in the simulated lives of children, families and councils, not uncertainty in the "
    "model's assumptions or parameters (that is what sensitivity analysis is for), so an interval that looks "
    "tight is not a claim of precision about England. With few replicates the interval is rough: treat it "
    "as indicative. Calendar-year rates only use years the run covered from January to December; census "
    "shares are January snapshots; KS2 and KS4 are summer results; spending is per financial year (April to "
    "March). Gaps between groups are computed inside each replicate before summarising. Definitions of every "
    "metric are in `docs/METRICS.md`; where each number came from is in `manifest.json`.\n"
)


def write_summary(run_dir: Path, metrics: pd.DataFrame, system: pd.DataFrame, manifest: dict) -> Path:
    """Write `run_dir/summary.md` and `run_dir/figures/*.png`; return the path of summary.md.

    `metrics` and `system` are the concatenated per-replicate tables (with a `replicate` column,
    as written by `sendsim run`); `manifest` is the run's manifest dict.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics = with_replicate(metrics)
    metrics = drop_partial_years(metrics, last_full_calendar_year(system))
    replicates = int(metrics["replicate"].nunique()) if len(metrics) else 0
    specs = make_figures(run_dir, metrics, system)
    overall = metrics[metrics["by"] == "all"]
    summary = summarise(overall) if len(overall) else pd.DataFrame(columns=["date", "metric", "by", "group", "mean", "lo", "hi", "n"])

    config = manifest.get("config") or {}
    scenario = manifest.get("scenario", config.get("name", "unnamed scenario"))
    lines = [f"# sendsim run: {scenario}", ""]
    if config.get("description"):
        lines += [f"> {config['description']}", ""]
    lines += [f"{replicates} replicate(s). Tables and figures summarise per-replicate values: mean and 95% replicate "
              "interval. See *How to read this* at the end.", ""]
    lines += _provenance(manifest, replicates, system)
    lines += _headline(summary)
    small_cell = (config.get("metrics") or {}).get("small_cell_threshold")
    lines += _equity(metrics, replicates, small_cell)
    lines += _figures(specs)
    lines += [HOW_TO_READ]
    path = run_dir / SUMMARY_FILE
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
