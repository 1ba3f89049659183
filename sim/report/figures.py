"""The run's figures: census shares, the request pipeline, income gaps, and money.

Every line is the mean across replicates and every band the 95% replicate interval (2.5th to
97.5th percentile of the per-replicate values, `sim.metrics.summarise`). Gaps are differenced
inside each replicate first and only then summarised: differencing two means' intervals would
throw away the pairing of groups within a replicate and overstate the uncertainty.

Figures are drawn on `matplotlib.figure.Figure` objects with their own Agg canvas (no pyplot
state), so writing a report never touches a user's interactive backend. Lines differ by style and marker
as well as colour, so they survive greyscale printing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sim.metrics.summarise import summarise
from sim.report.document import new_figure, save_figure

BAND_ALPHA = 0.18
INTERVAL_NOTE = ("Lines: mean across replicates; shaded bands: 95% replicate interval "
                 "(2.5th-97.5th percentile of replicate values).")

# Metrics dated 1 January that stand for a whole calendar year of events or months. A calendar
# year cut short by the end of the run is not comparable with full ones, so the report drops it
# (the flow metrics already do this in sim.metrics.compute; the others do not).
CALENDAR_YEAR_METRICS = frozenset({
    "request_rate", "new_plan_rate", "ceased_plan_rate", "appeal_registration_rate", "exclusion_rate",
    "refusal_rate", "within_20_weeks_share", "over_52_weeks_share", "appeal_rate",
    "tribunal_success_after_refusal", "tribunal_family_win_rate", "request_success_rate",
    "unmet_need_months", "matched_support_share", "suspension_rate", "months_to_support",
    "months_to_matched_support",
})
FINANCIAL_YEAR_METRICS = frozenset({"high_needs_spend_per_pupil", "spend_per_pupil_by_holder"})

# One look per series, distinguishable without colour: (line style, marker, filled marker?).
_LOOKS = (("-", "o", True), ("--", "s", False), (":", "^", True), ("-.", "D", False), ((0, (5, 1, 1, 1)), "v", True))


@dataclass(frozen=True)
class FigureSpec:
    """A written figure: file name (relative to the run directory), title and caption."""

    path: str
    title: str
    caption: str


# ---- data helpers ---------------------------------------------------------------------------
def with_replicate(frame: pd.DataFrame) -> pd.DataFrame:
    """Tables from a single model run have no `replicate` column; treat them as replicate 0."""
    if "replicate" in frame.columns:
        return frame
    frame = frame.copy()
    frame["replicate"] = 0
    return frame


def last_full_calendar_year(system: pd.DataFrame) -> int | None:
    """The last calendar year the run covers January to December (from the monthly system table)."""
    if system is None or system.empty or "date" not in system.columns:
        return None
    last = pd.Timestamp(pd.to_datetime(system["date"]).max())
    return last.year if last.month == 12 else last.year - 1


def drop_partial_years(metrics: pd.DataFrame, last_full_year: int | None) -> pd.DataFrame:
    """Remove calendar-year metrics for a year the run did not finish."""
    if last_full_year is None or metrics.empty:
        return metrics
    partial = metrics["metric"].isin(CALENDAR_YEAR_METRICS) & (pd.to_datetime(metrics["date"]).dt.year > last_full_year)
    return metrics[~partial]


def select(summary: pd.DataFrame, metric: str, by: str = "all", group: str | None = None) -> pd.DataFrame:
    rows = summary[(summary["metric"] == metric) & (summary["by"] == by)]
    if group is not None:
        rows = rows[rows["group"] == group]
    return rows.sort_values("date")


def fsm_gap(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per-replicate FSM minus non-FSM difference of `metric`, in the tidy metrics layout.

    The difference is taken inside each replicate (same run, same date) and only then
    summarised across replicates; a replicate where either group is missing contributes nothing.
    """
    rows = with_replicate(metrics)
    rows = rows[(rows["metric"] == metric) & (rows["by"] == "fsm")]
    columns = ["replicate", "date", "metric", "by", "group", "value"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    wide = rows.set_index(["replicate", "date", "group"])["value"].unstack("group")
    if not {"fsm", "non_fsm"} <= set(wide.columns):
        return pd.DataFrame(columns=columns)
    gap = (wide["fsm"] - wide["non_fsm"]).dropna().rename("value").reset_index()
    gap["metric"] = metric
    gap["by"] = "fsm_gap"
    gap["group"] = "fsm_minus_non_fsm"
    return gap[columns]


def council_total(system: pd.DataFrame, column: str, scale: float = 1.0) -> pd.DataFrame:
    """A system-table column summed over councils inside each replicate and month (tidy layout)."""
    system = with_replicate(system)
    if column not in system.columns:
        return pd.DataFrame(columns=["replicate", "date", "metric", "by", "group", "value"])
    total = system.groupby(["replicate", "date"], observed=True)[column].sum().reset_index()
    return pd.DataFrame({"replicate": total["replicate"], "date": pd.to_datetime(total["date"]), "metric": column,
                         "by": "all", "group": "all", "value": total[column] * scale})


# ---- drawing helpers ------------------------------------------------------------------------
def _palette(n: int) -> list:
    return sns.color_palette("colorblind", max(n, 1))


def _line(ax, rows: pd.DataFrame, x: pd.Series, label: str, look: int, colour, markevery: int = 1) -> None:
    """Mean line with markers, and its 95% replicate band."""
    style, marker, filled = _LOOKS[look % len(_LOOKS)]
    ax.fill_between(x, rows["lo"], rows["hi"], color=colour, alpha=BAND_ALPHA, linewidth=0)
    ax.plot(x, rows["mean"], linestyle=style, marker=marker, color=colour, label=label, linewidth=1.8,
            markersize=5, markerfacecolor=colour if filled else "white", markeredgecolor=colour, markevery=markevery)
    if len(rows) == 1:  # a band needs two points; show a lone period's interval as an error bar
        mean = rows["mean"].to_numpy()
        ax.errorbar(x, mean, yerr=[mean - rows["lo"].to_numpy(), rows["hi"].to_numpy() - mean], color=colour,
                    capsize=4, linewidth=1.2)


def _years(rows: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(rows["date"]).dt.year.to_numpy()


def _year_axis(ax, label: str, years=(), financial: bool = False) -> None:
    """Integer-year ticks; x limits padded half a year around the years drawn (sane for a 1-year run)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if len(years):
        ax.set_xlim(float(np.min(years)) - 0.5, float(np.max(years)) + 0.5)
    if financial:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(v)}-{(int(v) + 1) % 100:02d}"))
    ax.set_xlabel(label)


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}:\nnot available in this run", ha="center", va="center", transform=ax.transAxes,
            fontsize=10, color="0.3")


def _series(ax, summary: pd.DataFrame, series: list[tuple[str, str, str | None, str]], x_of=_years,
            legend: bool = True) -> np.ndarray:
    """Draw [(metric, by, group, label)]; return the x values drawn (empty when nothing had data)."""
    colours = _palette(len(series))
    drawn = []
    for i, (metric, by, group, label) in enumerate(series):
        rows = select(summary, metric, by, group)
        if rows.empty:
            continue
        x = x_of(rows)
        _line(ax, rows, x, label, i, colours[i])
        drawn.append(x)
    if drawn and legend and len(series) > 1:
        ax.legend(frameon=True, fontsize=8)
    return np.concatenate(drawn) if drawn else np.array([])


# ---- the figures ----------------------------------------------------------------------------
def census_shares_figure(summary: pd.DataFrame, directory: Path) -> FigureSpec:
    title = "Pupils with an EHCP and on SEN support (January census)"
    fig, axes = new_figure(7.5, 4.5)
    ax = axes[0, 0]
    years = _series(ax, summary, [("ehcp_share_pupils", "all", "all", "EHCP"),
                                  ("sen_support_share_pupils", "all", "all", "SEN support")])
    if not len(years):
        _empty(ax, "census shares")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("Share of pupils (%)")
    _year_axis(ax, "January school census (year)", years)
    fig.suptitle(title, fontweight="bold")
    path = save_figure(fig, directory, "census_shares.png")
    caption = ("Share of pupils (Reception to Year 11) with an education, health and care plan and on SEN "
               "support at each January census. " + INTERVAL_NOTE)
    return FigureSpec(path, title, caption)


def pipeline_figure(summary: pd.DataFrame, directory: Path) -> FigureSpec:
    title = "The EHCP pipeline per calendar year"
    fig, axes = new_figure(12, 4.6, ncols=2)
    left, right = axes[0]
    years = _series(left, summary, [("request_rate", "all", "all", "Requests for assessment"),
                                    ("new_plan_rate", "all", "all", "New plans issued"),
                                    ("ceased_plan_rate", "all", "all", "Plans ceased")])
    if not len(years):
        _empty(left, "pipeline flows")
    left.set_title("Flows")
    left.set_ylabel("Per 1,000 pupils per year")
    left.set_ylim(bottom=0)
    _year_axis(left, "Calendar year", years)
    years = _series(right, summary, [("refusal_rate", "all", "all", "Requests refused (% of decisions)"),
                                     ("within_20_weeks_share", "all", "all", "Plans issued within 20 weeks (%)"),
                                     ("appeal_rate", "all", "all", "Appealable decisions appealed (%)")])
    if not len(years):
        _empty(right, "pipeline shares")
    right.set_title("Decisions, timeliness and appeals")
    right.set_ylabel("Percent (%)")
    right.set_ylim(0, 100)
    _year_axis(right, "Calendar year", years)
    fig.suptitle(title, fontweight="bold")
    path = save_figure(fig, directory, "pipeline.png")
    caption = ("Left: requests for an EHC needs assessment, new plans and ceased plans per 1,000 pupils in each "
               "calendar year. Right: share of decisions that refused to assess, share of new plans issued within "
               "the 20-week statutory limit, and share of appealable decisions taken to tribunal. Only complete "
               "calendar years are shown. " + INTERVAL_NOTE)
    return FigureSpec(path, title, caption)


def gaps_figure(summary: pd.DataFrame, gap_summary: pd.DataFrame, directory: Path) -> FigureSpec:
    title = "Gaps by family income and free school meals"
    fig, axes = new_figure(12, 8.4, ncols=2, nrows=2)
    quintiles = [("1", "Quintile 1 (lowest income)"), ("2", "Quintile 2"), ("3", "Quintile 3"), ("4", "Quintile 4"),
                 ("5", "Quintile 5 (highest income)")]
    panels = (
        ("unmet_need_months", "Unmet-need months by income quintile", "Months per child with need (per year)",
         "Calendar year"),
        ("ks4_em4_rate", "KS4 English and maths grade 4+ by income quintile", "Pupils achieving grade 4+ (%)",
         "Year of KS4 results (summer)"),
    )
    for col, (metric, panel_title, ylabel, xlabel) in enumerate(panels):
        ax = axes[0, col]
        years = _series(ax, summary, [(metric, "income_quintile", q, label) for q, label in quintiles], legend=False)
        if not len(years):
            _empty(ax, panel_title)
        ax.set_title(panel_title)
        ax.set_ylabel(ylabel)
        _year_axis(ax, xlabel, years)
    gap_panels = (
        ("unmet_need_months", "FSM minus non-FSM: unmet-need months", "Difference (months per child with need)",
         "Calendar year"),
        ("ks4_em4_rate", "FSM minus non-FSM: KS4 grade 4+", "Difference (percentage points)", "Year of KS4 results (summer)"),
    )
    for col, (metric, panel_title, ylabel, xlabel) in enumerate(gap_panels):
        ax = axes[1, col]
        years = _series(ax, gap_summary, [(metric, "fsm_gap", "fsm_minus_non_fsm", "FSM minus non-FSM")])
        if not len(years):
            _empty(ax, panel_title)
        ax.axhline(0, color="0.2", linewidth=0.8)
        ax.set_title(panel_title)
        ax.set_ylabel(ylabel)
        _year_axis(ax, xlabel, years)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[0, 1].get_legend_handles_labels()
    if handles:  # one legend for both quintile panels, kept off the data
        fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), fontsize=9, frameon=False,
                   title="Top panels: family income quintile", title_fontsize=9)
    fig.suptitle(title, fontweight="bold")
    path = save_figure(fig, directory, "gaps.png")
    caption = ("Top: months of unmet need per child with a special educational need in each calendar year, and the "
               "share of pupils achieving grade 4 or above in English and maths at KS4, by family income quintile. "
               "Bottom: the free-school-meals gap (FSM minus non-FSM), computed within each replicate and then "
               "summarised; a band that excludes zero is a gap the replicates agree on. " + INTERVAL_NOTE)
    return FigureSpec(path, title, caption)


def finance_figure(summary: pd.DataFrame, deficit_summary: pd.DataFrame, directory: Path) -> FigureSpec:
    title = "High-needs spending and council deficits"
    fig, axes = new_figure(12, 4.6, ncols=2)
    left, right = axes[0]
    colours = _palette(2)
    rows = select(summary, "high_needs_spend_per_pupil")
    years = _years(rows)
    if rows.empty:
        _empty(left, "high-needs spend")
    else:
        _line(left, rows, years, "High-needs spend per pupil", 0, colours[0])
    left.set_title("High-needs spend per pupil")
    left.set_ylabel("£ per pupil per financial year")
    left.set_ylim(0, 1.1 * float(rows["hi"].max()) if len(rows) else 1.0)
    left.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"£{v:,.0f}"))
    _year_axis(left, "Financial year (April to March)", years, financial=True)
    rows = select(deficit_summary, "deficit")
    if rows.empty:
        _empty(right, "council deficit")
    else:
        _line(right, rows.assign(date=pd.to_datetime(rows["date"])), pd.to_datetime(rows["date"]),
              "Cumulative deficit, all councils", 1, colours[1], markevery=12)
        right.set_ylim(bottom=min(0.0, float(np.nanmin(rows["lo"]))))
    right.axhline(0, color="0.2", linewidth=0.8)
    right.set_title("Cumulative high-needs deficit (summed over councils)")
    right.set_ylabel("£ million (end of month)")
    locator = AutoDateLocator()
    right.xaxis.set_major_locator(locator)
    right.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    right.set_xlabel("Month")
    fig.suptitle(title, fontweight="bold")
    path = save_figure(fig, directory, "finance.png")
    caption = ("Left: council high-needs spending per pupil in each complete financial year. Right: the cumulative "
               "dedicated-schools-grant high-needs deficit at the end of each month, summed over the simulated "
               "councils within each replicate, in £ million (positive = deficit). " + INTERVAL_NOTE)
    return FigureSpec(path, title, caption)


def make_figures(run_dir: Path, metrics: pd.DataFrame, system: pd.DataFrame) -> list[FigureSpec]:
    """Write every figure into `run_dir/figures/` and return them in reading order."""
    directory = Path(run_dir)
    metrics = drop_partial_years(with_replicate(metrics), last_full_calendar_year(system))
    shown = metrics[metrics["by"].isin(["all", "income_quintile"])]
    summary = summarise(shown) if len(shown) else pd.DataFrame(columns=["date", "metric", "by", "group", "mean", "lo", "hi", "n"])
    gaps = pd.concat([fsm_gap(metrics, m) for m in ("unmet_need_months", "ks4_em4_rate")], ignore_index=True)
    gap_summary = summarise(gaps) if len(gaps) else summary.iloc[0:0]
    deficit = council_total(system, "deficit", scale=1e-6)
    deficit_summary = summarise(deficit) if len(deficit) else summary.iloc[0:0]
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        return [
            census_shares_figure(summary, directory),
            pipeline_figure(summary, directory),
            gaps_figure(summary, gap_summary, directory),
            finance_figure(summary, deficit_summary, directory),
        ]
