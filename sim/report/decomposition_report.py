"""The reform taken apart, on the page: a contribution table and a waterfall per outcome.

Reads the tidy table of `sim.experiments.decompose` (`decomposition.csv`). The waterfall starts
at the baseline (zero change), adds the route with every component off (the residual, which
should be near zero), then each component's contribution (Shapley values when they were
computed, otherwise the sequential contributions in the file's order), and ends at the whole
reform's change: the bars add up exactly, replicate by replicate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from sim.experiments.family_channels import ALL, NOTHING, OVERLAP, TOTAL
from sim.report.document import DASH, Document, interval, money, new_figure, save_figure

WATERFALL_PNG = "decomposition_waterfall.png"
PANELS = (("unmet_need_months", 2, "months per child with need"), ("fsm_gap_unmet_need_months", 2, "months (FSM minus not FSM)"),
          ("share_worse_off", 1, "% of children with need"), ("spend", None, "£ million"))
TABLE_OUTCOMES = ("unmet_need_months", "fsm_gap_unmet_need_months", "share_worse_off", "share_better_off", "spend")
SHORT = {"unmet_need_months": "Unmet-need months", "fsm_gap_unmet_need_months": "FSM gap in unmet need",
         "share_worse_off": "Worse off (%)", "share_better_off": "Better off (%)", "spend": "Spending"}


def attribution_method(table: pd.DataFrame) -> str:
    """'shapley' when the table holds Shapley values, else 'sequential'."""
    return "shapley" if (table["method"] == "shapley").any() else "sequential"


def _cell(row: pd.Series | None, decimals: int | None, scale: float = 1.0) -> str:
    if row is None:
        return DASH
    if decimals is None:  # money
        return f"{money(row['value'] * scale, True)} [{money(row['lo'] * scale, True)}, {money(row['hi'] * scale, True)}]"
    return interval(row["value"], row["lo"], row["hi"], decimals, signed=True)


def _rows(table: pd.DataFrame, method: str) -> list[tuple[str, str, str]]:
    """(method, component, label) in display order: residual, components, total."""
    order = [("residual", "route_residual")]
    comps = table[table["method"] == method].drop_duplicates("component").sort_values("order")
    order += [(method, c) for c in comps["component"]]
    order.append(("total", "total"))
    labels = table.drop_duplicates("component").set_index("component")["label"].to_dict()
    return [(m, c, labels.get(c, c)) for m, c in order]


def decomposition_section(doc: Document, table: pd.DataFrame, figure: tuple[str, str, str] | None = None,
                          england_factor: float | None = None, heading: str = "Which part of the reform does what") -> None:
    """The section: what was done, the waterfall, the contribution table, and the 'alone' reading."""
    if table is None or table.empty:
        return
    method = attribution_method(table)
    replicates = int(table["replicates"].max())
    doc.heading(2, heading)
    how = ("Shapley values: each component's average contribution over every order in which the components could "
           "be added" if method == "shapley" else
           "sequential contributions: each component added in turn, in the order listed, to everything above it")
    doc.para(
        "The reform is split into named components (sets of its settings). Each combination needed is run with the "
        f"same children and the same random draws as the baseline ({replicates} replicates), and every outcome is a "
        f"paired change against the baseline. Contributions here are {how}; with the first row (the reform's route "
        "with every component switched off) they add up exactly to the whole reform's change. Intervals: 95% "
        "t-intervals over replicates (run-to-run noise only).")
    if figure is not None:
        doc.figure(*figure)
    header = ["Component", *[SHORT[o] for o in TABLE_OUTCOMES]]
    rows = []
    for m, component, label in _rows(table, method):
        cells = [f"**{label}**" if component in ("total",) else label]
        for outcome in TABLE_OUTCOMES:
            hit = table[(table["method"] == m) & (table["component"] == component) & (table["outcome"] == outcome)]
            decimals = None if outcome == "spend" else (1 if outcome.startswith("share") else 2)
            cells.append(_cell(hit.iloc[0] if len(hit) else None, decimals))
        rows.append(cells)
    doc.table(header, rows)
    doc.para("Units: unmet-need months per child with need over the run (lower is better); the FSM gap in those "
             "months (lower is better); children with need worse off or better off than in the baseline, % (a "
             "level, not a change); spending over the run's complete financial years in the simulated councils "
             "(cash)." + (f" Multiply spending by about {england_factor:,.0f} for England." if england_factor else ""))
    alone = table[table["method"] == "alone"]
    if len(alone):
        doc.heading(3, "Each component alone")
        doc.para("Each component added to the reform's route with every other component off: what it does by itself. "
                 "These do not add up (components interact: protections only matter once the legal switch happens).")
        rows = []
        for component in alone.drop_duplicates("component").sort_values("order")["component"]:
            part = alone[alone["component"] == component]
            cells = [part.iloc[0]["label"]]
            for outcome in TABLE_OUTCOMES:
                hit = part[part["outcome"] == outcome]
                decimals = None if outcome == "spend" else (1 if outcome.startswith("share") else 2)
                cells.append(_cell(hit.iloc[0] if len(hit) else None, decimals))
            rows.append(cells)
        doc.table(header, rows)


def _short(label: str, limit: int = 44) -> str:
    """A bar label: the component's label before any explanation in brackets or after a colon."""
    text = str(label).split(" (")[0].split(":")[0].strip()
    if text == "The reform's route with every component off":
        text = "Route, every component off"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def waterfall_figure(table: pd.DataFrame, directory: Path | str) -> tuple[str, str, str]:
    """One waterfall panel per outcome; returns (relative path, title, caption)."""
    directory = Path(directory)
    method = attribution_method(table)
    title = "Which part of the reform does what"
    fig, axes = new_figure(13, 8.5, ncols=2, nrows=2)
    axes = axes.ravel()
    rows = _rows(table, method)
    colours = sns.color_palette("colorblind", 3)
    for ax, (outcome, _decimals, unit) in zip(axes, PANELS):
        scale = 1e-6 if outcome == "spend" else 1.0
        labels, starts, heights, errs, kinds = [], [], [], [], []
        running = 0.0
        for m, component, label in rows:
            hit = table[(table["method"] == m) & (table["component"] == component) & (table["outcome"] == outcome)]
            if hit.empty:
                continue
            r = hit.iloc[0]
            value, lo, hi = (float(r[k]) * scale for k in ("value", "lo", "hi"))
            short = _short(label)
            labels.append(short)
            if m == "total":
                starts.append(0.0)
                heights.append(value)
                kinds.append("total")
            else:
                starts.append(running)
                heights.append(value)
                running += value
                kinds.append("part")
            errs.append((value - lo, hi - value) if np.isfinite(lo) and np.isfinite(hi) else (0.0, 0.0))
        y = np.arange(len(labels))[::-1]
        for yi, start, height, (e_lo, e_hi), kind in zip(y, starts, heights, errs, kinds):
            colour = colours[2] if kind == "total" else (colours[0] if height < 0 else colours[1])
            hatch = "" if kind == "total" else ("" if height < 0 else "//")
            ax.barh(yi, height, left=start, color=colour, edgecolor="black", linewidth=0.6, hatch=hatch)
            ax.errorbar(start + height, yi, xerr=[[e_lo], [e_hi]], color="black", capsize=3, linewidth=0.8)
        ax.axvline(0, color="0.3", linewidth=0.8)
        ax.set_yticks(y, labels, fontsize=7)
        label = next(o for o in table["outcome"].unique() if o == outcome) if (table["outcome"] == outcome).any() else outcome
        ax.set_title(SHORT.get(label, label), fontsize=10)
        ax.set_xlabel(f"Change against the baseline ({unit})")
    fig.suptitle(title, fontweight="bold")
    caption = ("Each bar starts where the previous one ended: the reform's route with every component off, then each "
               "component's contribution (" + ("Shapley values" if method == "shapley" else "added in the order listed")
               + "), ending at the whole reform (bottom bar, from zero). Plain bars lower the outcome, hatched bars "
               "raise it; whiskers: 95% t-interval over replicates.")
    return save_figure(fig, directory, WATERFALL_PNG), title, caption


def write_decomposition_report(out_dir: Path | str, table: pd.DataFrame, title: str,
                               intro: list[str] | None = None, england_factor: float | None = None) -> tuple[Path, Path]:
    """decomposition.md and decomposition.html (self-contained) with the waterfall, for `sendsim decompose`."""
    out_dir = Path(out_dir)
    doc = Document()
    doc.heading(1, title)
    for text in intro or []:
        doc.para(text)
    decomposition_section(doc, table, waterfall_figure(table, out_dir), england_factor)
    md, html = out_dir / "decomposition.md", out_dir / "decomposition.html"
    md.write_text(doc.markdown(), encoding="utf-8")
    html.write_text(doc.html(title, out_dir), encoding="utf-8")
    return md, html


# ---- the gap change by family-resource channel ------------------------------------------------
CHANNEL_COLUMNS = (("unmet_need_months", "fsm_minus_non_fsm", 2, "Unmet need, FSM"),
                   ("unmet_need_months", "q1_minus_q5", 2, "Unmet need, Q1−Q5"),
                   ("matched_within_a_year", "fsm_minus_non_fsm", 1, "Matched in a year, FSM"),
                   ("matched_within_a_year", "q1_minus_q5", 1, "Matched in a year, Q1−Q5"),
                   ("ehcp_receipt", "fsm_minus_non_fsm", 1, "EHCP, FSM"),
                   ("ehcp_receipt", "q1_minus_q5", 1, "EHCP, Q1−Q5"))


def _channel_cell(table: pd.DataFrame, channel: str, measure: str, metric: str, contrast: str, decimals: int) -> str:
    hit = table[(table["channel"] == channel) & (table["measure"] == measure) & (table["metric"] == metric)
                & (table["contrast"] == contrast) & (table["component"] == "at_equal_need")]
    return _cell(hit.iloc[0] if len(hit) else None, decimals)


def _carried_rows(table: pd.DataFrame, metric: str, contrast: str) -> pd.DataFrame:
    keep = ((table["measure"] == "carried") & (table["metric"] == metric) & (table["contrast"] == contrast)
            & (table["component"] == "at_equal_need"))
    return table[keep].set_index("channel")


def carried_by_sentence(table: pd.DataFrame | None, metric: str = "unmet_need_months",
                        contrast: str = "fsm_minus_non_fsm") -> str | None:
    """One sentence naming what carries the reform's change in a gap at equal need: the channels (or
    stages) whose 95% interval excludes zero, largest first, and what is left with every one off.

    Why: a headline change in a gap is quoted without its mechanism unless the page names it; a
    channel whose interval spans zero is not named (it has no measurable part at this replicate count).
    """
    if table is None or table.empty:
        return None
    rows = _carried_rows(table, metric, contrast)
    if TOTAL not in rows.index:
        return None
    total = rows.loc[TOTAL]
    who = "FSM" if contrast == "fsm_minus_non_fsm" else "income quintile 1 (against 5)"
    named = rows.drop(index=[c for c in (TOTAL, ALL, OVERLAP) if c in rows.index])
    clear = named[(named["lo"] > 0) | (named["hi"] < 0)]
    clear = clear.reindex(clear["value"].abs().sort_values(ascending=False).index)
    parts = [f"{row['label'].split(' (')[0].lower()} ({interval(row['value'], row['lo'], row['hi'], 2, signed=True)})"
             for _, row in clear.iterrows()]
    text = (f"The reform changes the {who} gap in unmet-need months at equal need by "
            f"{interval(total['value'], total['lo'], total['hi'], 2, signed=True)} months per child with need. ")
    if parts:
        text += ("What carries it, measurably (the change that disappears when that part is switched off, "
                 f"largest first): {'; '.join(parts)}.")
    else:
        text += "No single family-resource channel carries a part of it distinguishable from zero at this replicate count."
    if ALL in rows.index:
        left = rows.loc[ALL]
        text += (" With every family-resource channel off the change is "
                 f"{interval(left['value'], left['lo'], left['hi'], 2, signed=True)}: what family resources do not explain.")
    return text


def family_channel_section(doc: Document, table: pd.DataFrame,
                           heading: str = "Which family-resource channel carries the change in the gap",
                           row_title: str = "Channel switched off") -> None:
    """The reform's change in the gaps at equal need, split by family-resource channel switched off."""
    if table is None or table.empty:
        return
    replicates = int(table["replicates"].max())
    header = [row_title, *[c[3] for c in CHANNEL_COLUMNS]]
    doc.heading(2, heading)
    for contrast in ("fsm_minus_non_fsm", "q1_minus_q5"):
        sentence = carried_by_sentence(table, contrast=contrast)
        if sentence:
            doc.para(sentence)
    doc.para(
        "Each family-resource channel (a stage where a family's money, time or know-how changes what it gets) is "
        "switched off in both the baseline and the reform, and the reform's change in each gap among children with "
        "the same need is measured again, with the same children and the same random draws "
        f"({replicates} replicates). What a channel *carries* is the reform's change with every channel on minus the "
        "change with that channel off. The row with every channel off is the change left when no family resource "
        "acts; the overlap row is what the channels do together beyond their separate parts, so that the rows below "
        "the first add up exactly to the reform's change. Gaps are disadvantaged minus advantaged group (FSM minus "
        "not FSM; income quintile 1 minus quintile 5), standardised to one need distribution. Intervals: 95% "
        "t-intervals over replicates (run-to-run noise only).")
    rows = [["**The reform's change (every channel on)**",
             *[_channel_cell(table, TOTAL, "carried", m, c, d) for m, c, d, _ in CHANNEL_COLUMNS]]]
    carried = table[(table["measure"] == "carried") & ~table["channel"].isin([TOTAL])]
    for channel in carried.drop_duplicates("channel").sort_values("order")["channel"]:
        label = carried[carried["channel"] == channel].iloc[0]["label"]
        rows.append([label, *[_channel_cell(table, channel, "carried", m, c, d) for m, c, d, _ in CHANNEL_COLUMNS]])
    doc.table(header, rows)
    doc.para("Units: unmet-need months per child with need over the run (lower is better; a negative change narrows "
             "a gap that disadvantages FSM or quintile-1 children); support matched to need within a year of onset "
             "and EHCP receipt, percentage points (higher is better for the children). Read a channel whose "
             "interval spans zero as no measurable contribution at this number of replicates.")
    doc.heading(3, "The gaps with every channel on and every channel off")
    doc.para("With every family-resource channel off, children with the same need are treated alike whatever their "
             "family's resources, so the gaps at equal need should be near zero in both routes: what remains is "
             "noise, or a channel the list does not name.")
    rows = []
    for channel, text in ((NOTHING, "Every channel on"), (ALL, "Every channel off")):
        for measure, route in (("baseline_gap", "baseline"), ("reform_gap", "reform")):
            rows.append([f"{text}, {route}",
                         *[_channel_cell(table, channel, measure, m, c, d) for m, c, d, _ in CHANNEL_COLUMNS]])
    doc.table(["Gap at equal need", *[c[3] for c in CHANNEL_COLUMNS]], rows)


def write_family_channel_report(out_dir: Path | str, table: pd.DataFrame, title: str) -> tuple[Path, Path]:
    """family_channels.md and family_channels.html, for `sendsim decompose --by family-channel`."""
    out_dir = Path(out_dir)
    doc = Document()
    doc.heading(1, title)
    family_channel_section(doc, table)
    md, html = out_dir / "family_channels.md", out_dir / "family_channels.html"
    md.write_text(doc.markdown(), encoding="utf-8")
    html.write_text(doc.html(title, out_dir), encoding="utf-8")
    return md, html
