"""Hex maps of England's councils: one equal hexagon per council, placed roughly where it is.

Why hexagons: on a geographic map, large rural counties dominate and London's 33 boroughs are
invisible; a hex cartogram gives every council the same weight, which is what a council-level
result needs. The layout (`sim/data/council_sources/england_councils.hexjson`, adapted from the
Open Innovations hexmaps, MIT licence) is keyed by the current 9-character council codes; the
council table keeps the codes of the SEN2 extracts, which differ for three councils
(Buckinghamshire, North Yorkshire, Somerset), so both are joined through the 3-digit DfE code of
the census file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import RegularPolygon

from sim.config.council_table import load_council_table

SOURCES = Path(__file__).resolve().parent.parent / "data" / "council_sources"
LAYOUT = SOURCES / "england_councils.hexjson"
CODES = SOURCES / "la_pupils_fsm.csv"  # la_code (3-digit) <-> new_la_code for every council
NOT_SIMULATED = "#dddddd"
COLOUR_TAIL = 2.0  # percent of councils beyond each end of the colour scale


def hex_layout(path: Path = LAYOUT) -> pd.DataFrame:
    """One row per hexagon: la_code (as in the council table), name, x, y (centres, unit spacing)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("layout") != "odd-r":
        raise ValueError(f"{path}: only the 'odd-r' HexJSON layout is supported, got {data.get('layout')!r}")
    hexes = pd.DataFrame([{"new_la_code": k, "name": v["n"], "q": int(v["q"]), "r": int(v["r"])} for k, v in data["hexes"].items()])
    codes = pd.read_csv(CODES, dtype={"la_code": str, "new_la_code": str})[["la_code", "new_la_code"]]
    table = load_council_table()[["la_code", "old_la_code"]].rename(columns={"la_code": "table_code"})
    codes = codes.merge(table, left_on="la_code", right_on="old_la_code")[["new_la_code", "table_code"]]
    hexes = hexes.merge(codes, on="new_la_code", how="left")
    hexes["la_code"] = hexes["table_code"].fillna(hexes["new_la_code"])
    # odd-r: odd rows are shifted half a cell right; rows are sqrt(3)/2 apart
    hexes["x"] = hexes["q"] + 0.5 * (hexes["r"] % 2)
    hexes["y"] = hexes["r"] * np.sqrt(3) / 2
    return hexes[["la_code", "name", "x", "y"]]


def hex_map(values: pd.Series, path: Path, title: str, label: str, diverging: bool = False,
            layout: pd.DataFrame | None = None) -> Path:
    """Draw `values` (indexed by la_code) on the hex layout and save a PNG.

    Councils without a value (not simulated, or suppressed) are grey. `diverging` centres the
    colour scale on zero (for changes: blue = lower, red = higher). The colour scale spans the 2nd
    to 98th percentiles of the values (beyond them the end colours), so that one tiny council with
    an extreme, noisy value does not wash out the rest of the map.
    """
    layout = hex_layout() if layout is None else layout
    values = values.astype(float)
    shown = layout.assign(value=layout["la_code"].map(values))
    finite = shown["value"].dropna()
    if diverging:
        span = float(np.percentile(np.abs(finite), 100 - COLOUR_TAIL)) if len(finite) else 1.0
        span = span if span > 0 else 1.0
        norm = TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span)
        cmap = colormaps["RdBu_r"]
    else:
        lo, hi = (float(np.percentile(finite, COLOUR_TAIL)), float(np.percentile(finite, 100 - COLOUR_TAIL))) \
            if len(finite) else (0.0, 1.0)
        norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1.0)
        cmap = colormaps["viridis"]
    figure = Figure(figsize=(6.5, 6.5))
    ax = figure.add_subplot(1, 1, 1)
    radius = 1 / np.sqrt(3)
    for row in shown.itertuples():
        colour = NOT_SIMULATED if pd.isna(row.value) else cmap(norm(row.value))
        ax.add_patch(RegularPolygon((row.x, row.y), numVertices=6, radius=radius, orientation=0.0,
                                    facecolor=colour, edgecolor="white", linewidth=0.6))
    ax.set_xlim(shown["x"].min() - 1, shown["x"].max() + 1)
    ax.set_ylim(shown["y"].min() - 1, shown["y"].max() + 1)
    ax.set_aspect("equal")
    ax.axis("off")
    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, label=label, extend="both")
    missing = int(shown["value"].isna().sum())
    ax.set_title(title + (f"\n(grey: {missing} councils not simulated or too few children)" if missing else ""), fontsize=10)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


#: (column of council_impact.csv, file stem, title, colour-bar label, diverging)
COUNCIL_MAPS = (
    ("unmet_need_months_baseline", "council_map_unmet_need_baseline",
     "Unmet-need months per child with need, baseline", "months per child", False),
    ("unmet_need_months_change", "council_map_unmet_need_change",
     "Change in unmet-need months per child with need (reform - baseline)", "months per child", True),
    ("high_needs_spend_per_pupil_baseline", "council_map_high_needs_spend_baseline",
     "High-needs spending per pupil per year, baseline", "£ per pupil per year", False),
    ("high_needs_spend_per_pupil_change", "council_map_high_needs_spend_change",
     "Change in high-needs spending per pupil per year (reform - baseline)", "£ per pupil per year", True),
)


def council_maps(impact: pd.DataFrame, directory: Path) -> list[Path]:
    """The comparison's hex maps (baseline and change) from the per-council impact table."""
    layout = hex_layout()
    by_code = impact.set_index("la_code")
    return [hex_map(by_code[column], Path(directory) / f"{stem}.png", title, label, diverging, layout)
            for column, stem, title, label, diverging in COUNCIL_MAPS]
