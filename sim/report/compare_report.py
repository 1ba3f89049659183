"""`report.md` and `report.html` for a paired baseline-vs-reform comparison (`sendsim compare`).

What it answers: who gains and who loses, child by child, when the
system moves from the baseline route to the reform; whether the disadvantage gap in access and
outcomes narrows; what each route costs by budget holder; how the EHCP stock evolves.

The page is built once as a list of blocks (headings, paragraphs, tables, figures) and rendered
twice — to Markdown and to self-contained HTML — so the two never disagree and no Markdown
library is needed (`sim.report.document`: Jinja2 templates, figures embedded in the HTML). Every
interval is a 95% t-interval for the mean over replicates; every change is reform minus baseline
inside a replicate (the same children with the same luck), then summarised
(`sim.experiments.compare`). The page opens with a "read this first" box (what was simulated,
in what prices, what the intervals cover), the headline and the figures; long tables follow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sim.experiments.analysis import replicate_check
from sim.experiments.compare import fsm_gap_table
from sim.metrics.registry import RUN_BY_NAME
from sim.report.decomposition_report import decomposition_section, family_channel_section, waterfall_figure
from sim.report.document import (
    ABBREVIATIONS,
    DASH,
    NEED_NAMES,
    Document,
    england_factor,
    is_missing,
    money,
    need_label,
    new_figure,
    num,
    save_figure,
)
from sim.report.transition_report import transition_section

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
INTERVAL_NOTE = "Lines: mean across replicates; shaded bands: 95% t-interval for the mean over replicates."
# Government projection for the reform (Schools White Paper 2026, as reported): EHCPs peak near
# 8% of pupils in 2029-30 and fall below 5% by 2034-35. January census dates for those years.
PROJECTION = ((2030, 8.0, "peak near 8% (2029-30)"), (2035, 5.0, "below 5% (2034-35)"))

METRIC_ORDER = ("unmet_need_months", "matched_support_share", "months_to_matched_support", "matched_within_a_year",
                "ks4_em4_rate", "suspensions", "excluded", "neet_rate")
DECIMALS = {"unmet_need_months": 2, "matched_support_share": 1, "months_to_matched_support": 2, "matched_within_a_year": 1,
            "ks4_em4_rate": 1, "suspensions": 3, "excluded": 2, "neet_rate": 1}
GROUP_LABELS = {
    ("all", "all"): "All children",
    ("fsm", "fsm"): "Free school meals (FSM)",
    ("fsm", "non_fsm"): "Not FSM",
    ("fsm_gap", "fsm_minus_non_fsm"): "Gap: FSM minus not FSM",
    ("income_quintile", "1"): "Income quintile 1 (lowest)",
    ("income_quintile", "2"): "Income quintile 2",
    ("income_quintile", "3"): "Income quintile 3",
    ("income_quintile", "4"): "Income quintile 4",
    ("income_quintile", "5"): "Income quintile 5 (highest)",
    ("income_gap", "q1_minus_q5"): "Gap: quintile 1 minus quintile 5",
    ("need_type", "none"): "Need resolved by the end (baseline)",
    ("severity_band", "none"): "Severity: none (0)",
    ("severity_band", "mild"): "Severity: mild (0-1)",
    ("severity_band", "moderate"): "Severity: moderate (1-2)",
    ("severity_band", "severe"): "Severity: severe (2-3)",
    ("severity_band", "complex"): "Severity: complex (3+)",
}
HOLDER_LABELS = {"school": "Schools", "council_high_needs": "Council high-needs block", "council_general_fund": "Council general fund (transport)",
                 "central_reform": "Central government (reform funds)", "total": "Total"}
ROUTE_LOOKS = {"baseline": ("-", "o", True), "reform": ("--", "s", False)}


# ---- number formatting -----------------------------------------------------------------------
_is_missing = is_missing
_num = num


def _pct(share) -> str:
    return DASH if _is_missing(share) else f"{100 * share:.1f}%"


def _relative(value) -> str:
    return DASH if _is_missing(value) or not np.isfinite(value) else _num(100 * value, 1, signed=True) + "%"


_money = money


def _group_label(by: str, group: str) -> str:
    if (by, group) in GROUP_LABELS:
        return GROUP_LABELS[(by, group)]
    return f"Need type: {need_label(group)}" if by == "need_type" else str(group)


# ---- sections --------------------------------------------------------------------------------
def _provenance(doc: Document, manifest: dict) -> None:
    base = manifest.get("baseline", {})
    reform = manifest.get("reform", {})
    git = manifest.get("git", {}) or {}
    commit = git.get("commit", "unknown")
    if git.get("dirty"):
        commit = f"{commit} (with uncommitted changes)"
    run = manifest.get("run", {})
    doc.heading(2, "Where these numbers come from")
    items = [
        f"Baseline scenario `{base.get('scenario', '?')}`, config sha256 `{base.get('config_sha256', '?')}`"
        + (f" ({base['config_file']})" if base.get("config_file") else ""),
        f"Reform scenario `{reform.get('scenario', '?')}`, config sha256 `{reform.get('config_sha256', '?')}`"
        + (f" ({reform['config_file']})" if reform.get("config_file") else ""),
        f"Root seed {manifest.get('seed', '?')} shared by both routes; {manifest.get('replicates', '?')} replicates "
        "(replicate r of each route uses the same seed: the same children with the same luck)",
        f"Run {run.get('start', '?')} to {run.get('end', '?')}; git commit `{commit}`; "
        f"sendsim {manifest.get('sendsim_version', '?')}",
        f"Command: `{manifest.get('command', '?')}`; finished {manifest.get('finished') or '?'}",
    ]
    if reform.get("config_sha256_as_given") and reform.get("config_sha256_as_given") != reform.get("config_sha256"):
        items.append(f"The reform config as given (sha256 `{reform['config_sha256_as_given']}`, seed "
                     f"{reform.get('seed_as_given')}) was run with the baseline's seed; `reform/manifest.json` "
                     "holds the config that ran.")
    doc.bullets(items)
    doc.para("Each route's full outputs (manifest, metrics, system and children tables) are in `baseline/` and "
             "`reform/`; the tables behind this page are `equity.csv`, `costs.csv`, `ehcp_stock.csv`, `fsm_gap.csv`, "
             "`headline_by_replicate.csv`, `cost_effectiveness.csv`, `transition_cohort.csv` and, when the reform "
             "was taken apart, `decomposition.csv` (columns defined in docs/METRICS.md).")


EQUITY_HEADER = ["Group", "Baseline", "Reform", "Change [95% interval]", "Relative change", "Better off",
                 "Worse off", "Unchanged", "Children per replicate"]


def _equity_rows(rows: pd.DataFrame, decimals: int, min_base: float | None = None) -> list[list[str]]:
    """Table rows; relative change only for non-gap rows whose |baseline| is at least `min_base`."""
    out = []
    for _, row in rows.iterrows():
        if row["suppressed"]:
            cells = [DASH] * 7
        else:
            change = (f"{_num(row['change'], decimals, True)} [{_num(row['change_lo'], decimals, True)}, "
                      f"{_num(row['change_hi'], decimals, True)}]")
            gap = row["by"] in ("fsm_gap", "income_gap")
            cells = [_num(row["baseline"], decimals), _num(row["reform"], decimals), change,
                     DASH if gap or (min_base is not None and not abs(row["baseline"]) >= min_base)
                     else _relative(row["relative_change"]),
                     "n/a" if gap else _pct(row["share_better_off"]), "n/a" if gap else _pct(row["share_worse_off"]),
                     "n/a" if gap else _pct(row["share_unchanged"])]
        label = _group_label(row["by"], row["group"])
        if row["by"] in ("fsm_gap", "income_gap"):
            label = f"**{label}**"
        n = row["n_children"]
        out.append([label, *cells, DASH if _is_missing(n) else f"{n:,.0f}"])
    return out


def _metric_heading(spec_rows: pd.DataFrame) -> str:
    first = spec_rows.iloc[0]
    return f"{first['label']} ({first['unit']}; {first['better']} is better)"


def _min_base(equity: pd.DataFrame, metric: str, share: float) -> float | None:
    whole = equity[(equity["metric"] == metric) & (equity["by"] == "all")]
    if whole.empty or is_missing(whole.iloc[0]["baseline"]):
        return None
    return share * abs(float(whole.iloc[0]["baseline"]))


def _equity(doc: Document, equity: pd.DataFrame, small_cell: int, min_share: float = 0.05) -> None:
    doc.heading(2, "Equity impact: who gains and who loses")
    doc.para(
        "Each child is simulated twice, once under each route, with the same random draws. **Change** is reform "
        "minus baseline for the same children, averaged within each replicate, then across replicates; the "
        "interval is a 95% t-interval over the per-replicate changes. **Relative change** is not given for gap rows "
        f"or for rows whose baseline is below {min_share:.0%} of the all-children value (a percentage of a "
        "near-zero base misleads). **Better off / worse off / "
        "unchanged** are shares of the children in the row whose own value improved, worsened or stayed exactly "
        "the same. Gap rows difference the two groups inside each replicate first. Groups (need type, severity "
        "band) are taken from the baseline run at its end, so each child sits in the same row for both routes. "
        f"{DASH}: fewer than {small_cell} children in the cell per replicate (suppressed).")
    main = [("all", None), ("fsm", None), ("fsm_gap", None), ("income_quintile", None), ("income_gap", None)]
    for metric in METRIC_ORDER:
        rows = equity[equity["metric"] == metric]
        if rows.empty:
            continue
        doc.heading(3, _metric_heading(rows))
        population = _population_note(metric)
        if population:
            doc.para(f"Children counted: {population}.")
        picked = pd.concat([rows[rows["by"] == by] for by, _ in main])
        doc.table(EQUITY_HEADER, _equity_rows(picked, DECIMALS.get(metric, 2), _min_base(equity, metric, min_share)))

    doc.heading(2, "Equity impact by need type and severity")
    doc.para(f"Need type is the child's primary need; severity band is the baseline run's latent severity at "
             f"the end of the run. {DASH}: fewer than {small_cell} children per replicate (suppressed).")
    for metric in METRIC_ORDER:
        rows = equity[(equity["metric"] == metric) & equity["by"].isin(["need_type", "severity_band"])]
        if rows.empty:
            continue
        doc.heading(3, _metric_heading(rows))
        doc.table(EQUITY_HEADER, _equity_rows(rows, DECIMALS.get(metric, 2), _min_base(equity, metric, min_share)))
    if equity["suppressed"].any():
        doc.para(f"{int(equity['suppressed'].sum())} of {len(equity)} cells were suppressed (fewer than "
                 f"{small_cell} children per replicate): small cells are noisy and can identify children.")


def _population_note(metric: str) -> str:
    spec = RUN_BY_NAME.get(metric)
    return spec.paired_population if spec else ""


def _costs(doc: Document, costs: pd.DataFrame, prices: str = "cash", min_share: float = 0.05,
           factor: float | None = None) -> None:
    doc.heading(2, "Costs by budget holder and financial year")
    doc.para(f"Spending in each complete financial year (April to March), summed over the simulated councils, in "
             f"{_price_words(prices)}. Change is reform minus baseline within each replicate; intervals are 95% "
             f"t-intervals over replicates. Relative change is not given where the holder's baseline spending is "
             f"below {min_share:.0%} of that year's total.")
    if costs.empty:
        doc.para("The run covers no complete financial year.")
        return
    header = ["Budget holder", "Year", "Baseline [95%]", "Reform [95%]", "Change [95%]", "Relative change",
              *(["Change, England ≈"] if factor else [])]

    def triple(row, key, signed=False):
        return (f"{_money(row[key], signed)} [{_money(row[key + '_lo'], signed)}, "
                f"{_money(row[key + '_hi'], signed)}]")

    spend = costs[costs["measure"] == "spend"]
    totals = spend[spend["holder"] == "total"].set_index("period")["baseline"].to_dict()
    rows = [[HOLDER_LABELS.get(r["holder"], r["holder"]), r["period"], triple(r, "baseline"), triple(r, "reform"),
             triple(r, "change", True),
             _relative(r["relative_change"]) if abs(r["baseline"]) >= min_share * abs(totals.get(r["period"], np.inf))
             else DASH, *([_money(r["change"] * factor, True)] if factor else [])] for _, r in spend.iterrows()]
    doc.table(header, rows)
    per_child = costs[costs["measure"] == "cost_per_child_supported"]
    supported = costs[costs["measure"] == "children_supported"].set_index("period")
    if len(per_child):
        doc.heading(3, "Cost per child supported")
        doc.para("Total spending (all holders) divided by the year's mean number of pupils with any support "
                 "(EHCP, SEN support or Targeted Plus).")
        rows = []
        for _, r in per_child.iterrows():
            n = supported.loc[r["period"]] if r["period"] in supported.index else None
            rows.append([r["period"], _num(n["baseline"], 0) if n is not None else DASH,
                         _num(n["reform"], 0) if n is not None else DASH, triple(r, "baseline"), triple(r, "reform"),
                         triple(r, "change", True)])
        doc.table(["Year", "Supported (baseline)", "Supported (reform)", "Baseline £ per child [95%]",
                   "Reform £ per child [95%]", "Change [95%]"], rows)
    deficit = costs[costs["measure"] == "cumulative_deficit"]
    if len(deficit):
        doc.heading(3, "Cumulative council high-needs deficit")
        rows = [[r["period"], triple(r, "baseline"), triple(r, "reform"), triple(r, "change", True)]
                for _, r in deficit.iterrows()]
        doc.table(["At", "Baseline [95%]", "Reform [95%]", "Change [95%]"], rows)


def _stock(doc: Document, stock: pd.DataFrame) -> None:
    doc.heading(2, "EHCP share of pupils over time")
    if stock.empty:
        doc.para("No January census in the run.")
        return
    wide = {route: stock[stock["route"] == route].set_index("date") for route in ("baseline", "reform", "change")}
    rows = []
    for date in sorted(wide["baseline"].index):
        cells = [f"January {pd.Timestamp(date).year}"]
        for route in ("baseline", "reform", "change"):
            frame = wide[route]
            if date in frame.index:
                r = frame.loc[date]
                signed = route == "change"
                cells.append(f"{_num(r['mean'], 2, signed)} [{_num(r['lo'], 2, signed)}, {_num(r['hi'], 2, signed)}]")
            else:
                cells.append(DASH)
        rows.append(cells)
    doc.table(["Census", "Baseline % [95%]", "Reform % [95%]", "Change, points [95%]"], rows)
    years = {pd.Timestamp(d).year: d for d in wide["reform"].index}
    notes = []
    for year, value, text in PROJECTION:
        if year in years:
            r = wide["reform"].loc[years[year]]
            notes.append(f"January {year}: reform route {_num(r['mean'], 2)}% against the government projection, {text}")
    if notes:
        reform_rows = wide["reform"]
        peak_date = reform_rows["mean"].idxmax()
        notes.append(f"the reform route's highest share in this run is {_num(reform_rows.loc[peak_date, 'mean'], 2)}% "
                     f"(January {pd.Timestamp(peak_date).year})")
        doc.para("Government projection for the reform: EHCPs peak near 8% of pupils in 2029-30 and fall below 5% "
                 "by 2034-35. " + "; ".join(notes) + ".")
    else:
        last = max(years) if years else None
        doc.para("Government projection for the reform: EHCPs peak near 8% of pupils in 2029-30 and fall below 5% "
                 f"by 2034-35. This run ends before those censuses (last census January {last}), so it cannot be "
                 "compared with the projection; run to 2036 to do so.")


def _gaps(doc: Document, gaps: pd.DataFrame) -> None:
    if gaps is None or gaps.empty:
        return
    doc.heading(2, "Disadvantage gap in unmet need, year by year")
    doc.para("Unmet-need months per child with need in each calendar year, FSM minus not FSM (positive: FSM "
             "children wait longer unmet). The gap is taken inside each replicate, then summarised.")
    rows = []
    for date in sorted(gaps["date"].unique()):
        cells = [str(pd.Timestamp(date).year)]
        for route in ("baseline", "reform", "change"):
            r = gaps[(gaps["date"] == date) & (gaps["route"] == route)]
            if r.empty:
                cells.append(DASH)
                continue
            r = r.iloc[0]
            cells.append(f"{_num(r['mean'], 2, True)} [{_num(r['lo'], 2, True)}, {_num(r['hi'], 2, True)}]")
        rows.append(cells)
    doc.table(["Calendar year", "Baseline gap [95%]", "Reform gap [95%]", "Change in gap [95%]"], rows)


# ---- figures ---------------------------------------------------------------------------------
def _route_lines(ax, table: pd.DataFrame, x_of) -> bool:
    colours = dict(zip(("baseline", "reform"), sns.color_palette("colorblind", 2)))
    drawn = False
    for route in ("baseline", "reform"):
        rows = table[table["route"] == route].sort_values("date")
        if rows.empty:
            continue
        style, marker, filled = ROUTE_LOOKS[route]
        x = x_of(rows)
        ax.fill_between(x, rows["lo"], rows["hi"], color=colours[route], alpha=0.18, linewidth=0)
        ax.plot(x, rows["mean"], linestyle=style, marker=marker, color=colours[route], label=route.capitalize(),
                linewidth=1.8, markersize=5, markerfacecolor=colours[route] if filled else "white",
                markeredgecolor=colours[route])
        drawn = True
    if drawn:
        ax.legend(frameon=True, fontsize=8)
    return drawn


def _years(rows: pd.DataFrame) -> np.ndarray:
    return pd.to_datetime(rows["date"]).dt.year.to_numpy()


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}:\nnot available in this run", ha="center", va="center", transform=ax.transAxes,
            color="0.3")


def gap_figure(gaps: pd.DataFrame, directory: Path) -> tuple[str, str, str]:
    title = "Disadvantage gap in unmet need: FSM minus not FSM"
    fig, ((ax,),) = new_figure(7.5, 4.5)
    if gaps is None or gaps.empty or not _route_lines(ax, gaps, _years):
        _empty(ax, "FSM gap")
    ax.axhline(0, color="0.4", linewidth=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Calendar year")
    ax.set_ylabel("Gap in unmet-need months per child with need\n(FSM minus not FSM, months)")
    fig.suptitle(title, fontweight="bold")
    caption = ("Unmet-need months per child with need in each calendar year, FSM minus not-FSM children, under "
               "each route; above zero means FSM children spend longer with need unmet. " + INTERVAL_NOTE)
    return save_figure(fig, directory, "fsm_gap_unmet_need.png"), title, caption


def winners_losers_figure(equity: pd.DataFrame, directory: Path) -> tuple[str, str, str]:
    title = "Winners and losers in unmet-need months, by income quintile"
    fig, ((ax,),) = new_figure(7.5, 4.5)
    rows = equity[(equity["metric"] == "unmet_need_months") & equity["by"].isin(["all", "income_quintile"])]
    labels = ["All" if g == "all" else f"Q{g}" for g in rows["group"]]
    parts = (("share_better_off", "Better off", "0.25", ""), ("share_unchanged", "Unchanged", "0.85", ""),
             ("share_worse_off", "Worse off", "0.55", "///"))
    if rows.empty:
        _empty(ax, "winners and losers")
    else:
        bottom = np.zeros(len(rows))
        for column, label, grey, hatch in parts:
            values = 100 * rows[column].fillna(0).to_numpy()
            ax.bar(labels, values, bottom=bottom, color=grey, edgecolor="black", linewidth=0.6, hatch=hatch, label=label)
            bottom += values
        for i, suppressed in enumerate(rows["suppressed"].to_numpy()):
            if suppressed:
                ax.text(i, 50, "suppressed", ha="center", va="center", rotation=90, fontsize=8)
        ax.legend(frameon=True, fontsize=8, loc="lower right")
    ax.set_ylim(0, 100)
    ax.set_xlabel("Income quintile (Q1 lowest)")
    ax.set_ylabel("Children with need (%)")
    fig.suptitle(title, fontweight="bold")
    caption = ("Share of children with need whose own unmet-need months over the run fell (better off), rose "
               "(worse off) or stayed the same under the reform, mean over replicates. Same children, same luck.")
    return save_figure(fig, directory, "winners_losers_income.png"), title, caption


def costs_figure(costs: pd.DataFrame, directory: Path) -> tuple[str, str, str]:
    title = "Spending by budget holder and financial year"
    holders = ("school", "council_high_needs", "council_general_fund", "central_reform")
    fig, (axes,) = new_figure(13, 4.5, ncols=len(holders))
    spend = costs[costs["measure"] == "spend"] if len(costs) else costs
    colours = sns.color_palette("colorblind", 2)
    for ax, holder in zip(axes, holders):
        rows = spend[spend["holder"] == holder].sort_values("date") if len(spend) else spend
        if rows.empty:
            _empty(ax, HOLDER_LABELS[holder])
        else:
            x = np.arange(len(rows))
            width = 0.4
            for i, (route, hatch) in enumerate((("baseline", ""), ("reform", "//"))):
                mean = rows[route].to_numpy() / 1e6
                err = np.vstack([mean - rows[f"{route}_lo"].to_numpy() / 1e6, rows[f"{route}_hi"].to_numpy() / 1e6 - mean])
                ax.bar(x + (i - 0.5) * width, mean, width, color=colours[i], edgecolor="black", linewidth=0.6,
                       hatch=hatch, label=route.capitalize(), yerr=err, capsize=3, error_kw={"linewidth": 0.8})
            ax.set_xticks(x, rows["period"].tolist(), rotation=45 if len(rows) > 6 else 0)
            ax.legend(frameon=True, fontsize=8)
        ax.set_ylim(bottom=0)
        ax.set_title(HOLDER_LABELS[holder], fontsize=10)
        ax.set_xlabel("Financial year (April-March)")
        ax.set_ylabel("Spending (£ million)")
    fig.suptitle(title, fontweight="bold")
    caption = ("Spending summed over councils in each complete financial year; bars: mean across replicates, "
               "whiskers: 95% replicate interval; hatched bars: reform.")
    return save_figure(fig, directory, "costs_by_holder.png"), title, caption


def ehcp_figure(stock: pd.DataFrame, directory: Path) -> tuple[str, str, str]:
    title = "Pupils with an EHCP, baseline and reform (January census)"
    fig, ((ax,),) = new_figure(7.5, 4.5)
    if stock.empty or not _route_lines(ax, stock, _years):
        _empty(ax, "EHCP share")
    else:
        years = set(_years(stock))
        for year, value, text in PROJECTION:
            if min(years) <= year <= max(years):
                ax.plot([year], [value], marker="*", color="black", markersize=10, linestyle="none")
                ax.annotate(f"government projection:\n{text}", (year, value), textcoords="offset points",
                            xytext=(6, 6), fontsize=7)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
    ax.set_xlabel("January school census (year)")
    ax.set_ylabel("Pupils with an EHCP (% of pupils)")
    fig.suptitle(title, fontweight="bold")
    caption = ("Share of pupils (Reception to Year 11) holding an EHCP at each January census under each route. "
               + INTERVAL_NOTE)
    return save_figure(fig, directory, "ehcp_share_routes.png"), title, caption


# ---- entry point -----------------------------------------------------------------------------
def _load_gaps(out_dir: Path) -> pd.DataFrame | None:
    """The FSM gap table from the comparison directory (written file, or rebuilt from both runs)."""
    csv = out_dir / "fsm_gap.csv"
    if csv.is_file():
        gaps = pd.read_csv(csv, parse_dates=["date"])
        return gaps
    paths = [out_dir / route / "metrics.parquet" for route in ("baseline", "reform")]
    if all(p.is_file() for p in paths):
        return fsm_gap_table(pd.read_parquet(paths[0]), pd.read_parquet(paths[1]))
    return None


def _read_csv(out_dir: Path, name: str) -> pd.DataFrame | None:
    path = out_dir / name
    return pd.read_csv(path) if path.is_file() else None


def _price_words(prices: str) -> str:
    return ("real terms, 2025-26 prices (cash deflated by general inflation)" if prices == "real_2025_26"
            else "cash (each year's own prices)")


def _report_settings(manifest: dict) -> dict:
    defaults = {"price_base": "cash", "deflator_growth": 0.02, "england_pupils": 9_100_000,
                "target_relative_precision": 0.1, "relative_change_min_share": 0.05}
    return {**defaults, **(manifest.get("report") or {})}


def _england_factor(manifest: dict) -> float | None:
    simulated = (manifest.get("simulated") or {}).get("pupils")
    return england_factor(simulated, _report_settings(manifest)["england_pupils"])


def _with_england(value: float, factor: float | None, signed: bool = False) -> str:
    """'£1.20m (England ≈ £180.00m)' when the run is a sample of England, else '£1.20m'."""
    text = _money(value, signed)
    return f"{text} (England ≈ {_money(value * factor, signed)})" if factor and not _is_missing(value) else text


def replicate_advice(headline: pd.DataFrame | None, replicates: int, target: float) -> tuple[list[str], bool]:
    """Sentences on whether the replicates are enough for the headline changes, and a warning flag.

    Uses `sim.experiments.analysis.replicate_check` on the per-replicate headline changes with a
    wanted half-width of `target` x |mean change|.
    """
    if headline is None or headline.empty:
        return [], False
    if replicates < 2:
        return ["**Warning:** one replicate gives no interval at all; run at least 3 (`--replicates`)."], True

    outcomes = {"unmet_need_months": "the change in unmet-need months",
                "fsm_gap_unmet_need_months": "the change in the FSM gap"}
    values = {k: headline[k].to_numpy(dtype=float) for k in outcomes if k in headline.columns}
    wanted = {k: max(target * abs(float(np.nanmean(v))), 1e-6) for k, v in values.items()}
    check = replicate_check(values, wanted)
    notes, warn = [], False
    for _, row in check.iterrows():
        needed = row["replicates_needed"]
        if pd.isna(needed):
            continue
        needed = int(needed)
        if needed > replicates:
            warn = True
            notes.append(f"**Too few replicates for {outcomes[row['outcome']]}:** its 95% half-width is "
                         f"{_num(row['half_width'], 2)} with {replicates} replicates; about {needed} are needed for "
                         f"{target:.0%} of its size.")
        else:
            notes.append(f"{replicates} replicates are enough for {outcomes[row['outcome']]} (half-width "
                         f"{_num(row['half_width'], 2)}, within {target:.0%} of its size; {needed} would do).")
    return notes, warn


def read_this_first(doc: Document, manifest: dict, headline: pd.DataFrame | None = None) -> None:
    """The box a reader must see before quoting a number: what, in what money, how sure, what is assumed."""
    settings = _report_settings(manifest)
    sim = manifest.get("simulated") or {}
    run = manifest.get("run") or {}
    replicates = int(manifest.get("replicates") or 0)
    factor = _england_factor(manifest)
    pupils = sim.get("pupils")
    councils = sim.get("councils", "?")
    start, end = run.get("start", "?"), run.get("end", "?")
    try:
        years = (int(end[:4]) * 12 + int(end[5:7]) - int(start[:4]) * 12 - int(start[5:7]) + 1) / 12
        span = f"{years:.1f} years"
    except (TypeError, ValueError):
        span = "?"
    where = (f"{councils} simulated council{'s' if councils != 1 else ''} with "
             f"{_num(pupils, 0) if pupils else '?'} pupils (Reception to Year 11) at the first January census")
    if factor:
        where += f", about 1/{factor:,.0f} of England's {settings['england_pupils']:,} pupils"
    items = [
        f"**What was simulated:** {where}; from {start} to {end} ({span}); {replicates} paired replicates (the "
        "same children with the same luck under both routes).",
        f"**Money:** {_price_words(settings['price_base'])}"
        + (f", deflated at {settings['deflator_growth']:.1%} a year" if settings["price_base"] == "real_2025_26" else
           "; unit costs rise by the model's cost inflation each year")
        + (". Amounts are for the simulated councils; figures marked *England ≈* multiply them by "
           f"{factor:,.0f} (pupils in England / pupils simulated), which assumes the sample council is typical."
           if factor else ". Amounts are for the simulated councils."),
        f"**Intervals:** 95% t-intervals for the mean over {replicates} replicates. They cover run-to-run (Monte "
        "Carlo) noise only, not uncertainty in the model's assumptions or in its parameters: for that, run an "
        "experiment over the uncertain parameters (see docs/EXPERIMENTS.md).",
    ]
    notes, _ = replicate_advice(headline, replicates, float(settings["target_relative_precision"]))
    items += notes
    assumed = manifest.get("assumption_parameters") or {}
    if assumed:
        items.append(f"**Assumptions:** {assumed.get('assumption')} of the model's {assumed.get('total')} parameters are "
                     "its own assumptions (source `assumption` in docs/PARAMETERS.md), among them the reform's "
                     "unpublished details: specialist package thresholds, Experts at Hand delivery, how strongly "
                     "families still press for assessment under the new route, and the anticipation surge.")
    items.append("**Known limitations:** docs/VALIDATION.md, section \"Known failures\", and docs/DYNAMICS.md: with "
                 "trends off the start census holds by year group; the rolling backtest reproduces the acceleration "
                 "of requests and plans after 2022 only from a start dated by hand and not robustly across seeds "
                 "(timeliness and appeals still miss), and the baseline's plans stop growing after about 2031, so "
                 "quote reform-minus-baseline changes rather than levels after 2025. One primary need per child; "
                 "councils do not exchange pupils; attainment is a latent score.")
    items.append("**Need codes** (ASD, SLCN, SEMH, …) and abbreviations are spelled out in the glossary at the end.")
    doc.box("Read this first", items)


def _headline(doc: Document, equity: pd.DataFrame, value_for_money: pd.DataFrame | None = None,
              factor: float | None = None, prices: str = "cash") -> None:
    """Sentences a reader can quote: overall change, winners/losers, the FSM gap, value for money."""
    rows = equity[(equity["metric"] == "unmet_need_months")]
    overall = rows[rows["by"] == "all"]
    gap = rows[rows["by"] == "fsm_gap"]
    if overall.empty or overall.iloc[0]["suppressed"]:
        return
    o = overall.iloc[0]
    items = [
        f"Unmet-need months per child with need over the run: {_num(o['baseline'], 2)} in the baseline, "
        f"{_num(o['reform'], 2)} under the reform (change {_num(o['change'], 2, True)} "
        f"[{_num(o['change_lo'], 2, True)}, {_num(o['change_hi'], 2, True)}]).",
        f"Children with need better off: {_pct(o['share_better_off'])}; worse off: {_pct(o['share_worse_off'])}; "
        f"unchanged: {_pct(o['share_unchanged'])}.",
    ]
    if len(gap) and not gap.iloc[0]["suppressed"]:
        g = gap.iloc[0]
        items.append(f"FSM minus not-FSM gap in unmet-need months: {_num(g['baseline'], 2, True)} baseline, "
                     f"{_num(g['reform'], 2, True)} reform (change {_num(g['change'], 2, True)} "
                     f"[{_num(g['change_lo'], 2, True)}, {_num(g['change_hi'], 2, True)}]); a change in a gap is "
                     "given in months, never as a percentage.")
    items += value_for_money_sentences(value_for_money, factor, prices)
    doc.heading(2, "Headline")
    doc.bullets(items)


def value_for_money_sentences(table: pd.DataFrame | None, factor: float | None = None,
                              prices: str = "cash") -> list[str]:
    """Cost-effectiveness in words (definitions: docs/METRICS.md, "Value for money")."""
    if table is None or table.empty:
        return []
    rows = table.set_index("measure")

    def get(measure: str):
        return rows.loc[measure] if measure in rows.index else None

    cost, months, better = get("net_cost"), get("child_months_avoided"), get("net_children_better_off")
    price_note = "2025-26 prices" if prices == "real_2025_26" else "cash"
    out = [f"Value for money ({price_note}): {rows.iloc[0]['verdict']}."]
    if cost is not None:
        out.append(f"Net cost over the run (reform minus baseline, all budget holders): "
                   f"{_with_england(cost['value'], factor, True)} [{_money(cost['lo'], True)}, {_money(cost['hi'], True)}].")
    if months is not None:
        out.append(f"Child-months of unmet need avoided: {_num(months['value'], 0, True)} [{_num(months['lo'], 0, True)}, "
                   f"{_num(months['hi'], 0, True)}] in the simulated councils"
                   + (f" (England ≈ {_num(months['value'] * factor, 0, True)})." if factor else "."))
    if better is not None:
        out.append(f"Children better off minus children worse off: {_num(better['value'], 0, True)}"
                   + (f" (England ≈ {_num(better['value'] * factor, 0, True)})." if factor else "."))
    for measure, words in (("net_cost_per_child_month_avoided", "Net cost per child-month of unmet need avoided"),
                           ("net_cost_per_child_better_off", "Net cost per child better off (net of those worse off)"),
                           ("saving_per_child_month_added", "Saving per child-month of unmet need added")):
        r = get(measure)
        if r is not None:
            out.append(f"{words}: {_money(r['value'])} [{_money(r['lo'])}, {_money(r['hi'])}].")
    return out


def need_standardised_section(doc: Document, table: pd.DataFrame | None) -> None:
    """The gaps between groups, raw and at equal need (`need_standardised_gaps.csv`), when present."""
    if table is None or table.empty:
        return
    contrasts = {"fsm_minus_non_fsm": "FSM minus not FSM", "q1_minus_q5": "Income quintile 1 minus quintile 5"}
    components = {"raw": "raw gap", "at_equal_need": "at equal need", "different_needs": "from different needs"}
    doc.heading(2, "Disadvantage gaps at equal need")
    doc.para("The gap between disadvantaged and other children, split into the part found among children with the "
             "same need (at equal need: unequal treatment) and the part due to their needs differing. Gaps and their "
             "changes are in the metric's own units, never as percentages; 95% intervals over replicates.")
    for metric, part in table.groupby("metric", sort=False):
        first = part.iloc[0]
        known = RUN_BY_NAME.get(metric)
        title = known.label if known else metric.replace("_", " ")
        doc.heading(3, f"{title} ({first.get('unit', '')}; {first.get('better', '')} is better)")
        rows = []
        for _, r in part.iterrows():
            label = f"{contrasts.get(r['contrast'], r['contrast'])}: {components.get(r['component'], r['component'])}"
            rows.append([f"**{label}**" if r["component"] == "at_equal_need" else label,
                         f"{_num(r['baseline'], 2, True)} [{_num(r['baseline_lo'], 2, True)}, {_num(r['baseline_hi'], 2, True)}]",
                         f"{_num(r['reform'], 2, True)} [{_num(r['reform_lo'], 2, True)}, {_num(r['reform_hi'], 2, True)}]",
                         f"{_num(r['change'], 2, True)} [{_num(r['change_lo'], 2, True)}, {_num(r['change_hi'], 2, True)}]"])
        doc.table(["Gap", "Baseline [95%]", "Reform [95%]", "Change [95%]"], rows)


def _family_channels(doc: Document, table: pd.DataFrame | None, manifest: dict) -> None:
    """Which family resources carry the reform's change in the gaps (stage by stage when the
    comparison grouped the channels into the stages of a family's path through the system)."""
    if table is None or table.empty:
        return
    channels = manifest.get("family_channels", {}).get("channels", [])
    by_stage = bool(channels) and all(c.get("stage") == c.get("name") for c in channels)
    if by_stage:
        family_channel_section(doc, table, "What carries the change in the gap: family resources, stage by stage",
                               "Stage switched off")
        doc.para("Each stage groups the family-resource channels that act there; `sendsim decompose BASELINE REFORM "
                 "--by family-channel` takes every channel apart separately (one pair of runs per channel).")
    else:
        family_channel_section(doc, table, "What carries the change in the gap: family-resource channels")


def _glossary(doc: Document) -> None:
    doc.heading(2, "Glossary")
    doc.para("Primary need codes (school census and SEN2):")
    doc.table(["Code", "Need"], [[code, name] for code, name in NEED_NAMES.items()], ["left", "left"])
    doc.table(["Term", "Meaning"], [[term, meaning] for term, meaning in ABBREVIATIONS.items()], ["left", "left"])


def write_compare_report(out_dir: Path | str, equity: pd.DataFrame, costs: pd.DataFrame, stock: pd.DataFrame,
                         manifest: dict, gaps: pd.DataFrame | None = None, headline: pd.DataFrame | None = None,
                         value_for_money: pd.DataFrame | None = None, decomposition: pd.DataFrame | None = None,
                         transition: pd.DataFrame | None = None,
                         family_channels: pd.DataFrame | None = None) -> tuple[Path, Path]:
    """Write report.md, report.html (self-contained) and figures/ into `out_dir`; return the two report paths.

    Optional tables are read from `out_dir` when not given: `fsm_gap.csv` (or rebuilt from both
    runs), `headline_by_replicate.csv`, `cost_effectiveness.csv`, `decomposition.csv`,
    `transition_cohort.csv`, `family_channels.csv` and `need_standardised_gaps.csv`; a section whose table is absent
    is left out.
    """
    out_dir = Path(out_dir)
    if gaps is None:
        gaps = _load_gaps(out_dir)
    headline = headline if headline is not None else _read_csv(out_dir, "headline_by_replicate.csv")
    value_for_money = value_for_money if value_for_money is not None else _read_csv(out_dir, "cost_effectiveness.csv")
    decomposition = decomposition if decomposition is not None else _read_csv(out_dir, "decomposition.csv")
    transition = transition if transition is not None else _read_csv(out_dir, "transition_cohort.csv")
    standardised = _read_csv(out_dir, "need_standardised_gaps.csv")
    family_channels = family_channels if family_channels is not None else _read_csv(out_dir, "family_channels.csv")
    settings = _report_settings(manifest)
    factor = _england_factor(manifest)
    small_cell = int(manifest.get("small_cell", 10))
    base = manifest.get("baseline", {}).get("scenario", "baseline")
    reform = manifest.get("reform", {}).get("scenario", "reform")
    title = f"Paired comparison: {base} (baseline) vs {reform} (reform)"
    doc = Document()
    doc.heading(1, title)
    read_this_first(doc, manifest, headline)
    doc.para("The same simulated children under two routes. All changes are reform minus baseline, for the same "
             "children with the same random draws (common random numbers), computed inside each replicate and then "
             "summarised as a mean with a 95% t-interval over replicates.")
    _headline(doc, equity, value_for_money, factor, settings["price_base"])
    need_standardised_section(doc, standardised)
    _family_channels(doc, family_channels, manifest)
    doc.heading(2, "Figures")
    for path, ftitle, caption in (gap_figure(gaps, out_dir), winners_losers_figure(equity, out_dir),
                                  costs_figure(costs, out_dir), ehcp_figure(stock, out_dir)):
        doc.figure(path, ftitle, caption)
    if decomposition is not None and len(decomposition):
        decomposition_section(doc, decomposition, waterfall_figure(decomposition, out_dir), factor)
    transition_section(doc, transition)
    _equity(doc, equity, small_cell, float(settings["relative_change_min_share"]))
    _gaps(doc, gaps)
    _costs(doc, costs, settings["price_base"], float(settings["relative_change_min_share"]), factor)
    _stock(doc, stock)
    _provenance(doc, manifest)
    _glossary(doc)
    md_path = out_dir / REPORT_MD
    html_path = out_dir / REPORT_HTML
    md_path.write_text(doc.markdown(), encoding="utf-8")
    html_path.write_text(doc.html(title, out_dir), encoding="utf-8")
    return md_path, html_path
