"""The dashboard's charts, each returned with the exact table it draws (for the CSV download).

Every bar or line is the mean across replicates and every whisker or band the 95% replicate
interval (2.5th-97.5th percentile of per-replicate values), as in the comparison report; changes
are paired per child inside each replicate before they are summarised. Figures use their own
Agg canvas (no pyplot state) so the server never touches an interactive backend. Colours come
from a colour-blind-safe palette and direction is also written in the legend or labels, so a
chart survives greyscale printing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.report.maps import COUNCIL_MAPS

DPI = 110
BASELINE_COLOUR = "#0072B2"  # Okabe-Ito blue
REFORM_COLOUR = "#D55E00"    # Okabe-Ito vermillion
BETTER_COLOUR = "#009E73"    # bluish green
WORSE_COLOUR = "#CC79A7"     # reddish purple
SAME_COLOUR = "#BBBBBB"
HOLDER_LABELS = {"school": "Schools", "council_high_needs": "Council high needs", "central_reform": "Central reform funds",
                 "total": "Total"}
INTERVAL_NOTE = "whiskers/bands: 95% replicate interval"


@dataclass
class Chart:
    """A drawn chart: the figure, its data and the file name stem for downloads."""

    name: str
    title: str
    figure: Figure
    data: pd.DataFrame

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
        return buffer.getvalue()

    def csv(self) -> bytes:
        return self.data.to_csv(index=False).encode()


def _figure(width: float = 5.6, height: float = 3.6) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.grid(True, axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_axis_off()


def ehcp_share_chart(stock: pd.DataFrame, baseline_name: str = "baseline", reform_name: str = "reform") -> Chart:
    """EHCP share of pupils at each January census, both routes, with replicate intervals."""
    data = stock[stock["route"].isin(["baseline", "reform"])].copy()
    data["date"] = pd.to_datetime(data["date"])
    fig, ax = _figure()
    for route, colour, style, marker, name in (("baseline", BASELINE_COLOUR, "-", "o", baseline_name),
                                               ("reform", REFORM_COLOUR, "--", "s", reform_name)):
        rows = data[data["route"] == route].sort_values("date")
        if rows.empty:
            continue
        years = rows["date"].dt.year
        ax.plot(years, rows["mean"], style, marker=marker, color=colour, label=name if name == route else f"{route}: {name}")
        ax.fill_between(years, rows["lo"], rows["hi"], color=colour, alpha=0.18, linewidth=0)
    if data.empty:
        _empty(ax, "no census dates in this run")
    else:
        ax.set_xlabel("January census")
        ax.set_ylabel("% of pupils with an EHCP")
        ax.legend(frameon=False, loc="upper left")
    title = "EHCP share of pupils over time"
    ax.set_title(f"{title}\n(lines: mean; bands: 95% replicate interval)", fontsize=10)
    data["date"] = data["date"].dt.date
    return Chart("ehcp_share_over_time", title, fig, data.reset_index(drop=True))


def _metric_rows(equity: pd.DataFrame, metric: str, by: str) -> pd.DataFrame:
    return equity[(equity["metric"] == metric) & (equity["by"] == by)].copy()


def quintile_change_chart(equity: pd.DataFrame, metric: str) -> Chart:
    """Average paired change by income quintile (PolicyEngine-style), green where children gain."""
    rows = _metric_rows(equity, metric, "income_quintile")
    rows["group"] = rows["group"].astype(str)
    rows = rows.sort_values("group")
    fig, ax = _figure()
    label = rows["label"].iloc[0] if len(rows) else metric
    unit = rows["unit"].iloc[0] if len(rows) else ""
    title = f"Average change by income quintile: {label}"
    shown = rows[~rows["suppressed"].astype(bool)]
    if shown.empty:
        _empty(ax, "every quintile is suppressed (too few children): raise the scale or replicates")
    else:
        better = shown["better"].iloc[0]
        gain = shown["change"] < 0 if better == "lower" else shown["change"] > 0
        colours = np.where(shown["change"] == 0, SAME_COLOUR, np.where(gain, BETTER_COLOUR, WORSE_COLOUR))
        x = shown["group"].astype(int).to_numpy()
        err = np.vstack([shown["change"] - shown["change_lo"], shown["change_hi"] - shown["change"]]).clip(min=0)
        ax.bar(x, shown["change"], color=colours, yerr=err, capsize=4, ecolor="#333333")
        ax.axhline(0, color="#333333", linewidth=0.8)
        for xi, value in zip(x, shown["change"]):
            ax.annotate(f"{value:+.2f}", (xi, value), textcoords="offset points",
                        xytext=(0, 3 if value >= 0 else -11), ha="center", fontsize=8)
        ax.set_xticks(range(1, 6), ["1\n(lowest income)", "2", "3", "4", "5\n(highest income)"])
        ax.set_ylabel(f"reform minus baseline\n({unit})")
        direction = "lower" if better == "lower" else "higher"
        ax.set_xlabel(f"income quintile\n(green: children gain, {direction} is better; purple: children lose)")
    ax.set_title(f"{title}\n(bars: mean paired change; {INTERVAL_NOTE})", fontsize=10)
    return Chart(f"change_by_income_quintile_{metric}", title, fig, rows.reset_index(drop=True))


def winners_losers_chart(equity: pd.DataFrame, metric: str) -> Chart:
    """Share of children better off, unchanged and worse off, overall and by income quintile."""
    rows = pd.concat([_metric_rows(equity, metric, "all"), _metric_rows(equity, metric, "income_quintile")])
    rows = rows[~rows["suppressed"].astype(bool)]
    label = rows["label"].iloc[0] if len(rows) else metric
    title = f"Winners and losers: {label}"
    fig, ax = _figure(height=3.4)
    if rows.empty:
        _empty(ax, "every group is suppressed (too few children)")
    else:
        names = ["All children" if g == "all" else f"Quintile {g}" for g in rows["group"]]
        y = np.arange(len(rows))[::-1]
        left = np.zeros(len(rows))
        for column, colour, legend in (("share_better_off", BETTER_COLOUR, "better off"),
                                       ("share_unchanged", SAME_COLOUR, "unchanged"),
                                       ("share_worse_off", WORSE_COLOUR, "worse off")):
            values = 100 * rows[column].to_numpy(dtype=float)
            ax.barh(y, values, left=left, color=colour, label=legend)
            for yi, li, vi in zip(y, left, values):
                if vi >= 6:
                    ax.text(li + vi / 2, yi, f"{vi:.0f}%", ha="center", va="center", fontsize=8)
            left += values
        ax.set_yticks(y, names)
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of children (paired: the same child under both routes)")
        ax.legend(frameon=False, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
        ax.grid(False)
    ax.set_title(f"{title}\n(mean share across replicates)", fontsize=10, pad=24)
    return Chart(f"winners_and_losers_{metric}", title, fig, rows.reset_index(drop=True))


def gaps_chart(equity: pd.DataFrame, standardised: pd.DataFrame | None) -> Chart:
    """Change in disadvantage gaps: need-standardised when the comparison has them, else raw.

    Need-standardised gaps compare children with the same need; raw gaps (FSM minus non-FSM,
    income quintile 1 minus 5) also carry differences in need, so they are labelled as such.
    """
    if standardised is not None and len(standardised):
        data = standardised.copy()
        names = [" / ".join(str(v) for v in parts if str(v) not in ("", "nan"))
                 for parts in zip(data["metric"], data["contrast"], data["component"])]
        title = "Need-standardised disadvantage gaps: change under the reform"
        note = "gaps among children with the same need"
    else:
        data = equity[equity["by"].isin(["fsm_gap", "income_gap"]) & ~equity["suppressed"].astype(bool)].copy()
        names = [f"{label} / {'FSM minus non-FSM' if by == 'fsm_gap' else 'quintile 1 minus 5'}"
                 for label, by in zip(data["label"], data["by"])]
        title = "Disadvantage gaps (raw, not need-standardised): change under the reform"
        note = "raw gaps: also reflect differences in need"
    fig, ax = _figure(width=6.5, height=max(2.5, 0.38 * len(data) + 1.4))
    if data.empty:
        _empty(ax, "no gap estimates in this comparison")
    else:
        y = np.arange(len(data))[::-1]
        change = data["change"].to_numpy(dtype=float)
        err = np.vstack([change - data["change_lo"].to_numpy(dtype=float),
                         data["change_hi"].to_numpy(dtype=float) - change]).clip(min=0)
        ax.errorbar(change, y, xerr=err, fmt="o", color=REFORM_COLOUR, ecolor="#333333", capsize=3)
        ax.axvline(0, color="#333333", linewidth=0.8)
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xlabel("change in gap, reform minus baseline (metric's unit; a gap moving toward 0 narrows)")
        ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(f"{title}\n({note}; {INTERVAL_NOTE})", fontsize=10)
    return Chart("disadvantage_gaps", title, fig, data.reset_index(drop=True))


def costs_chart(costs: pd.DataFrame) -> Chart:
    """Change in spending by budget holder and financial year, with replicate intervals."""
    data = costs[(costs["measure"] == "spend")].copy()
    title = "Spending by budget holder: reform minus baseline"
    fig, ax = _figure()
    if data.empty:
        _empty(ax, "no complete financial year in this run")
    else:
        largest = float(np.nanmax(np.abs(data[["change_lo", "change_hi", "baseline"]].to_numpy(dtype=float))))
        divisor, unit = (1e6, "£ million") if largest >= 1e6 else (1e3, "£ thousand")
        looks = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))
        for (holder, name), (style, marker) in zip(HOLDER_LABELS.items(), looks):
            rows = data[data["holder"] == holder].sort_values("date")
            if rows.empty:
                continue
            x = np.arange(len(rows))
            ax.errorbar(x, rows["change"] / divisor, yerr=np.vstack([rows["change"] - rows["change_lo"],
                                                                    rows["change_hi"] - rows["change"]]).clip(min=0) / divisor,
                        linestyle=style, marker=marker, capsize=3, label=name)
            ax.set_xticks(x, rows["period"], rotation=45, ha="right", fontsize=8)
        ax.axhline(0, color="#333333", linewidth=0.8)
        ax.set_ylabel(f"change in spend ({unit} a year)")
        ax.set_xlabel("financial year (April-March)")
        ax.legend(frameon=False, fontsize=8)
    ax.set_title(f"{title}\n(mean paired change; {INTERVAL_NOTE})", fontsize=10)
    data["date"] = pd.to_datetime(data["date"]).dt.date
    return Chart("spending_by_budget_holder", title, fig, data.reset_index(drop=True))


#: Columns that say which council a map's row is (from council_impact.csv)
COUNCIL_IDENTITY = ["la_code", "la_name", "region_name", "deprivation_decile", "children_with_need"]


@dataclass
class MapChart:
    """A hex map of England drawn by the comparison itself (`sim.report.maps`, the same PNG as in
    the comparison's `figures/`), with the per-council values it shows.

    Why not redraw: the map in the dashboard must be the map of the report, pixel for pixel, and
    there must be one drawing of it; the comparison writes it once, the dashboard shows that file.
    """

    name: str
    title: str
    path: Path
    data: pd.DataFrame
    measure: str  # what the map shows, without the route (e.g. "Unmet-need months per child with need")
    route: str    # "baseline" or "change"

    def png(self) -> bytes:
        return Path(self.path).read_bytes()

    def csv(self) -> bytes:
        return self.data.to_csv(index=False).encode()


def council_map_charts(councils: pd.DataFrame, maps: dict[str, Path]) -> list[MapChart]:
    """The comparison's hex maps (baseline and change of each measure) with the council values
    each one colours: identity columns, the value and, for a change with an interval, its bounds."""
    charts = []
    for column, stem, title, _label, diverging in COUNCIL_MAPS:
        if stem not in maps or column not in councils.columns:
            continue
        route = "change" if diverging else "baseline"
        measure = column.removesuffix(f"_{route}")
        bounds = [c for c in (f"{measure}_change_lo", f"{measure}_change_hi") if route == "change" and c in councils.columns]
        identity = [c for c in COUNCIL_IDENTITY if c in councils.columns]
        data = councils[identity + [column] + bounds].reset_index(drop=True)
        described = title.split(" (reform - baseline)")[0].removeprefix("Change in ").removesuffix(", baseline")
        charts.append(MapChart(stem, title, Path(maps[stem]), data, described[:1].upper() + described[1:], route))
    return charts
