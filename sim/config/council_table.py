"""The table of England's councils (one row per upper-tier local authority) for heterogeneity runs.

Built from the DfE "Education, health and care plans" extracts by ``scripts/build_council_table.py``
into ``sim/data/councils.csv``; every column, source and imputation is described in
``sim/data/councils_PROVENANCE.md``. ``pupils_est`` and ``fsm_share`` come from the DfE school
census (January 2025, every council; pupils scaled by one England-wide factor to the model's 8.1m
Reception-Year 11 pupils), ``ehcp_share_2025`` is the published share of pupils with an EHC plan (a
validation target, not an input), ``special_share`` is observed for
only 67 councils (the rest are regional or national medians), and that ``gatekeeping_index`` and
``deprivation_index`` are additive in log-odds (England = 0) while the other indices are
multipliers (England = 1).
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "councils.csv"

KEY_COLUMNS = ("la_code", "old_la_code", "la_name", "region_name")
VALUE_COLUMNS = (
    "plans_2025", "requests_2025", "requests_2022", "refusal_rate_2025", "within_20_weeks_2025",
    "new_plans_2025", "appeal_rate_2025", "pupils_est",
    "ep_capacity_index", "gatekeeping_index", "demand_index", "appeal_index",
    "special_share", "special_places_index", "fsm_share", "deprivation_index", "ehcp_share_2025",
)
INDEX_COLUMNS = ("ep_capacity_index", "gatekeeping_index", "demand_index", "appeal_index", "special_places_index",
                 "deprivation_index")
REQUIRED_COLUMNS = KEY_COLUMNS + tuple(
    name for col in VALUE_COLUMNS for name in (col, f"{col}_source", f"{col}_imputed"))


class CouncilTableError(ValueError):
    """The council table is missing, incomplete or inconsistent."""


def load_council_table(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate the council table (default: the packaged ``sim/data/councils.csv``).

    Checks that every required column is present, that ``la_code`` is present and unique, and
    that the key and value columns have no missing values. Codes are kept as strings.
    Raises ``CouncilTableError`` with the offending columns or councils otherwise.
    """
    path = Path(path) if path is not None else DEFAULT_PATH
    if not path.is_file():
        raise CouncilTableError(f"council table not found: {path} (build it with scripts/build_council_table.py)")
    table = pd.read_csv(path, dtype={"la_code": str, "old_la_code": str, "la_name": str, "region_name": str})
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise CouncilTableError(f"{path}: missing required columns {missing}")
    if table["la_code"].isna().any() or (table["la_code"].str.strip() == "").any():
        raise CouncilTableError(f"{path}: {int(table['la_code'].isna().sum())} rows without an la_code")
    dup = table.loc[table["la_code"].duplicated(keep=False), "la_code"].unique().tolist()
    if dup:
        raise CouncilTableError(f"{path}: duplicate la_code {dup}")
    gaps = {c: table.loc[table[c].isna(), "la_code"].tolist() for c in KEY_COLUMNS + VALUE_COLUMNS if table[c].isna().any()}
    if gaps:
        raise CouncilTableError(f"{path}: missing values (column: councils) {gaps}")
    for col in VALUE_COLUMNS:
        flag = table[f"{col}_imputed"]
        if flag.dtype != bool:
            flag = flag.astype(str).str.lower().map({"true": True, "false": False})
            if flag.isna().any():
                raise CouncilTableError(f"{path}: {col}_imputed must be True/False")
            table[f"{col}_imputed"] = flag.astype(bool)
    return table.reset_index(drop=True)


def resolve_path(name: str) -> Path:
    """'england' (or 'default') names the packaged table; anything else is a file path."""
    return DEFAULT_PATH if name in ("england", "default") else Path(name)


_ROWS_CACHE: dict[str, int] = {}


def council_rows(name: str) -> int:
    """Number of councils in a table (cached: configs validate it often)."""
    if name not in _ROWS_CACHE:
        try:
            _ROWS_CACHE[name] = len(load_council_table(resolve_path(name)))
        except CouncilTableError as exc:
            raise ValueError(str(exc)) from None
    return _ROWS_CACHE[name]


def council_profiles(name: str) -> pd.DataFrame:
    """Model-facing values per council, in table order (sorted by la_code):

    - `pupils`: Reception-Year 11 pupils (the census headcount scaled to England's 8.1m);
    - `ehcp_index`: plans per pupil relative to England (scales the start census EHCP share);
    - `ep_capacity_index`, `demand_index`, `appeal_index`: multipliers (England = 1);
    - `special_places_index`: multiplier (England = 1) on special-school use (places and start placements);
    - `gatekeeping_index`: additive refusal log-odds (England = 0);
    - `deprivation_index`: additive FSM log-odds (England = 0), from the council's observed FSM share.
    """
    table = load_council_table(resolve_path(name)).sort_values("la_code").reset_index(drop=True)
    plans_per_pupil = table["plans_2025"] / table["pupils_est"]
    national = table["plans_2025"].sum() / table["pupils_est"].sum()
    return pd.DataFrame({
        "la_code": table["la_code"],
        "la_name": table["la_name"],
        "pupils": table["pupils_est"].astype(float),
        "ehcp_index": (plans_per_pupil / national).clip(0.4, 2.5),
        "ep_capacity_index": table["ep_capacity_index"].astype(float),
        "gatekeeping_index": table["gatekeeping_index"].astype(float),
        "demand_index": table["demand_index"].astype(float),
        "appeal_index": table["appeal_index"].astype(float),
        "special_places_index": table["special_places_index"].astype(float),
        "deprivation_index": table["deprivation_index"].astype(float),
        # the council's odds of issuing within 20 weeks relative to England's (ep_capacity_index is its 0.2 power)
        "timeliness_odds_ratio": table["ep_capacity_index"].astype(float) ** 5,
    })


# ---- councils by identity ----------------------------------------------------------------------
@lru_cache(maxsize=8)
def council_identity(name: str) -> pd.DataFrame:
    """Identity of every council in table order (the order of `council_profiles`): row (the
    council's id in every run, and the key of its random streams), la_code, old_la_code, la_name,
    region_name. Why one order: a council gets the same draws whether it runs alone, in its region
    or in all of England, so results for the same council are comparable across those runs."""
    table = load_council_table(resolve_path(name)).sort_values("la_code").reset_index(drop=True)
    frame = table[["la_code", "old_la_code", "la_name", "region_name"]].copy()
    frame.insert(0, "row", np.arange(len(frame), dtype=np.int64))
    return frame


def _normalise(text: str) -> str:
    return " ".join(str(text).replace(",", " ").replace(".", " ").lower().split())


def resolve_selection(name: str, councils: list[str] | None = None, region: str | None = None) -> list[int]:
    """Table rows (sorted) of the councils chosen by name or code, or of every council in a region.

    Names match case-insensitively, ignoring punctuation ("Bristol, City of" = "bristol city of");
    codes are the 9-character `la_code` or the 3-digit DfE code. Raises ValueError naming the
    unknown council and the closest known names, or listing the regions.
    """
    try:
        identity = council_identity(name)
    except CouncilTableError as exc:
        raise ValueError(str(exc)) from None
    if councils is not None and region is not None:
        raise ValueError("give population.councils as a list of names or population.region, not both")
    if region is not None:
        regions = sorted(identity["region_name"].unique())
        chosen = identity.index[identity["region_name"].map(_normalise) == _normalise(region)]
        if len(chosen) == 0:
            raise ValueError(f"population.region: unknown region {region!r}; the regions are {regions}")
        return [int(i) for i in chosen]
    if councils is None:
        return list(range(len(identity)))
    lookup: dict[str, int] = {}
    for row in identity.itertuples():
        for key in (row.la_code, row.old_la_code, row.la_name):
            lookup[_normalise(key)] = int(row.row)
    rows, unknown = set(), []
    for council in councils:
        key = _normalise(council)
        if key in lookup:
            rows.add(lookup[key])
        else:
            unknown.append(str(council))
    if unknown:
        names = list(identity["la_name"])
        hints = "; ".join(
            f"{u!r}: did you mean {', '.join(difflib.get_close_matches(u, names, n=3, cutoff=0.5)) or 'no close match'}?"
            for u in unknown)
        raise ValueError(f"population.councils: unknown council {unknown} (names or codes of the table {name!r}). {hints}")
    if not rows:
        raise ValueError("population.councils: the list of councils is empty")
    return sorted(rows)


def selected_rows(population) -> list[int]:
    """Every council a `population` section selects, as table rows in table order, before the
    `first_council` / `councils` slice (which blocks of a run take)."""
    if population.council_table is None:
        return list(range(population.first_council + population.councils))
    return resolve_selection(population.council_table, population.council_names, population.region)


def simulated_councils(population) -> pd.DataFrame:
    """The councils one run simulates, in the run's order (local council 0, 1, ...): `row` (the
    council's id across runs: its table row, or first_council + i for synthetic councils), `la_code`,
    `la_name`, `region_name`. Synthetic councils (no table) are labelled by their id."""
    rows = selected_rows(population)[population.first_council:population.first_council + population.councils]
    if population.council_table is None:
        return pd.DataFrame({"row": np.asarray(rows, dtype=np.int64), "la_code": [str(r) for r in rows],
                             "la_name": [f"Council {r}" for r in rows], "region_name": "synthetic"})
    identity = council_identity(population.council_table)
    return identity.iloc[rows][["row", "la_code", "la_name", "region_name"]].reset_index(drop=True)
