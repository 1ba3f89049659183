"""`report.md` and `report.html` for an experiment's results store (`sendsim experiment`, `sendsim report`).

What it answers: where the numbers came from (the store's manifest), which parameter values
were tried (the design), what each scenario gives (headline metrics with 95% replicate
intervals), what the reform changes at each design point relative to the baseline with the same
seeds (`sim.experiments.analysis.paired_outcomes`), whether there were enough replicates to say
so, and — for Morris and Sobol designs — which uncertain parameters drive the result.

The store layout is the experiment engine's (`sim/experiments/store.py`): `manifest.json`,
`design.parquet` (point_id and one column per varied parameter) and `runs/scenario=<name>/*.parquet`
(tidy metrics with task_id, scenario, point_id, replicate, block). The page is built with the
same block document as the comparison report (`sim.report.document.Document`), so the
Markdown and HTML never disagree and the HTML embeds its figures; figures are drawn on their own Agg canvas and are readable in
greyscale (grey levels and hatching, not colour alone). The analysis tables are also written as
CSV under `analysis/` so every number in the page can be traced.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from sim.experiments.analysis import (
    DEFAULT_PRECISION,
    OUTCOME_BY_NAME,
    metric_outcomes,
    paired_outcomes,
    replicate_check,
    sensitivity,
    summarise_runs,
)
from sim.metrics.intervals import t_bounds
from sim.metrics.registry import YEARLY_BY_NAME, label_and_unit
from sim.report.document import Document, new_figure, save_figure
from sim.report.figures import CALENDAR_YEAR_METRICS, FINANCIAL_YEAR_METRICS
from sim.report.summary import period_label

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
ANALYSIS_DIR = "analysis"
DASH = "–"
MAX_POINT_ROWS = 40  # per-point tables longer than this are cut in the page (the CSV has every row)
BASELINE = "baseline"
# Metrics shown for every scenario, when the runs have them; otherwise every whole-population metric.
REPORT_METRICS = ("ehcp_share_pupils", "sen_support_share_pupils", "unmet_need_months", "ks4_em4_rate",
                  "high_needs_spend_per_pupil")
INDEX_LABELS = {
    "mu_star": "μ* (mean absolute elementary effect)",
    "sigma": "σ (spread of elementary effects)",
    "S1": "S1 (first-order share of variance)",
    "ST": "ST (total share of variance, with interactions)",
}


# ---- reading the store -----------------------------------------------------------------------------
def read_store(out_dir: Path | str) -> tuple[dict, pd.DataFrame | None, pd.DataFrame]:
    """(manifest, design or None, tidy runs with scenario as text) from an experiment directory."""
    out_dir = Path(out_dir)
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{out_dir} is not an experiment results store (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    design = pd.read_parquet(out_dir / "design.parquet") if (out_dir / "design.parquet").is_file() else None
    runs_dir = out_dir / "runs"
    if not runs_dir.is_dir() or not any(runs_dir.rglob("*.parquet")):
        raise FileNotFoundError(f"{out_dir} has no finished runs (runs/scenario=<name>/<task>.parquet)")
    runs = pd.read_parquet(runs_dir)
    runs["scenario"] = runs["scenario"].astype(str)
    runs["date"] = pd.to_datetime(runs["date"])
    for column in ("point_id", "replicate"):
        if column not in runs.columns:
            runs[column] = 0
    return manifest, design, runs


def _find_run_end(manifest: dict) -> str | None:
    """The configured run end ("YYYY-MM"), wherever the manifest keeps the scenario config."""
    stack = [manifest]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            run = item.get("run")
            if isinstance(run, dict) and isinstance(run.get("end"), str) and len(run["end"]) == 7:
                return run["end"]
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return None


def salib_problem(manifest: dict, design: pd.DataFrame | None) -> dict | None:
    """The SALib problem: `design.problem` in the manifest, else rebuilt from its `uncertainties`."""
    design_info = manifest.get("design", {}) or {}
    if design_info.get("problem"):
        return design_info["problem"]
    uncertainties = manifest.get("uncertainties") or []
    if not uncertainties:
        return None
    names = [u["path"] for u in uncertainties]
    if design is not None and any(n not in design.columns for n in names):
        return None
    return {"num_vars": len(names), "names": names, "bounds": [[u["low"], u["high"]] for u in uncertainties]}


def _with_setting(indices: pd.DataFrame) -> pd.DataFrame:
    """A `setting` column naming the lever combination of each row ("" without levers)."""
    levers = [c for c in indices.columns if c not in ("outcome", "parameter", "index", "value", "conf")]
    indices = indices.copy()
    indices["setting"] = [", ".join(f"{lever} = {value}" for lever, value in zip(levers, row))
                          for row in indices[levers].itertuples(index=False)] if levers else ""
    return indices


def _last_full_year(manifest: dict) -> int | None:
    end = _find_run_end(manifest)
    if end is None:
        return None
    year, month = int(end[:4]), int(end[5:7])
    return year if month == 12 else year - 1


# ---- formatting ------------------------------------------------------------------------------------
def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or bool(pd.isna(value))


def _num(value, decimals: int = 2, signed: bool = False) -> str:
    if _missing(value):
        return DASH
    text = f"{value:+,.{decimals}f}" if signed else f"{value:,.{decimals}f}"
    return text.replace("-", "−")


def _interval(mean, lo, hi, decimals: int = 2, signed: bool = False) -> str:
    return f"{_num(mean, decimals, signed)} [{_num(lo, decimals, signed)}, {_num(hi, decimals, signed)}]"


def _decimals(values) -> int:
    """Enough decimals for the size of the numbers (money in pounds, shares in tenths, months in hundredths)."""
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if not finite.size:
        return 2
    size = float(np.median(finite))
    return 0 if size >= 100 else 1 if size >= 10 else 2 if size >= 0.1 else 3


def _metric_label(metric: str) -> tuple[str, str]:
    if metric in OUTCOME_BY_NAME:
        o = OUTCOME_BY_NAME[metric]
        return o.label, o.unit
    return label_and_unit(metric)


def _period(metric: str, date) -> str:
    """What a dated value covers; metrics the model does not define (test functions) show the date."""
    if metric in YEARLY_BY_NAME or metric in FINANCIAL_YEAR_METRICS or metric in CALENDAR_YEAR_METRICS:
        return period_label(metric, date)
    return pd.Timestamp(date).strftime("%Y-%m-%d")


def _percentiles(values: pd.Series) -> tuple[float, float]:
    values = values.dropna()
    if values.empty:
        return math.nan, math.nan
    return float(values.quantile(0.025)), float(values.quantile(0.975))


# ---- sections --------------------------------------------------------------------------------------
def _provenance(doc: Document, manifest: dict, out_dir: Path, runs: pd.DataFrame) -> None:
    doc.heading(2, "Where these numbers come from")
    design = manifest.get("design", {}) or {}
    git = manifest.get("git", {})
    if isinstance(git, dict):
        commit = str(git.get("commit", "unknown")) + (" (with uncommitted changes)" if git.get("dirty") else "")
    else:
        commit = str(git or manifest.get("git_commit", "unknown"))
    items = [
        f"Experiment `{manifest.get('name', out_dir.name)}`; experiment file sha256 "
        f"`{manifest.get('experiment_sha256', 'unknown')}`",
        f"Results store `{out_dir}`: {len(runs.groupby(['scenario', 'point_id', 'replicate']))} finished runs "
        f"({', '.join(sorted(runs['scenario'].unique()))})",
        f"Design method `{design.get('method', 'unknown')}`"
        + "".join(f"; {k} = {v}" for k, v in design.items() if k not in ("method", "problem")
                  and not isinstance(v, (dict, list))),
        f"Git commit `{commit}`",
    ]
    seeds = manifest.get("seeds", manifest.get("seed"))
    if seeds is not None:
        text = json.dumps(seeds, default=str)
        items.append(f"Seeds: `{text if len(text) <= 300 else text[:300] + ' …'}`")
    versions = manifest.get("versions", manifest.get("packages"))
    if isinstance(versions, dict) and versions:
        items.append("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    for key in ("command", "started", "finished"):
        if manifest.get(key):
            items.append(f"{key.capitalize()}: `{manifest[key]}`")
    doc.bullets(items)


def _design_section(doc: Document, design: pd.DataFrame | None, problem: dict | None, runs: pd.DataFrame) -> None:
    doc.heading(2, "The design")
    replicates = runs.groupby(["scenario", "point_id"])["replicate"].nunique()
    if design is None or design.empty:
        doc.para(f"No varied parameters: {runs['point_id'].nunique()} point(s), "
                 f"{int(replicates.min())}-{int(replicates.max())} replicates per scenario and point.")
        return
    parameters = [c for c in design.columns if c != "point_id"]
    bounds = dict(zip(problem["names"], problem["bounds"])) if problem else {}
    doc.para(f"{len(design)} design points over {len(parameters)} parameter(s); each scenario ran "
             f"{int(replicates.min())}" + (f"-{int(replicates.max())}" if replicates.max() != replicates.min() else "")
             + " replicate(s) per point. Parameters are dotted paths into the scenario config "
             "(docs/PARAMETERS.md gives units and sources).")
    rows = []
    for name in parameters:
        values = design[name]
        low, high = bounds.get(name, (math.nan, math.nan))
        rows.append([f"`{name}`", _num(low, 3), _num(high, 3), _num(values.min(), 3), _num(values.max(), 3),
                     str(values.nunique())])
    doc.table(["Parameter", "Lower bound", "Upper bound", "Lowest tried", "Highest tried", "Distinct values"], rows)


def _headline_metrics(doc: Document, runs: pd.DataFrame, last_full_year: int | None) -> pd.DataFrame:
    """Per scenario and metric, the latest period: replicate interval (one point) or spread over points."""
    doc.heading(2, "Headline metrics per scenario")
    whole = runs[(runs["by"] == "all") & (runs["group"].astype(str) == "all")]
    names = [m for m in REPORT_METRICS if m in set(whole["metric"])] or sorted(whole["metric"].unique())
    whole = whole[whole["metric"].isin(names)]
    if last_full_year is not None:
        partial = whole["metric"].isin(CALENDAR_YEAR_METRICS) & (whole["date"].dt.year > last_full_year)
        whole = whole[~partial]
    summary = summarise_runs(whole)
    if summary.empty:
        doc.para("No whole-population metrics in the runs.")
        return summary
    doc.para("For each scenario, the latest complete period of each metric. With one design point: the mean "
             "across replicates and the 95% replicate interval (2.5th-97.5th percentile of replicate values). "
             "With several points: the mean over points of each point's replicate mean, and the 2.5th-97.5th "
             "percentile of those point means — the spread the varied parameters produce.")
    rank = {m: i for i, m in enumerate(names)}
    summary = summary.assign(rank=summary["metric"].map(rank)).sort_values(["scenario", "rank"], kind="stable")
    rows = []
    for (scenario, _, metric), frame in summary.groupby(["scenario", "rank", "metric"], sort=False):
        latest = frame[frame["date"] == frame["date"].max()]
        label, unit = _metric_label(metric)
        dec = _decimals(latest["mean"])
        points = latest["point_id"].nunique()
        if points == 1:
            r = latest.iloc[0]
            value = _interval(r["mean"], r["lo"], r["hi"], dec)
            spread = "replicates"
        else:
            lo, hi = _percentiles(latest["mean"])
            value = _interval(latest["mean"].mean(), lo, hi, dec)
            spread = "design points"
        rows.append([f"`{scenario}`", f"{label} ({unit})", _period(metric, latest["date"].iloc[0]), str(points),
                     str(int(latest["n"].median())), value, spread])
    doc.table(["Scenario", "Metric (unit)", "Period", "Points", "Replicates", "Mean [95% interval]", "Interval over"],
              rows, ["left", "left", "left", "right", "right", "right", "left"])
    return summary.drop(columns="rank")


def _paired_section(doc: Document, paired: pd.DataFrame, design: pd.DataFrame | None, baseline: str,
                    reform: str) -> None:
    doc.heading(2, f"What the reform changes: `{reform}` against `{baseline}`")
    doc.para("Each change is reform minus baseline inside one replicate — the same children with the same random "
             "draws (common random numbers) — then summarised over replicates at each design point: mean and 95% "
             "replicate interval. The access and KS4 gaps are FSM minus not-FSM, averaged over the calendar years "
             "from 2030 (the first whole year after the legal switch) when the run reaches them, else over all "
             "years; a negative access change and a positive KS4 change mean the disadvantage gap narrows. Cost is "
             "council high-needs plus central reform spending per pupil, averaged over the run's financial years.")
    outcomes = [o for o in OUTCOME_BY_NAME.values() if o.name in paired.columns]
    rows = []
    overall = []
    for o in outcomes:
        lo, hi = _percentiles(paired[o.name])
        overall.append([f"{o.label} ({o.unit})", _interval(paired[o.name].mean(), lo, hi, _decimals(paired[o.name]),
                                                           True), f"better: {o.better}"])
    doc.table(["Outcome (unit)", "Mean over all runs [2.5th-97.5th percentile]", "Direction"], overall,
              ["left", "right", "left"])
    grouped = paired.groupby("point_id", sort=True)
    parameters = [c for c in design.columns if c != "point_id"] if design is not None else []
    show_parameters = parameters if len(parameters) <= 4 else []
    values = design.set_index("point_id") if design is not None and show_parameters else None
    for point, frame in grouped:
        if len(rows) >= MAX_POINT_ROWS:
            break
        cells = [str(point)]
        if values is not None:
            cells += [_num(values.loc[point, p], 3) if point in values.index else DASH for p in show_parameters]
        for o in outcomes:
            lo, hi = _percentiles(frame[o.name])
            cells.append(_interval(frame[o.name].mean(), lo, hi, _decimals(paired[o.name]), True))
        cells.append(str(len(frame)))
        rows.append(cells)
    header = ["Point", *[f"`{p}`" for p in show_parameters], *[f"{o.label} ({o.unit}) [95%]" for o in outcomes],
              "Replicates"]
    n_points = paired["point_id"].nunique()
    if n_points > MAX_POINT_ROWS:
        doc.para(f"The first {MAX_POINT_ROWS} of {n_points} design points; every point is in "
                 f"`{ANALYSIS_DIR}/paired_outcomes.csv` (one row per point and replicate).")
    doc.table(header, rows)


def _replicate_section(doc: Document, check: pd.DataFrame) -> None:
    doc.heading(2, "Were there enough replicates?")
    if check.empty:
        doc.para("No outcome has values to check.")
        return
    doc.para("At each design point, the 95% interval for an outcome's mean over replicates is mean ± t·s/√n "
             "(t: Student's t, n - 1 degrees of freedom; s: the standard deviation across replicates). Replicates "
             "needed for a target half-width h: ceil((t·s/h)²), at least 2. With several points the table gives "
             "the median half-width and the most replicates any point needs.")
    rows = []
    for outcome, frame in check.groupby("outcome", sort=False):
        label, unit = _metric_label(outcome)
        needed = frame["replicates_needed"].dropna()
        dec = _decimals(frame["half_width"].tolist() + frame["precision"].tolist())
        rows.append([f"{label} ({unit})", str(int(frame["n"].median())), _num(frame["half_width"].median(), dec),
                     _num(frame["precision"].iloc[0], dec), str(int(needed.max())) if len(needed) else "needs 2+ replicates",
                     f"{int(frame['enough'].fillna(False).sum())} of {len(frame)}"])
    doc.table(["Outcome (unit)", "Replicates", "Half-width now (median over points)", "Target half-width",
               "Replicates needed (most over points)", "Points with enough"], rows)


def _sensitivity_section(doc: Document, indices: pd.DataFrame, method: str, out_dir: Path) -> None:
    doc.heading(2, "What drives the result: sensitivity indices")
    if indices.empty:
        doc.para("No outcome could be analysed.")
        return
    if method == "morris":
        doc.para("Morris screening: μ* is the mean absolute change in the outcome when one parameter moves by a "
                 "step of the design grid (in the outcome's unit); a large μ* matters. σ large relative to μ* "
                 "means the effect depends on the other parameters (interactions) or is non-linear. Conf: half-width "
                 "of a 95% bootstrap interval for μ*. Outcomes are replicate means at each point.")
        keep = ["mu_star", "sigma"]
    else:
        doc.para("Sobol indices: S1 is the share of the outcome's variance explained by the parameter alone; ST "
                 "adds every interaction it takes part in (ST - S1 large: interactions). Conf: half-width of a 95% "
                 "bootstrap interval. Small negative estimates are sampling noise around zero.")
        keep = ["S1", "ST"]
    rows = []
    levers = bool(indices["setting"].str.len().gt(0).any())
    for (setting, outcome, parameter), frame in indices.groupby(["setting", "outcome", "parameter"], sort=False):
        label, unit = _metric_label(outcome)
        by_index = frame.set_index("index")
        cells = [f"{label} ({unit})", f"`{parameter}`"] + ([setting] if levers else [])
        for index in keep:
            if index in by_index.index:
                r = by_index.loc[index]
                dec = 3 if method == "sobol" else _decimals(frame["value"])
                cells.append(_num(r["value"], dec) + ("" if _missing(r["conf"]) else f" ± {_num(r['conf'], dec)}"))
            else:
                cells.append(DASH)
        rows.append(cells)
    doc.table(["Outcome (unit)", "Parameter", *(["Levers"] if levers else []), *[INDEX_LABELS[i] for i in keep]],
              rows, ["left", "left", *(["left"] if levers else []), *["right"] * len(keep)])
    path, title, caption = sensitivity_figure(indices, method, out_dir)
    doc.figure(path, title, caption)


# ---- figures ---------------------------------------------------------------------------------------
def sensitivity_figure(indices: pd.DataFrame, method: str, out_dir: Path) -> tuple[str, str, str]:
    """One panel per outcome: horizontal bars per parameter with 95% bootstrap whiskers."""
    if "setting" not in indices.columns:
        indices = _with_setting(indices)
    outcomes = list(dict.fromkeys(zip(indices["setting"], indices["outcome"])))
    ncols = min(3, len(outcomes))
    nrows = math.ceil(len(outcomes) / ncols)
    parameters = list(dict.fromkeys(indices["parameter"]))
    height = max(2.6, 0.45 * len(parameters) + 1.6)
    fig, axes = new_figure(max(8.5, 4.6 * ncols + 1.5), height * nrows + 0.4, ncols, nrows)
    if method == "morris":
        series = (("mu_star", "μ*", "0.6", ""),)
        title = "Morris screening: which uncertain parameters move each outcome"
    else:
        series = (("S1", "S1 (alone)", "0.85", "///"), ("ST", "ST (with interactions)", "0.5", ""))
        title = "Sobol indices: each parameter's share of the outcome's variance"
    for k, (setting, outcome) in enumerate(outcomes):
        ax = axes[k // ncols, k % ncols]
        frame = indices[(indices["outcome"] == outcome) & (indices["setting"] == setting)]
        y = np.arange(len(parameters))
        height_bar = 0.8 / len(series)
        for j, (index, label, grey, hatch) in enumerate(series):
            rows = frame[frame["index"] == index].set_index("parameter").reindex(parameters)
            offset = (j - (len(series) - 1) / 2) * height_bar
            ax.barh(y + offset, rows["value"].fillna(0).to_numpy(), height_bar, xerr=rows["conf"].fillna(0).to_numpy(),
                    color=grey, edgecolor="black", linewidth=0.6, hatch=hatch, label=label, capsize=3,
                    error_kw={"linewidth": 1.2})
        ax.set_yticks(y, parameters, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="0.2", linewidth=0.8)
        label, unit = _metric_label(outcome)
        ax.set_title(label + (f"\n{setting}" if setting else ""), fontsize=9)
        ax.set_ylabel("Varied parameter")
        if method == "morris":
            ax.set_xlabel(f"μ*, mean absolute elementary effect ({unit})")
        else:
            ax.set_xlabel("Share of output variance (0-1)")
            ax.set_xlim(min(-0.05, float(np.nanmin(frame["value"] - frame["conf"].fillna(0))) if len(frame) else 0),
                        max(1.0, float(np.nanmax(frame["value"] + frame["conf"].fillna(0))) if len(frame) else 1))
        if len(series) > 1 and k == 0:
            ax.legend(fontsize=8, frameon=True, loc="lower right")
    for k in range(len(outcomes), nrows * ncols):
        axes[k // ncols, k % ncols].set_visible(False)
    fig.suptitle(title, fontweight="bold", fontsize=11)
    name = f"sensitivity_{method}.png"
    if method == "morris":
        caption = ("Bars: μ*, the mean absolute elementary effect of each parameter on each outcome (outcome's unit); "
                   "whiskers: 95% bootstrap interval. Parameters with μ* near zero can be fixed at their defaults.")
    else:
        caption = ("Hatched light bars: first-order index S1; dark bars: total index ST; whiskers: 95% bootstrap "
                   "interval. Indices are shares of the outcome's variance over the design's parameter ranges.")
    return save_figure(fig, out_dir, name), title, caption


def paired_figure(paired: pd.DataFrame, out_dir: Path) -> tuple[str, str, str]:
    """Per outcome: each design point's mean change with its 95% replicate interval, sorted."""
    outcomes = [o for o in OUTCOME_BY_NAME.values() if o.name in paired.columns and paired[o.name].notna().any()]
    fig, axes = new_figure(4.4 * max(len(outcomes), 1) + 0.5, 4.2, max(len(outcomes), 1))
    for ax, o in zip(axes[0], outcomes):
        grouped = paired.groupby("point_id")[o.name]
        mean = grouped.mean()
        lo = grouped.quantile(0.025)
        hi = grouped.quantile(0.975)
        order = np.argsort(mean.to_numpy(), kind="stable")
        x = np.arange(len(order))
        m = mean.to_numpy()[order]
        ax.errorbar(x, m, yerr=[m - lo.to_numpy()[order], hi.to_numpy()[order] - m], fmt="o", color="black",
                    markerfacecolor="white", markersize=4, ecolor="0.5", elinewidth=1, capsize=2)
        ax.axhline(0, color="0.2", linewidth=0.8, linestyle="--")
        ax.set_title(o.label, fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("Design points, sorted by mean change (rank)")
        ax.set_ylabel(f"Reform minus baseline\n({o.unit})")
    if not outcomes:
        axes[0, 0].text(0.5, 0.5, "No paired outcomes", ha="center", va="center", transform=axes[0, 0].transAxes)
    title = "Reform minus baseline at each design point"
    fig.suptitle(title, fontweight="bold")
    caption = ("Circles: mean over replicates of the within-replicate change at each design point; whiskers: 95% "
               "replicate interval; dashed line: no change.")
    return save_figure(fig, out_dir, "paired_outcomes.png"), title, caption


def lever_sweeps(manifest: dict, design: pd.DataFrame | None, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per lever with two or more values, per outcome and lever value: mean and 95% t-interval over
    every run (design point and replicate) at that value (other levers and uncertainties averaged).

    Tidy columns: lever, value, outcome, mean, lo, hi, runs. Empty without levers.
    """
    levers = [k for k, v in (manifest.get("levers") or {}).items() if isinstance(v, list) and len(v) >= 2]
    columns = ["lever", "value", "outcome", "mean", "lo", "hi", "runs"]
    if design is None or not levers or outcomes.empty:
        return pd.DataFrame(columns=columns)
    names = [c for c in outcomes.columns if c not in ("point_id", "replicate")]
    merged = outcomes.merge(design, on="point_id", how="left")
    rows = []
    for lever in levers:
        if lever not in merged.columns:
            continue
        for value, part in merged.groupby(lever, sort=True):
            for name in names:
                values = part[name].to_numpy(dtype=float)
                values = values[np.isfinite(values)]
                if not len(values):
                    continue
                lo, hi = t_bounds(values)
                rows.append({"lever": lever, "value": value, "outcome": name, "mean": float(values.mean()),
                             "lo": lo, "hi": hi, "runs": len(values)})
    return pd.DataFrame(rows, columns=columns)


def lever_sweep_figure(sweeps: pd.DataFrame, out_dir: Path) -> tuple[str, str, str]:
    """One panel per (lever, outcome): the outcome against the lever's value, with 95% t-intervals."""
    levers = list(dict.fromkeys(sweeps["lever"]))
    names = list(dict.fromkeys(sweeps["outcome"]))
    fig, axes = new_figure(4.2 * len(names) + 0.5, 3.6 * len(levers), len(names), len(levers))
    for i, lever in enumerate(levers):
        for j, name in enumerate(names):
            ax = axes[i, j]
            part = sweeps[(sweeps["lever"] == lever) & (sweeps["outcome"] == name)]
            numeric = pd.to_numeric(part["value"], errors="coerce")
            x = numeric.to_numpy() if numeric.notna().all() else np.arange(len(part))
            mean = part["mean"].to_numpy()
            ax.fill_between(x, part["lo"].to_numpy(), part["hi"].to_numpy(), color="0.8", linewidth=0)
            ax.plot(x, mean, "-o", color="black", markerfacecolor="white", markersize=5)
            if not numeric.notna().all():
                ax.set_xticks(x, [str(v) for v in part["value"]])
            o = OUTCOME_BY_NAME.get(name)
            label, unit = (o.label, o.unit) if o else _metric_label(name)
            if o:
                ax.axhline(0, color="0.3", linewidth=0.8, linestyle="--")
            ax.set_title(label, fontsize=9)
            ax.set_xlabel(f"`{lever}`".strip("`"))
            ax.set_ylabel(unit)
    title = "Lever sweeps: each outcome against the lever's value"
    fig.suptitle(title, fontweight="bold")
    caption = ("Line: mean over every run at that lever value (other levers and uncertain parameters averaged over "
               "the design); band: 95% t-interval over those runs; dashed line: no change (paired outcomes).")
    return save_figure(fig, out_dir, "lever_sweeps.png"), title, caption


def _lever_section(doc: Document, sweeps: pd.DataFrame, out_dir: Path) -> None:
    if sweeps.empty:
        return
    doc.heading(2, "Lever sweeps")
    doc.para("Each policy lever's values on the horizontal axis, the outcome on the vertical: how the result moves "
             "as the lever is turned. Every number is also in `analysis/lever_sweeps.csv`.")
    doc.figure(*lever_sweep_figure(sweeps, out_dir))
    rows = [[f"`{r['lever']}`", str(r["value"]), r["outcome"], _interval(r["mean"], r["lo"], r["hi"], 3, True),
             str(r["runs"])] for _, r in sweeps.iterrows()]
    doc.table(["Lever", "Value", "Outcome", "Mean [95% t-interval]", "Runs"], rows,
              ["left", "right", "left", "right", "right"])


# ---- entry point -----------------------------------------------------------------------------------
def _pair(runs: pd.DataFrame) -> tuple[str, str] | None:
    scenarios = sorted(runs["scenario"].unique())
    if BASELINE in scenarios and len(scenarios) == 2:
        return BASELINE, next(s for s in scenarios if s != BASELINE)
    return None


def write_experiment_report(out_dir: Path | str, precision: dict[str, float] | float | None = None) -> tuple[Path, Path]:
    """Read the store at `out_dir`, write report.md, report.html, figures/ and analysis/*.csv; return the two pages.

    `precision`: the target 95% half-width for the replicate check (one number, or one per
    outcome); default: the manifest's `analysis.precision` if present, else
    `sim.experiments.analysis.DEFAULT_PRECISION` for paired outcomes and 5% of each metric's
    mean otherwise.
    """
    out_dir = Path(out_dir)
    manifest, design, runs = read_store(out_dir)
    design_info = manifest.get("design", {}) or {}
    method = str(design_info.get("method", "")).lower()
    problem = salib_problem(manifest, design)
    last_full_year = _last_full_year(manifest)
    analysis_dir = out_dir / ANALYSIS_DIR
    analysis_dir.mkdir(parents=True, exist_ok=True)

    name = manifest.get("name", out_dir.name)
    title = f"Experiment: {name}"
    doc = Document()
    doc.heading(1, title)
    doc.para("Every metric is computed inside each replicate and only then summarised. Intervals are "
             "95%: the 2.5th-97.5th percentile of replicate values unless a section says otherwise.")
    _provenance(doc, manifest, out_dir, runs)
    _design_section(doc, design, problem, runs)
    summary = _headline_metrics(doc, runs, last_full_year)
    summary.to_csv(analysis_dir / "summary.csv", index=False)

    pair = _pair(runs)
    if pair is not None:
        outcomes = paired_outcomes(runs, *pair, last_full_year=last_full_year)
        outcomes.to_csv(analysis_dir / "paired_outcomes.csv", index=False)
        _paired_section(doc, outcomes, design, *pair)
        fig_path, fig_title, fig_caption = paired_figure(outcomes, out_dir)
        doc.figure(fig_path, fig_title, fig_caption)
        target = precision if precision is not None else (manifest.get("analysis", {}) or {}).get("precision",
                                                                                                  DEFAULT_PRECISION)
    else:
        scenario = sorted(runs["scenario"].unique())[0]
        names = [m for m in REPORT_METRICS if m in set(runs["metric"])] or None
        outcomes = metric_outcomes(runs, names, scenario=scenario)
        columns = [c for c in outcomes.columns if c not in ("point_id", "replicate")]
        target = precision if precision is not None else (manifest.get("analysis", {}) or {}).get(
            "precision", {c: 0.05 * abs(float(outcomes[c].mean())) for c in columns})
        if runs["scenario"].nunique() > 1:
            doc.para(f"No baseline/reform pair in this store; the replicate check and sensitivity use scenario "
                     f"`{scenario}`.")
    sweeps = lever_sweeps(manifest, design, outcomes)
    if not sweeps.empty:
        sweeps.to_csv(analysis_dir / "lever_sweeps.csv", index=False)
        _lever_section(doc, sweeps, out_dir)
    check = replicate_check(outcomes, target)
    check.to_csv(analysis_dir / "replicate_check.csv", index=False)
    _replicate_section(doc, check)

    if method in ("morris", "sobol") and design is not None and problem:
        levels = design_info.get("levels") or design_info.get("num_levels") or 4
        indices = sensitivity(design, outcomes, problem, method, num_levels=int(levels))
        indices = _with_setting(indices)
        indices.to_csv(analysis_dir / "sensitivity.csv", index=False)
        _sensitivity_section(doc, indices, method, out_dir)
    elif method:
        doc.heading(2, "What drives the result")
        doc.para(f"The design is `{method}`: sensitivity indices need a `morris` or `sobol` design.")

    md_path = out_dir / REPORT_MD
    html_path = out_dir / REPORT_HTML
    md_path.write_text(doc.markdown(), encoding="utf-8")
    html_path.write_text(doc.html(title, out_dir), encoding="utf-8")
    return md_path, html_path
