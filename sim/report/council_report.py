"""councils.md: the council results of a comparison, for readers who ask "what about my council?".

Tables by deprivation decile and by region, the councils with the largest changes in unmet need
either way, and the hex maps. Every number is read from the council_impact*.csv files written
beside it (`sim.experiments.council_impact`), so the page and the tables cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.report.maps import COUNCIL_MAPS

#: Councils listed at each end of the ranking by change in unmet need.
LISTED = 10
#: Children with need (per replicate) a council needs to be ranked: below it a council's mean change
#: is mostly chance (unmet-need months have a spread of about 30 months per child, so the standard
#: error of a mean over 200 children is about 2 months, a quarter of a typical change).
RANKING_MIN_CHILDREN = 200

COLUMNS = {  # column -> (heading, format)
    "unmet_need_months_baseline": ("unmet-need months, baseline", "{:.2f}"),
    "unmet_need_months_change": ("change", "{:+.2f}"),
    "fsm_gap_unmet_need_months_raw_change": ("change in FSM gap (raw)", "{:+.2f}"),
    "ehcps_per_100_pupils_2030_change": ("change in EHCPs per 100 pupils, 2030", "{:+.2f}"),
    "high_needs_spend_per_pupil_change": ("change in high-needs £ per pupil per year", "{:+,.0f}"),
    "deficit_end_per_pupil_change": ("change in deficit per pupil at the end, £", "{:+,.0f}"),
}


def _cell(value: object, fmt: str) -> str:
    return "–" if pd.isna(value) else fmt.format(value)


def _table(frame: pd.DataFrame, keys: list[tuple[str, str]]) -> list[str]:
    columns = [c for c in COLUMNS if c in frame.columns]
    header = [label for _, label in keys] + [COLUMNS[c][0] for c in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in frame.to_dict("records"):  # records keep each column's type (deciles stay integers)
        cells = [str(row[key]) for key, _ in keys] + [_cell(row[c], COLUMNS[c][1]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_council_report(out_dir: Path, councils: dict[str, pd.DataFrame], scale: float) -> Path:
    """Write `out_dir/councils.md` from the council tables; return its path."""
    impact = councils["council_impact"]
    ranked = impact[impact["children_with_need"] >= RANKING_MIN_CHILDREN].dropna(subset=["unmet_need_months_change"])
    ranked = ranked.sort_values("unmet_need_months_change")
    lines = [
        "# Council results", "",
        (f"{len(impact)} councils, population.scale {scale}. Reform minus baseline, paired child by child inside each "
         "replicate, then averaged over replicates. Unmet-need months are per child with need over the whole run; "
         "the FSM gap is raw (FSM minus non-FSM), not standardised for need. Per-council values for small councils "
         "at a small scale rest on few children (`children_with_need` in `council_impact.csv`). Deprivation deciles "
         "rank all 153 councils by their share of pupils eligible for free school meals (10 = most deprived)."), "",
        "## By council deprivation decile", "",
        *_table(councils["council_impact_by_decile"], [("deprivation_decile", "decile"), ("councils", "councils")]), "",
        "## By region", "",
        *_table(councils["council_impact_by_region"], [("region_name", "region"), ("councils", "councils")]), "",
        f"## The {LISTED} councils whose unmet need falls most", "",
        (f"Ranked among the {len(ranked)} councils with at least {RANKING_MIN_CHILDREN} simulated children with need "
         "per replicate (smaller councils' changes are mostly chance at this scale)."), "",
        *_table(ranked.head(LISTED), [("la_name", "council"), ("la_code", "code"), ("deprivation_decile", "decile")]), "",
        f"## The {LISTED} councils whose unmet need rises most (or falls least)", "",
        *_table(ranked.tail(LISTED).iloc[::-1], [("la_name", "council"), ("la_code", "code"), ("deprivation_decile", "decile")]),
        "", "## Maps", "",
    ]
    for _, stem, title, _, _ in COUNCIL_MAPS:
        lines += [f"![{title}](figures/{stem}.png)", ""]
    path = Path(out_dir) / "councils.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
