"""Build sim/data/councils.csv (one row per English council) and its provenance note.

Reads the DfE "Education, health and care plans" (2026 edition) extracts in the shared data
folder (``sen2/``) and writes, for each of England's 153 upper-tier councils (keyed by
``new_la_code`` as in ``phase_transfers_all_levels.csv``):

* the observed council figures: caseload, requests (2025 and 2022), refusal rate, 20-week
  timeliness, plans issued, tribunal appeal rate, share of plans placed in special schools
  (``special_share``: observed for only 67 councils, the rest imputed);
* each council's pupils and free-school-meal share (``pupils_est``, ``fsm_share``) from the DfE
  school census (``sim/data/council_sources/la_pupils_fsm.csv``), and its published share of pupils
  with an EHC plan (``ehcp_share_2025``, ``la_sen_2025.csv``: a validation target, not a model input);
* five model-facing heterogeneity indices, each relative to England;
* for every value a ``<column>_source`` code and a ``<column>_imputed`` flag.

Missing values are filled by fixed rules (see RULES below and the generated
``sim/data/councils_PROVENANCE.md``), so the output is deterministic: the test suite rebuilds
both files and compares them byte-for-byte with the committed copies.

    python scripts/build_council_table.py                       # rewrite the committed files
    python scripts/build_council_table.py --out /tmp/c.csv      # write elsewhere (md alongside)
    python scripts/build_council_table.py --sen2 /path/to/sen2  # or env SENDSIM_SEN2_DIR
    python scripts/build_council_table.py --pupils pupils.csv   # another pupils and FSM file (see below)
    python scripts/build_council_table.py --no-pupils           # no council pupils: imputed (old behaviour)

The SEN2 extracts have no pupil counts and no free-school-meal (deprivation) figures. ``--pupils FILE``
(default: the packaged copy of the DfE census table, ``sim/data/council_sources/la_pupils_fsm.csv``)
supplies them: a CSV with columns ``la_code`` (new or old LA code), ``pupils`` and ``fsm_eligible``
(of those, eligible for free school meals), e.g. from DfE "Schools, pupils and their
characteristics" (LA level). Councils it covers get observed ``fsm_share`` and pupils; the rest
are imputed (regional median FSM share). When the file covers every council and its England total
exceeds the model's 8.1m Reception-Year 11 pupils (the census table counts all phases of
state-funded schools: 8.45m), every council's count is scaled by the same factor, so
``pupils_est`` stays the model's Reception-Year 11 denominator. Without a pupils file every
council gets England's FSM share (``deprivation_index`` = 0). ``--ehcp FILE`` (default the
packaged ``la_sen_2025.csv``) gives each council's published share of pupils with an EHC plan.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEN2 = Path(os.environ.get("SENDSIM_SEN2_DIR", "/work/shared/data/sen2"))
DEFAULT_OUT = REPO / "sim" / "data" / "councils.csv"
#: Packaged copies of the council census files (sources and checks in that folder's README.md).
COUNCIL_SOURCES = REPO / "sim" / "data" / "council_sources"
DEFAULT_PUPILS = COUNCIL_SOURCES / "la_pupils_fsm.csv"
DEFAULT_EHCP = COUNCIL_SOURCES / "la_sen_2025.csv"
#: Column of the EHCP file: % of pupils (all schools) with an EHC plan, January 2025 (DfE LAIT).
EHCP_FILE_COLUMN = "ehcp_pct_all_schools_lait"

#: Reception-Year 11 pupils in England, January 2025 (sim/calibration/targets.py SCHOOL_AGE_PUPILS).
SCHOOL_AGE_PUPILS = 8_100_000
#: England's share of pupils eligible for free school meals, January 2025 (targets.csv T149: 26%).
#: The shared extracts have no council FSM figures: without a pupils file every council gets this.
ENGLAND_FSM_SHARE = 0.26
#: Columns of the optional pupils file (``--pupils``): one row per council, Reception-Year 11 pupils
#: and those eligible for FSM, as in DfE "Schools, pupils and their characteristics" (LA level).
PUPILS_FILE_COLUMNS = ("la_code", "pupils", "fsm_eligible")
#: Elasticity of EP capacity (relative to the council's own assessment workload) with respect to
#: the odds of issuing a plan within 20 weeks: ep_capacity_index = OR ** EP_ELASTICITY.
#: Assumption (see the provenance note): maps council timeliness (5%-98%) onto roughly 0.6x-2.25x
#: national capacity relative to workload, about the span of the schema's plausible national range
#: for ep_hours_per_month_per_1000_pupils (12-35 around 23) widened for council variation. The lead
#: should check it against the model's own d logit(within 20 weeks) / d log(EP hours).
EP_ELASTICITY = 0.2
#: Timeliness saturates: beyond 98% (or below 2%) within 20 weeks the data cannot tell capacities
#: apart (a council with no backlog issues ~all plans on time however much spare capacity it has),
#: so the rate is clipped to [0.02, 0.98] before the transform. Bounds ep_capacity_index to ~[0.47, 2.25].
W20_SATURATION = 0.02
#: special_places_index = special_share / (plans-weighted share of the observed councils), clipped to
#: these bounds (the same as ehcp_index in sim.config.council_table.council_profiles).
SPECIAL_INDEX_CLIP = (0.4, 2.5)
#: Rules that treat a recorded value as unavailable (then imputed like a suppressed one).
IMPLAUSIBLE = {
    "requests_2022 = 0": "a council recording no requests in a year (every council has hundreds)",
    "requests_2025 < 0.5 x plans issued in 2025": "requests cannot plausibly be fewer than half the plans issued in the "
                                                  "same year (England: 1.6 requests per plan issued); the council's "
                                                  "2025 request-decision counts are then unavailable too",
    "0 refusals in >= 50 decisions": "no decision not to assess among at least 50 decisions (England refuses 29%; "
                                     "the chance of none in 50 at even a 5% rate is 8%, at 29% nil): a recording gap",
}

FILES = {
    "plans": "phase_transfers_all_levels.csv",
    "requests": "requests_la_total.csv",
    "timeliness": "timeliness_20_week_la_total.csv",
    "caseload": "caseload_la_total.csv",
    "appeals": "SEND_appealable_decisions_rate_2024-2025.csv",
    "requests_nat": "requests_national.csv",
    "timeliness_nat": "timeliness_20_week_national.csv",
    "caseload_nat": "caseload_national.csv",
}

#: Source codes used in the *_source columns (the provenance note explains each one).
RULES = {
    "observed": "taken directly from the council's row in the named file and year",
    "derived": "computed from the council's other columns (see the column's description); "
               "imputed iff any input is imputed",
    "imputed:apportioned_8.1m": "England's 8.1m Reception-Year 11 pupils apportioned by the council's share "
                                "of (requests_2025 + new_plans_2025)",
    "imputed:cumbria_2022_split": "Cumbria's 2022 value split between Cumberland and Westmorland and Furness "
                                  "in proportion to their requests_2025",
    "imputed:caseload_2023_scaled": "the council's January 2023 caseload (caseload_la_total.csv, 202223) x the "
                                    "pooled January 2023 -> January 2026 growth of the councils observed in both",
    "imputed:2022_scaled": "the council's 2022 count x the national 2025/2022 ratio of the same count",
    "imputed:2022_logit_shifted": "the council's 2022 rate shifted on the logit scale by the national 2022 -> 2025 change",
    "imputed:2024_scaled": "the council's 2024 appeal rate x the national 2025/2024 ratio (6.6% / 6.1%)",
    "imputed:england_share": "England's FSM share (26%, T149) for every council: the extracts have no council FSM "
                             "figures (supply them with --pupils)",
    "observed:scaled_to_reception_y11": "the pupils file's headcount (all phases of state-funded schools) x "
                                        "England's 8.1m Reception-Year 11 pupils / the file's England total: "
                                        "one factor for every council",
    "imputed:regional_median": "rates: median of the observed 2025 rates in the council's region; counts: the "
                               "regional median ratio to a size measure the council has (named in the note) x that measure",
    "imputed:national_median": "as regional_median but over all councils (used only if the region has <3 observed values)",
    ";recorded_value_implausible": "suffix: the council did record a value, but it failed a plausibility rule (below) "
                                   "and was replaced by the imputation named before the ';'",
}

VALUE_COLUMNS = [
    "plans_2025", "requests_2025", "requests_2022", "refusal_rate_2025", "within_20_weeks_2025",
    "new_plans_2025", "appeal_rate_2025", "pupils_est",
    "ep_capacity_index", "gatekeeping_index", "demand_index", "appeal_index",
    "special_share", "special_places_index", "fsm_share", "deprivation_index", "ehcp_share_2025",
]
KEY_COLUMNS = ["la_code", "old_la_code", "la_name", "region_name"]


def _num(series: pd.Series) -> pd.Series:
    """SEN2 strings to floats: 'x' (unavailable), 'z' (not applicable), '-' and blanks become NaN."""
    return pd.to_numeric(series.astype(str).str.strip().str.replace(",", "").replace({"x": None, "z": None, "-": None, "": None}),
                         errors="coerce")


def _logit(p: float | np.ndarray) -> float | np.ndarray:
    return np.log(p) - np.log1p(-p)


def _expit(x: float | np.ndarray) -> float | np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ---- readers ---------------------------------------------------------------------------------

def read_appeals(path: Path) -> pd.DataFrame:
    """The MoJ/DfE appeal-rate table: title lines, region heading rows, footnotes. Keyed by old LA code."""
    raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    header_row = raw.index[raw[1].str.strip() == "Old LA code"]
    if len(header_row) != 1:
        raise ValueError(f"{path.name}: cannot find the 'Old LA code' header line")
    body = raw.iloc[header_row[0] + 1:]
    body = body[body[1].str.strip().str.fullmatch(r"\d+")]  # council rows only (regions/notes have no code)
    out = pd.DataFrame({
        "old_la_code": body[1].str.strip(),
        "appeals_name": body[0].str.strip(),
        "appeals_2024": _num(body[2]), "decisions_2024": _num(body[3]),
        "appeals_2025": _num(body[5]), "decisions_2025": _num(body[6]),
    })
    # ' - ' appeals means none registered (City of London, Isles of Scilly: 0.00% published)
    dash24 = body[2].str.strip() == "-"
    out.loc[dash24.values, "appeals_2024"] = 0.0
    total = raw[raw[0].str.strip() == "England Total"]
    if len(total) != 1:
        raise ValueError(f"{path.name}: cannot find the England Total row")
    t = total.iloc[0]
    out.attrs["national"] = {"appeals_2024": float(t[2]), "decisions_2024": float(t[3]),
                             "appeals_2025": float(t[5]), "decisions_2025": float(t[6])}
    if out["old_la_code"].duplicated().any():
        raise ValueError(f"{path.name}: duplicate old LA codes")
    return out.reset_index(drop=True)


def read_pupils(path: Path, councils: pd.DataFrame) -> pd.DataFrame:
    """The optional pupils file, aligned to `councils` (NaN where a council is absent).

    Raises ValueError naming the file, the column and the offending councils on bad input.
    """
    if not path.is_file():
        raise ValueError(f"pupils file not found: {path}")
    raw = pd.read_csv(path, dtype={"la_code": str})
    missing = [c for c in PUPILS_FILE_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} (needs {list(PUPILS_FILE_COLUMNS)})")
    raw["la_code"] = raw["la_code"].str.strip()
    if raw["la_code"].duplicated().any():
        raise ValueError(f"{path}: duplicate la_code {sorted(raw.loc[raw['la_code'].duplicated(), 'la_code'])}")
    for col in ("pupils", "fsm_eligible"):
        raw[col] = pd.to_numeric(raw[col], errors="coerce")
    bad = raw.loc[~(raw["pupils"] > 0), "la_code"].tolist()
    if bad:
        raise ValueError(f"{path}: pupils must be a number > 0 (councils {bad})")
    bad = raw.loc[~raw["fsm_eligible"].between(0, raw["pupils"]), "la_code"].tolist()
    if bad:
        raise ValueError(f"{path}: fsm_eligible must be between 0 and pupils (councils {bad})")
    by_new = raw.set_index("la_code")
    row = councils["la_code"].map(lambda c: c if c in by_new.index else None)
    row = row.where(row.notna(), councils["old_la_code"].map(lambda c: c if c in by_new.index else None))
    unknown = sorted(set(raw["la_code"]) - set(row.dropna()))
    if unknown:
        raise ValueError(f"{path}: unknown la_code {unknown} (use the new_la_code or old_la_code of the SEN2 extracts)")
    aligned = by_new.reindex(row.fillna("").to_numpy())[["pupils", "fsm_eligible"]]
    aligned.index = councils.index
    aligned.attrs["path"], aligned.attrs["rows"] = path.name, len(raw)
    return aligned


def read_ehcp(path: Path, councils: pd.DataFrame) -> pd.Series:
    """Published share (0-1) of pupils with an EHC plan per council, aligned to `councils` (NaN if absent).

    The file is keyed by the 3-digit `la_code` (or `new_la_code`); values are % of pupils.
    Raises ValueError naming the file and column on bad input.
    """
    if not path.is_file():
        raise ValueError(f"EHCP file not found: {path}")
    raw = pd.read_csv(path, dtype={"la_code": str, "new_la_code": str})
    if "la_code" not in raw.columns or EHCP_FILE_COLUMN not in raw.columns:
        raise ValueError(f"{path}: needs columns la_code and {EHCP_FILE_COLUMN}")
    values = pd.to_numeric(raw[EHCP_FILE_COLUMN], errors="coerce")
    bad = raw.loc[~values.between(0, 100), "la_code"].tolist()
    if bad:
        raise ValueError(f"{path}: {EHCP_FILE_COLUMN} must be a percentage between 0 and 100 (councils {bad})")
    by_old = pd.Series(values.to_numpy() / 100.0, index=raw["la_code"].str.strip())
    unknown = sorted(set(by_old.index) - set(councils["old_la_code"]))
    if unknown:
        raise ValueError(f"{path}: unknown la_code {unknown} (use the old_la_code of the SEN2 extracts)")
    aligned = councils["old_la_code"].map(by_old)
    aligned.index = councils.index
    return aligned.astype(float)


def national_flows(sen2: Path) -> dict[str, float]:
    req = pd.read_csv(sen2 / FILES["requests_nat"], dtype=str)
    req = req[req["breakdown_topic"] == "All requests for an EHC needs assessment"].set_index("time_period")
    tim = pd.read_csv(sen2 / FILES["timeliness_nat"], dtype=str)
    tim = tim[tim["breakdown_topic"] == "All EHC plans"].set_index("time_period")
    n = {
        "requests_2025": float(req.loc["2025", "requests_received_in_year"]),
        "requests_2022": float(req.loc["2022", "requests_received_in_year"]),
        "assess_2025": float(req.loc["2025", "requests_decided_to_assess"]),
        "not_assess_2025": float(req.loc["2025", "requests_decided_not_to_assess"]),
        "issued_2025": float(tim.loc["2025", "plans_issued_den"]),
        "issued_2022": float(tim.loc["2022", "plans_issued_den"]),
        "den_ex_2025": float(tim.loc["2025", "plans_issued_den_ex"]),
        "in20_ex_2025": float(tim.loc["2025", "plans_issued_20_weeks_ex"]),
        "den_ex_2022": float(tim.loc["2022", "plans_issued_den_ex"]),
        "in20_ex_2022": float(tim.loc["2022", "plans_issued_20_weeks_ex"]),
    }
    n["refusal_2025"] = n["not_assess_2025"] / (n["assess_2025"] + n["not_assess_2025"])
    n["within20_2025"] = n["in20_ex_2025"] / n["den_ex_2025"]
    n["within20_2022"] = n["in20_ex_2022"] / n["den_ex_2022"]
    return n


def _year(df: pd.DataFrame, year: str, cols: list[str]) -> pd.DataFrame:
    sub = df[df["time_period"] == year]
    out = sub[["new_la_code", "old_la_code", "la_name"]].copy()
    for c in cols:
        out[c] = _num(sub[c])
    return out


def _attach(base: pd.DataFrame, other: pd.DataFrame, cols: list[str], tag: str) -> tuple[pd.DataFrame, list[str]]:
    """Join `other` onto `base` by new_la_code, then by old_la_code for rows whose code changed.

    Returns the frame and a note of each match made by the old code (e.g. Buckinghamshire's
    E06000060 in 2022 vs E10000002 in 2025).
    """
    notes: list[str] = []
    by_new = other.set_index("new_la_code")
    by_old = other.set_index("old_la_code")
    rows = []
    for _, b in base.iterrows():
        if b["la_code"] in by_new.index:
            rows.append(by_new.loc[b["la_code"], cols])
        elif b["old_la_code"] in by_old.index:
            r = by_old.loc[b["old_la_code"]]
            notes.append(f"{tag}: {b['la_name']} matched by old LA code {b['old_la_code']} "
                         f"({r['new_la_code']} in the source year, {b['la_code']} in 2025)")
            rows.append(r[cols])
        else:
            rows.append(pd.Series({c: np.nan for c in cols}))
    joined = pd.DataFrame(rows).reset_index(drop=True)
    joined.columns = [f"{c}_{tag}" for c in cols]
    return pd.concat([base.reset_index(drop=True), joined], axis=1), notes


# ---- the build -------------------------------------------------------------------------------

def build(sen2: Path, pupils_file: Path | None = None, ehcp_file: Path = DEFAULT_EHCP) -> tuple[pd.DataFrame, dict]:
    nat = national_flows(sen2)
    pt = pd.read_csv(sen2 / FILES["plans"], dtype=str)
    pt = pt[pt["geographic_level"] == "Local authority"]
    base = pd.DataFrame({
        "la_code": pt["new_la_code"].str.strip(), "old_la_code": pt["old_la_code"].str.strip(),
        "la_name": pt["la_name"].str.strip(), "region_name": pt["region_name"].str.strip(),
        "plans_obs": _num(pt["number_plans"]),
    }).sort_values("la_code").reset_index(drop=True)
    if base["la_code"].duplicated().any() or base["old_la_code"].duplicated().any():
        raise ValueError("phase transfers: duplicate council codes")

    req = pd.read_csv(sen2 / FILES["requests"], dtype=str)
    tim = pd.read_csv(sen2 / FILES["timeliness"], dtype=str)
    cas = pd.read_csv(sen2 / FILES["caseload"], dtype=str)
    rcols = ["requests_received_in_year", "requests_decided_to_assess", "requests_decided_not_to_assess"]
    tcols = ["plans_issued_den", "plans_issued_den_ex", "plans_issued_20_weeks_ex"]
    notes: list[str] = []
    df = base
    for tag, frame, year, cols in (("r25", req, "2025", rcols), ("r22", req, "2022", rcols),
                                   ("t25", tim, "2025", tcols), ("t22", tim, "2022", tcols),
                                   ("c23", cas, "202223", ["ehcplans"])):
        df, n = _attach(df, _year(frame, year, cols), cols, tag)
        notes += n

    # Cumbria (E10000006, 909) was abolished in April 2023: its 2022 rows are split between
    # Cumberland (942) and Westmorland and Furness (943).
    cumbria_req = req[(req["time_period"] == "2022") & (req["old_la_code"] == "909")]
    cumbria_tim = tim[(tim["time_period"] == "2022") & (tim["old_la_code"] == "909")]
    successors = df["old_la_code"].isin(["942", "943"])
    cumbria = {}
    if len(cumbria_req) == 1 and successors.sum() == 2:
        share = df.loc[successors, "requests_received_in_year_r25"] / df.loc[successors, "requests_received_in_year_r25"].sum()
        cumbria["requests_2022"] = float(_num(cumbria_req["requests_received_in_year"]).iloc[0])
        cumbria["share"] = {df.loc[i, "la_name"]: float(share[i]) for i in share.index}
        df.loc[successors, "requests_received_in_year_r22"] = (cumbria["requests_2022"] * share).round()
        if len(cumbria_tim) == 1:
            for c in tcols:  # counts split the same way (only their ratio is ever used)
                df.loc[successors, f"{c}_t22"] = _num(cumbria_tim[c]).iloc[0] * share
        notes.append("Cumbria (E10000006, 909) 2022 rows split between Cumberland (942) and Westmorland and "
                     "Furness (943) in proportion to their 2025 requests (" +
                     ", ".join(f"{k} {v:.3f}" for k, v in cumbria["share"].items()) + ")")

    out = df[["la_code", "old_la_code", "la_name", "region_name"]].copy()
    counts: dict[str, dict[str, int]] = {}
    region = df["region_name"]

    def regional_median(values: pd.Series, mask_missing: pd.Series) -> tuple[pd.Series, pd.Series]:
        """Median of observed values in the region (national median if the region has <3)."""
        filled = pd.Series(np.nan, index=values.index)
        code = pd.Series("", index=values.index, dtype=object)
        national = float(values[~mask_missing].median())
        for i in values.index[mask_missing]:
            pool = values[(region == region[i]) & ~mask_missing & values.notna()]
            if len(pool) >= 3:
                filled[i], code[i] = float(pool.median()), "imputed:regional_median"
            else:
                filled[i], code[i] = national, "imputed:national_median"
        return filled, code

    def finish(col: str, values: pd.Series, source: pd.Series) -> None:
        if values.isna().any():
            raise ValueError(f"{col}: unfilled values for {list(out.loc[values.isna(), 'la_name'])}")
        out[col] = values
        out[f"{col}_source"] = source
        out[f"{col}_imputed"] = source != "observed"
        counts[col] = source.value_counts().sort_index().to_dict()

    def observed(values: pd.Series) -> pd.Series:
        return pd.Series(np.where(values.notna(), "observed", ""), index=values.index, dtype=object)

    # -- implausible observations, treated as unavailable (see IMPLAUSIBLE) --
    implausible: list[str] = []
    zero22 = df["requests_received_in_year_r22"] == 0
    for i in df.index[zero22]:
        implausible.append(f"{df.loc[i, 'la_name']}: requests_2022 recorded as 0 -> treated as unavailable")
    df.loc[zero22, "requests_received_in_year_r22"] = np.nan
    issued_est = df["plans_issued_den_t25"].fillna(df["plans_issued_den_t22"] * nat["issued_2025"] / nat["issued_2022"])
    few = df["requests_received_in_year_r25"] < 0.5 * issued_est
    for i in df.index[few]:
        implausible.append(f"{df.loc[i, 'la_name']}: requests_2025 recorded as {df.loc[i, 'requests_received_in_year_r25']:,.0f} "
                           f"against ~{issued_est[i]:,.0f} plans issued in 2025 -> treated as unavailable")
    df.loc[few, "requests_received_in_year_r25"] = np.nan
    decisions = df["requests_decided_to_assess_r25"] + df["requests_decided_not_to_assess_r25"]
    no_refusals = (df["requests_decided_not_to_assess_r25"] == 0) & (decisions >= 50)
    for i in df.index[no_refusals]:
        implausible.append(f"{df.loc[i, 'la_name']}: 0 decisions not to assess out of {decisions[i]:,.0f} decisions in 2025 "
                           "-> refusal rate treated as unavailable")
    df.loc[no_refusals | few, ["requests_decided_to_assess_r25", "requests_decided_not_to_assess_r25"]] = np.nan

    # -- requests_2022 (needed for the 2025 fallback) --
    r22 = df["requests_received_in_year_r22"].copy()
    src = observed(r22)
    src[successors & r22.notna()] = "imputed:cumbria_2022_split"
    req_per_plan = df["requests_received_in_year_r25"] / df["plans_obs"]
    miss = r22.isna()
    if miss.any():  # regional median of requests_2022 per plan x plans (never needed with these extracts)
        ratio, code = regional_median(df["requests_received_in_year_r22"] / df["plans_obs"], miss)
        r22[miss], src[miss] = (ratio * df["plans_obs"])[miss].round(), code[miss]
    finish("requests_2022", r22, src)

    # -- requests_2025 --
    r25 = df["requests_received_in_year_r25"].copy()
    src = observed(r25)
    miss = r25.isna() & r22.notna()
    r25[miss] = (r22[miss] * nat["requests_2025"] / nat["requests_2022"]).round()
    src[miss] = "imputed:2022_scaled"
    miss = r25.isna()
    if miss.any():
        ratio, code = regional_median(req_per_plan, miss)
        r25[miss], src[miss] = (ratio * df["plans_obs"])[miss].round(), code[miss]
    finish("requests_2025", r25, src)

    # -- plans_2025 (January 2026 caseload) --
    plans = df["plans_obs"].copy()
    src = observed(plans)
    both = plans.notna() & df["ehcplans_c23"].notna()
    growth_23_26 = float(plans[both].sum() / df.loc[both, "ehcplans_c23"].sum())
    miss = plans.isna() & df["ehcplans_c23"].notna()
    plans[miss] = (df.loc[miss, "ehcplans_c23"] * growth_23_26).round()
    src[miss] = "imputed:caseload_2023_scaled"
    miss = plans.isna()
    if miss.any():  # regional median of plans per 2025 request x the council's (observed or imputed) requests
        ratio, code = regional_median(df["plans_obs"] / df["requests_received_in_year_r25"], miss)
        plans[miss], src[miss] = (ratio * out["requests_2025"])[miss].round(), code[miss]
    finish("plans_2025", plans, src)

    # -- refusal_rate_2025 --
    yes, no = df["requests_decided_to_assess_r25"], df["requests_decided_not_to_assess_r25"]
    refusal = no / (yes + no)
    src = observed(refusal)
    miss = refusal.isna()  # no council refusal rates for 2022 (decided_to_assess unavailable): regional median
    if miss.any():
        fill, code = regional_median(refusal, miss)
        refusal[miss], src[miss] = fill[miss], code[miss]
    finish("refusal_rate_2025", refusal, src)
    refusal_corr = ((no + 0.5) / (yes + no + 1.0)).where(~miss, refusal)

    # -- within_20_weeks_2025 (excluding exceptions) --
    den, in20 = df["plans_issued_den_ex_t25"], df["plans_issued_20_weeks_ex_t25"]
    w20 = in20 / den
    src = observed(w20)
    w22 = df["plans_issued_20_weeks_ex_t22"] / df["plans_issued_den_ex_t22"]
    shift = float(_logit(nat["within20_2025"]) - _logit(nat["within20_2022"]))
    miss = w20.isna() & w22.notna()
    w22c = w22.clip(0.005, 0.995)
    w20[miss] = _expit(_logit(w22c[miss]) + shift)
    src[miss] = "imputed:2022_logit_shifted"
    miss = w20.isna()
    if miss.any():
        fill, code = regional_median(in20 / den, miss)
        w20[miss], src[miss] = fill[miss], code[miss]
    finish("within_20_weeks_2025", w20, src)
    w20_clipped = w20.clip(W20_SATURATION, 1.0 - W20_SATURATION)

    # -- new_plans_2025 (plans issued in calendar 2025, incl. exceptions) --
    newp = df["plans_issued_den_t25"].copy()
    src = observed(newp)
    miss = newp.isna() & df["plans_issued_den_t22"].notna()
    newp[miss] = (df.loc[miss, "plans_issued_den_t22"] * nat["issued_2025"] / nat["issued_2022"]).round()
    src[miss] = "imputed:2022_scaled"
    miss = newp.isna()
    if miss.any():  # regional median of new plans per plan x the council's plans_2025
        ratio, code = regional_median(df["plans_issued_den_t25"] / out["plans_2025"], miss)
        newp[miss], src[miss] = (ratio * out["plans_2025"])[miss].round(), code[miss]
    finish("new_plans_2025", newp, src)

    # -- appeal_rate_2025 --
    app = read_appeals(sen2 / FILES["appeals"])
    nat_app = app.attrs["national"]
    unmatched = set(app["old_la_code"]) ^ set(df["old_la_code"])
    if unmatched:
        raise ValueError(f"appeals table and council list differ in old LA codes: {sorted(unmatched)}")
    a = df[["old_la_code"]].merge(app, on="old_la_code", how="left")
    rate = a["appeals_2025"] / a["decisions_2025"]
    src = observed(rate)
    rate24 = a["appeals_2024"] / a["decisions_2024"]
    ratio_24_25 = (nat_app["appeals_2025"] / nat_app["decisions_2025"]) / (nat_app["appeals_2024"] / nat_app["decisions_2024"])
    miss = rate.isna() & rate24.notna()
    rate[miss] = rate24[miss] * ratio_24_25
    src[miss] = "imputed:2024_scaled"
    miss = rate.isna()
    if miss.any():
        fill, code = regional_median(a["appeals_2025"] / a["decisions_2025"], miss)
        rate[miss], src[miss] = fill[miss], code[miss]
    finish("appeal_rate_2025", rate, src)
    obs_app = a["appeals_2025"].notna() & a["decisions_2025"].notna()
    appeal_corr = ((a["appeals_2025"] + 0.5) / (a["decisions_2025"] + 1.0)).where(obs_app, rate)

    # -- special_share (share of the council's plans placed in special schools) --
    # caseload_la_total.csv is partial (67 councils): each council's latest period with a value.
    sp = cas[(cas["breakdown_topic"] == "All EHC plans") & (cas["geographic_level"] == "Local authority")]
    sp = pd.DataFrame({
        "new_la_code": sp["new_la_code"].str.strip(), "old_la_code": sp["old_la_code"].str.strip(),
        "la_name": sp["la_name"].str.strip(), "time_period": sp["time_period"].str.strip(),
        "special_pc": _num(sp["special_total_pc"]),
    })
    sp = sp[sp["special_pc"].notna()].sort_values(["new_la_code", "time_period"]).groupby("new_la_code").tail(1)
    if sp["old_la_code"].duplicated().any():
        raise ValueError(f"{FILES['caseload']}: a council appears under two new LA codes")
    spj, n = _attach(df[["la_code", "old_la_code", "la_name"]], sp, ["special_pc", "time_period"], "special")
    notes += n
    special = spj["special_pc_special"].astype(float) / 100.0
    special_period = spj["time_period_special"]
    src = observed(special)
    miss = special.isna()
    if miss.any():
        fill, code = regional_median(special, miss)
        special[miss], src[miss] = fill[miss], code[miss]
    finish("special_share", special, src)
    special_obs = ~miss

    # -- mark values that replace an implausible recorded value --
    flagged = {"requests_2022": zero22, "requests_2025": few, "refusal_rate_2025": no_refusals | few}
    for col, mask in flagged.items():
        out.loc[mask, f"{col}_source"] = out.loc[mask, f"{col}_source"] + ";recorded_value_implausible"
        counts[col] = out[f"{col}_source"].value_counts().sort_index().to_dict()

    # -- pupils_est and fsm_share (from the optional pupils file; otherwise imputed for every council) --
    supplied = read_pupils(pupils_file, df) if pupils_file is not None else None
    has = supplied["pupils"].notna() if supplied is not None else pd.Series(False, index=out.index)
    size = out["requests_2025"] + out["new_plans_2025"]
    pupils = pd.Series(np.nan, index=out.index)
    src = pd.Series("imputed:apportioned_8.1m", index=out.index, dtype=object)
    pupils_scale = 1.0
    if has.any():
        pupils[has] = supplied.loc[has, "pupils"]
        src[has] = "observed"
    if has.all() and pupils.sum() > SCHOOL_AGE_PUPILS:  # an all-phases census table: one factor to Reception-Year 11
        pupils_scale = SCHOOL_AGE_PUPILS / float(pupils.sum())
        pupils = _apportion(pupils, SCHOOL_AGE_PUPILS)
        src[:] = "observed:scaled_to_reception_y11"
    if (~has).any():  # the rest of England's 8.1m, in proportion to activity
        pupils[~has] = _apportion(size[~has], max(SCHOOL_AGE_PUPILS - int(pupils[has].sum()), int((~has).sum())))
    finish("pupils_est", pupils.astype(float), src)
    out["pupils_est_imputed"] = ~src.str.startswith("observed")

    if has.any():
        fsm = supplied["fsm_eligible"] / supplied["pupils"]
        fsm_fill, fsm_code = regional_median(fsm, ~has)
        fsm_src = observed(fsm.where(has)).where(has, fsm_code)
        finish("fsm_share", fsm.where(has, fsm_fill), fsm_src)
    else:
        finish("fsm_share", pd.Series(ENGLAND_FSM_SHARE, index=out.index),
               pd.Series("imputed:england_share", index=out.index, dtype=object))
    nat_fsm = float(np.average(out["fsm_share"], weights=out["pupils_est"]))

    # -- ehcp_share_2025 (published % of pupils with an EHC plan: a council target, not a model input) --
    published = read_ehcp(ehcp_file, df)
    ehcp_fill, ehcp_code = regional_median(published, published.isna())
    finish("ehcp_share_2025", published.fillna(ehcp_fill), observed(published).where(published.notna(), ehcp_code))

    # -- indices --
    def derived(*cols: str) -> tuple[pd.Series, np.ndarray]:
        imputed = np.zeros(len(out), dtype=bool)
        for c in cols:
            imputed |= out[f"{c}_imputed"].to_numpy()
        return pd.Series("derived", index=out.index, dtype=object), imputed

    nat_refusal = nat["refusal_2025"]
    nat_w20 = nat["within20_2025"]
    nat_appeal = nat_app["appeals_2025"] / nat_app["decisions_2025"]
    nat_req_per_plan = float(out["requests_2025"].sum() / out["plans_2025"].sum())
    # plans-weighted (plans_2025) special share of the councils with an observed share
    nat_special = float(np.average(out.loc[special_obs, "special_share"], weights=out.loc[special_obs, "plans_2025"]))
    special_raw = out["special_share"] / nat_special

    indices = {
        "ep_capacity_index": (np.exp(EP_ELASTICITY * (_logit(w20_clipped) - _logit(nat_w20))), ("within_20_weeks_2025",)),
        "gatekeeping_index": (_logit(refusal_corr) - _logit(nat_refusal), ("refusal_rate_2025",)),
        "demand_index": ((out["requests_2025"] / out["plans_2025"]) / nat_req_per_plan, ("requests_2025", "plans_2025")),
        "appeal_index": (appeal_corr / nat_appeal, ("appeal_rate_2025",)),
        "special_places_index": (special_raw.clip(*SPECIAL_INDEX_CLIP), ("special_share",)),
        "deprivation_index": (_logit(out["fsm_share"].clip(0.01, 0.99)) - _logit(nat_fsm), ("fsm_share",)),
    }
    for col, (values, inputs) in indices.items():
        s, imputed = derived(*inputs)
        out[col] = pd.Series(values, index=out.index).astype(float)
        out[f"{col}_source"] = s
        out[f"{col}_imputed"] = imputed
        counts[col] = {"derived (all inputs observed)": int((~imputed).sum()), "derived from an imputed input": int(imputed.sum())}

    # -- rounding (fixes the bytes of the CSV) --
    for c in ("plans_2025", "requests_2025", "requests_2022", "new_plans_2025", "pupils_est"):
        out[c] = out[c].round().astype(int)
    for c in ("refusal_rate_2025", "within_20_weeks_2025", "appeal_rate_2025", "special_share", "fsm_share", "ehcp_share_2025"):
        out[c] = out[c].round(6)
    for c in indices:
        out[c] = out[c].round(5)
    order = KEY_COLUMNS + [x for c in VALUE_COLUMNS for x in (c, f"{c}_source", f"{c}_imputed")]
    out = out[order]

    cnat = pd.read_csv(sen2 / FILES["caseload_nat"], dtype=str)
    cnat = cnat[cnat["breakdown_topic"] == "All EHC plans"].set_index("time_period")
    by_region = {}
    for reg in sorted(out["region_name"].unique()):
        in_reg = out["region_name"] == reg
        fills = in_reg & ~special_obs
        by_region[reg] = {"observed": int((in_reg & special_obs).sum()), "imputed": int(fills.sum()),
                          "codes": sorted(set(out.loc[fills, "special_share_source"])),
                          "fill": sorted(set(out.loc[fills, "special_share"]))}
    jan23 = special_obs & (special_period == "202223") & df["ehcplans_c23"].notna()
    meta_special = {
        "nat_special": nat_special,
        "national_median": float(out.loc[special_obs, "special_share"].median()),
        "periods_total": int(special_obs.sum()),
        "periods": special_period[special_obs].value_counts().sort_index().to_dict(),
        "period_names": {p: sorted(out.loc[special_obs & (special_period == p), "la_name"])
                         for p in special_period[special_obs].unique()},
        "by_region": by_region,
        "clipped": sorted(f"{n} ({v:.2f} -> {min(max(v, SPECIAL_INDEX_CLIP[0]), SPECIAL_INDEX_CLIP[1]):.2f})"
                          for n, v in zip(out["la_name"], special_raw)
                          if not SPECIAL_INDEX_CLIP[0] <= v <= SPECIAL_INDEX_CLIP[1]),
        "national_pc": {p: float(cnat.loc[p, "special_total_pc"]) for p in ("202223", "202425") if p in cnat.index},
        # councils observed in January 2023, weighted by their January 2023 plans (comparable with England's 202223 row)
        "jan23_pooled": float(np.average(out.loc[jan23, "special_share"], weights=df.loc[jan23, "ehcplans_c23"])),
        "jan23_n": int(jan23.sum()),
    }

    meta = {
        "pupils_file": None if supplied is None else {"name": supplied.attrs["path"], "rows": supplied.attrs["rows"],
                                                      "matched": int(has.sum()), "scale": pupils_scale,
                                                      "pupils": float(supplied["pupils"].sum()),
                                                      "fsm_eligible": float(supplied["fsm_eligible"].sum())},
        "ehcp_file": ehcp_file.name,
        "nat_fsm": nat_fsm,
        "national": nat, "special": meta_special, "nat_appeal": nat_app, "nat_req_per_plan": nat_req_per_plan,
        "growth_23_26": growth_23_26, "implausible": implausible, "w20_shift": shift, "appeal_ratio_24_25": ratio_24_25,
        "counts": counts, "notes": notes, "plans_observed_sum": float(df["plans_obs"].sum()),
        "requests_observed_sum": float(df["requests_received_in_year_r25"].sum()),
        "issued_observed_sum": float(df["plans_issued_den_t25"].sum()),
        "imputed_names": {c: sorted(f"{n} ({s.split(':', 1)[1]})" for n, s in zip(out["la_name"], out[f"{c}_source"])
                              if s.startswith("imputed") and c != "pupils_est")
                          for c in VALUE_COLUMNS[:7]},
    }
    return out, meta


def _apportion(size: pd.Series, total: int) -> pd.Series:
    """Integer apportionment of `total` in proportion to `size` (largest remainder, ties by order)."""
    exact = size / size.sum() * total
    floor = np.floor(exact)
    short = int(total - floor.sum())
    order = np.argsort(-(exact - floor).to_numpy(), kind="stable")
    floor.iloc[order[:short]] += 1
    return floor


# ---- the provenance note ---------------------------------------------------------------------

def _fmt_counts(c: dict) -> str:
    return "; ".join(f"{k}: {v}" for k, v in c.items())


def provenance(out: pd.DataFrame, meta: dict) -> str:
    nat = meta["national"]
    na = meta["nat_appeal"]
    sp = meta["special"]
    sp_periods = "; ".join(f"{_period_label(p)} ({p}): {n}" for p, n in sp["periods"].items())
    w = out["plans_2025"]

    def wmean(col: str) -> float:
        return float(np.average(out[col], weights=w))

    def rng(col: str, digits: int = 2) -> str:
        q = out[col].quantile([0.05, 0.5, 0.95])
        return (f"min {out[col].min():.{digits}f}, 5% {q.iloc[0]:.{digits}f}, median {q.iloc[1]:.{digits}f}, "
                f"95% {q.iloc[2]:.{digits}f}, max {out[col].max():.{digits}f}; plan-weighted mean {wmean(col):.3f}")

    plan_rate = out["plans_2025"] / out["pupils_est"] * 1000
    big = out.nlargest(3, "pupils_est")
    small = out.nsmallest(3, "pupils_est")
    alt = _alternative_dispersion(out)
    pf = meta["pupils_file"]
    lines = [
        "# sim/data/councils.csv — provenance",
        "",
        "Generated by `scripts/build_council_table.py` (do not edit by hand; rerun the script — the test",
        "suite checks that it reproduces this file and the CSV byte-for-byte). Loader:",
        "`sim.config.council_table.load_council_table()`.",
        "",
        "## Sources",
        "",
        "DfE, *Education, health and care plans* (reporting year 2026), Open Government Licence, as",
        "extracted in the project's shared data folder `sen2/` (original headers; `x` = unavailable,",
        "`z` = not applicable). https://explore-education-statistics.service.gov.uk/find-statistics/education-health-and-care-plans",
        "",
        "- `phase_transfers_all_levels.csv` — council list (153 upper-tier councils, key `new_la_code`),",
        "  region, and `number_plans` (caseload).",
        "- `requests_la_total.csv` — requests and decisions, calendar years 2022 and 2025.",
        "- `timeliness_20_week_la_total.csv` — plans issued and 20-week timeliness, calendar years 2022 and 2025.",
        "- `caseload_la_total.csv` — partial: 67 councils. Used for the January 2023 caseload (only to impute a",
        "  missing caseload) and for `special_total_pc` (share of plans placed in special schools), taking each",
        f"  council's latest period with a value ({sp_periods}).",
        "- `SEND_appealable_decisions_rate_2024-2025.csv` — MoJ/DfE appeal rate to the SEND Tribunal",
        "  (HMCTS appeals / SEN2 appealable decisions), calendar years 2024 and 2025, keyed by old LA code.",
        "- `requests_national.csv`, `timeliness_20_week_national.csv`, `caseload_national.csv` — national totals used for",
        "  national reference values and year-on-year scaling.",
        "",
        "## Columns",
        "",
        "Rates are fractions (0-1), counts are integers. Every value column `X` has `X_source` (a code,",
        "below) and `X_imputed` (True iff the value is not directly observed for that council, including",
        "indices derived from an imputed input).",
        "",
        "| column | meaning |",
        "|---|---|",
        "| `la_code` | key: `new_la_code` (ONS GSS code as in the phase-transfers file; North Yorkshire and Somerset keep their pre-2023 county codes E10000023 / E10000027 there) |",
        "| `old_la_code` | DfE 3-digit LA code (the appeal-rate table's key) |",
        "| `la_name`, `region_name` | from the phase-transfers file |",
        "| `plans_2025` | EHC plans (ages 0-25) maintained by the council: `number_plans` of `phase_transfers_all_levels.csv`, **period: the 2026 collection, i.e. the caseload at January 2026 (202526)** — confirmed by Somerset, whose `caseload_la_total.csv` row for 202526 (6,350) equals its `number_plans`, and by the total (see checks). The name keeps the flow year it closes (end of calendar 2025). |",
        "| `requests_2025`, `requests_2022` | requests for an EHC needs assessment received in calendar 2025 / 2022 (`requests_received_in_year`) |",
        "| `refusal_rate_2025` | `requests_decided_not_to_assess / (requests_decided_to_assess + requests_decided_not_to_assess)`, calendar 2025 (all ages; undecided and withdrawn requests excluded) |",
        "| `within_20_weeks_2025` | `plans_issued_20_weeks_ex / plans_issued_den_ex`: share of plans issued in calendar 2025 within 20 weeks, excluding exceptions |",
        "| `new_plans_2025` | `plans_issued_den` of the timeliness file: plans issued in calendar 2025 (including exceptions) — the stand-in for new plans per council (`newplans_la_total.csv` has only two rows) |",
        "| `appeal_rate_2025` | appeals registered / total appealable decisions, calendar 2025 |",
        ("| `pupils_est` | Reception-Year 11 pupils, January 2025 — **IMPUTED for every council; not in the data** (method below) |"
         if pf is None else
         (f"| `pupils_est` | Reception-Year 11 pupils, January: `pupils` of the pupils file `{pf['name']}` for the {pf['matched']} councils it covers; the rest imputed (method below) |"
          if pf["matched"] < len(out) else
          f"| `pupils_est` | pupils, January 2025, from the DfE school census (`{pf['name']}`: all phases of state-funded schools), "
          f"x {pf['scale']:.5f} so that England sums to the model's 8.1m Reception-Year 11 pupils (observed for every council; below) |")),
        f"| `ep_capacity_index` | EP assessment capacity relative to the council's own assessment workload, England = 1: `(odds(w) / odds(w_England)) ** {EP_ELASTICITY}` with `w` = `within_20_weeks_2025` clipped to [0.02, 0.98] (saturation: the data cannot rank councils beyond these) and `w_England` = {nat['within20_2025']:.4f} |",
        f"| `gatekeeping_index` | **additive, England = 0** (log-odds): `logit(r) - logit(r_England)` with `r` = `refusal_rate_2025` (continuity-corrected) and `r_England` = {nat['refusal_2025']:.4f} |",
        f"| `demand_index` | requests per plan relative to England, England = 1: `(requests_2025 / plans_2025) / {meta['nat_req_per_plan']:.5f}` (the pooled ratio over all councils, since no national January 2026 caseload is in the data) |",
        f"| `appeal_index` | appeal rate relative to England, England = 1: `((appeals + 0.5) / (decisions + 1)) / {na['appeals_2025'] / na['decisions_2025']:.5f}` (England Total row, 26,977 / 405,735) |",
        "| `special_share` | share of the council's EHC plans (all ages 0-25) placed in special schools (state and independent): "
        "`special_total_pc / 100` of `caseload_la_total.csv`, **the council's latest period with a value** "
        f"({sp_periods}); **observed for {sp['periods_total']} councils only, imputed for the rest** (rules below) |",
        f"| `special_places_index` | special-school use relative to England, England = 1: `special_share / {sp['nat_special']:.5f}` "
        f"(the plans_2025-weighted mean `special_share` of the {sp['periods_total']} observed councils), clipped to "
        f"[{SPECIAL_INDEX_CLIP[0]}, {SPECIAL_INDEX_CLIP[1]}] |",
        ("| `fsm_share` | share of Reception-Year 11 pupils eligible for free school meals — **England's 26% (T149) for "
         "every council: the extracts have no council FSM figures** (supply them with `--pupils`) |"
         if pf is None else
         f"| `fsm_share` | share of pupils eligible for free school meals, January: `fsm_eligible / pupils` of `{pf['name']}`; "
         "councils it does not cover get their region's median (national median if the region has <3) |"),
        f"| `ehcp_share_2025` | published share of pupils (all schools) with an EHC plan, January 2025: `{EHCP_FILE_COLUMN} / 100` "
        f"of `{meta['ehcp_file']}` (DfE Local Authority Interactive Tool, rounded to 0.1 percentage point); a council-level "
        "validation target, **not a model input** |",
        f"| `deprivation_index` | **additive, England = 0** (log-odds): `logit(fsm_share) - logit({meta['nat_fsm']:.4f})`, the "
        "pupil-weighted England share of the table; the model shifts each council's FSM log-odds by it, so deprived "
        "councils have more FSM families, more latent need and lower attainment |",
        "",
        "## Source codes and imputation rules",
        "",
        "| code | rule |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {v} |" for k, v in RULES.items()]
    lines += [
        "",
        "Rule order per column (the first that applies):",
        "",
        f"- `requests_2025`: observed -> 2022 value x {nat['requests_2025']:,.0f} / {nat['requests_2022']:,.0f} "
        f"(= {nat['requests_2025'] / nat['requests_2022']:.4f}, national) -> regional median of requests per plan x plans.",
        "- `requests_2022`: observed (matched by `new_la_code`, else by `old_la_code`) -> Cumbria split -> "
        "regional median of 2022 requests per plan x plans.",
        f"- `plans_2025`: observed -> January 2023 caseload x {meta['growth_23_26']:.4f} (pooled growth of the councils "
        "with both) -> regional median of plans per 2025 request x requests_2025.",
        "- `refusal_rate_2025`: observed -> regional median (council 2022 refusal rates cannot be computed: "
        "`requests_decided_to_assess` is unavailable for 2022).",
        f"- `within_20_weeks_2025`: observed -> 2022 rate shifted by logit({nat['within20_2025']:.4f}) - "
        f"logit({nat['within20_2022']:.4f}) = {meta['w20_shift']:+.4f} -> regional median.",
        f"- `new_plans_2025`: observed -> 2022 plans issued x {nat['issued_2025']:,.0f} / {nat['issued_2022']:,.0f} "
        f"(= {nat['issued_2025'] / nat['issued_2022']:.4f}) -> regional median of plans issued per plan x plans_2025.",
        f"- `appeal_rate_2025`: observed -> 2024 rate x {meta['appeal_ratio_24_25']:.4f} -> regional median.",
        "- `special_share`: observed (latest period; matched by `new_la_code`, else by `old_la_code`) -> regional median "
        "of the observed shares (if the region has >= 3 observed councils) -> national median of the observed shares "
        f"({sp['national_median']:.4f}). No other council-level placement data is in the folder.",
        "- `pupils_est`: the pupils file (`--pupils`), if given and the council is in it -> apportioned share of England's "
        "8.1m (less the pupils the file gives) by `requests_2025 + new_plans_2025`. A file covering every council whose "
        "England total exceeds 8.1m (an all-phases census) is scaled to 8.1m by one factor (`observed:scaled_to_reception_y11`).",
        "- `fsm_share`: the pupils file's `fsm_eligible / pupils` -> regional median of those (national median if the "
        "region has <3) -> with no pupils file, England's 26% for every council (`imputed:england_share`).",
        "- indices: derived from the (possibly imputed) columns above; `_imputed` marks those with an imputed input.",
        "",
        "### How many values each rule filled (of 153 councils)",
        "",
    ]
    for c, cnt in meta["counts"].items():
        lines.append(f"- `{c}`: {_fmt_counts(cnt)}")
    lines += ["", "Imputed values by council:", ""]
    for c, names in meta["imputed_names"].items():
        if names:
            lines.append(f"- `{c}`: " + ", ".join(names))
    lines += ["", "`special_share` by region (observed councils / imputed councils and the value they get):", ""]
    for reg, r in sp["by_region"].items():
        fill = "" if not r["imputed"] else (" -> " + ", ".join(c.split(":", 1)[1] for c in r["codes"]) + " "
                                             + ", ".join(f"{v:.4f}" for v in r["fill"]))
        lines.append(f"- {reg}: {r['observed']} observed / {r['imputed']} imputed{fill}")
    lines += ["", "Councils with an observed `special_share`, by period:", ""]
    for p_, names in sorted(sp["period_names"].items()):
        lines.append(f"- {_period_label(p_)} ({p_}): " + ", ".join(names))
    lines += ["", "### Recorded values treated as unavailable (plausibility rules)", ""]
    lines += [f"- rule `{k}`: {v}" for k, v in IMPLAUSIBLE.items()]
    lines += ["", "Applied to:", ""]
    lines += [f"- {n}" for n in meta["implausible"]]
    lines += ["", "### Matching councils across years (reorganisations)", ""]
    lines += [f"- {n}" for n in meta["notes"]]
    lines += [
        "- North Yorkshire (unitary from April 2023, same footprint as the county) and Somerset (likewise)",
        "  carry the same code in both years of these extracts (E10000023, E10000027), so they match directly.",
        "- North and West Northamptonshire (2021) and Bournemouth, Christchurch and Poole / Dorset (2019)",
        "  already exist in 2022. The appeal table's footnote digits in names (e.g. `North Northamptonshire7`)",
        "  are ignored: it is matched on the old LA code, and all 153 codes match.",
        "",
        *(_observed_pupils_section(out, meta) if pf is not None and pf["matched"] == len(out) else []),
        "## pupils_est: how the pupils are imputed (and why)",
        "",
        *([] if pf is None else [
            f"**Pupils file used: `{pf['name']}` ({pf['rows']} rows; {pf['matched']} councils have observed pupils and FSM "
            "share).** What follows applies only to the councils it does not cover.", ""]),
        "The extracts contain no pupil counts. England's 8.1m Reception-Year 11 pupils (January 2025;",
        "`SCHOOL_AGE_PUPILS` in `sim/calibration/targets.py`) are apportioned in proportion to each",
        "council's `requests_2025 + new_plans_2025` (largest-remainder rounding, so the column sums to",
        "exactly 8,100,000).",
        "",
        "Why flows and not the caseload: apportioning by `plans_2025` would give every council the",
        "national EHCP rate and erase the heterogeneity of the stock entirely. Apportioning by the",
        "year's flows (both mostly school-age: ~78% of requests and ~83% of new plans are Reception-Year 11 ages)",
        "keeps the council's stock-to-flow ratio as its EHCP-rate signal, and the indices above do not",
        "use pupils at all. The cost: under this imputation each council's combined request + new-plan",
        "rate per pupil is the same everywhere, and a council that is high on *everything* (stock and",
        "flows) looks like a bigger council with average rates, so true EHCP-rate dispersion is",
        "understated where stock and flows are correlated. Treat `pupils_est` as a size measure for",
        "scaling simulated councils, not as an observation.",
        "",
        f"Resulting plans (0-25, Jan 2026) per 1,000 imputed pupils: {rng_series(plan_rate)} "
        f"(England {out['plans_2025'].sum() / SCHOOL_AGE_PUPILS * 1000:.1f}).",
        "Dispersion of log(plans per pupil) under alternative apportionments (sd across councils):",
        "",
    ]
    lines += [f"- {k}: {v:.3f}" for k, v in alt.items()]
    lines += [
        "",
        "Largest councils by imputed pupils: " + ", ".join(f"{r.la_name} {r.pupils_est:,}" for r in big.itertuples()) + ".",
        "Smallest: " + ", ".join(f"{r.la_name} {r.pupils_est:,}" for r in small.itertuples()) +
        " (City of London and the Isles of Scilly are tiny; their rates rest on a few dozen cases).",
        "",
        "## Model-facing indices: how to use them",
        "",
        "- `ep_capacity_index` multiplies EP capacity *relative to the council's assessment workload*. To set",
        "  `assessment.ep_hours_per_month_per_1000_pupils` per council, multiply the national value by",
        "  `ep_capacity_index` and by the council's assessment workload per pupil relative to England",
        "  (in the model that workload follows from its own request rate, refusal rate and pupils).",
        f"  The elasticity {EP_ELASTICITY} is an **assumption**: timeliness is a steep function of capacity/demand",
        "  near balance (a backlog either clears or grows), so a large spread in timeliness (5%-100%) means",
        "  a moderate spread in capacity. Calibrate it against the model's own response if possible.",
        "- `gatekeeping_index` is in log-odds of refusal: add `gatekeeping_index / decisions.gatekeeping_effect`",
        "  to `finance.gatekeeping_base` (or the index itself to `decisions.refusal_intercept`). It is",
        "  centred on 0, not 1.",
        "- `demand_index` scales request propensity per existing plan; `appeal_index` scales the appeal",
        "  probability.",
        "- `special_places_index` scales the council's state special places (on top of `ehcp_index`, since",
        "  places follow plans) and the share of its start-census plans placed in special schools",
        "  (`sim/population/build.py`). For the imputed councils it is a regional or national median,",
        "  i.e. no council-specific information (see the caveats).",
        "",
        "Ranges across the 153 councils:",
        "",
        f"- `ep_capacity_index`: {rng('ep_capacity_index')}",
        f"- `gatekeeping_index`: {rng('gatekeeping_index')}",
        f"- `demand_index`: {rng('demand_index')}",
        f"- `appeal_index`: {rng('appeal_index')}",
        f"- `special_places_index`: {rng('special_places_index')}; observed councils only: "
        f"{_rng_index(out.loc[~out['special_share_imputed'], 'special_places_index'])}; clipped: "
        + (", ".join(sp["clipped"]) or "none"),
        "",
        "## Checks against the national files",
        "",
        f"- `requests_2025`: councils sum to {out['requests_2025'].sum():,} (observed rows {meta['requests_observed_sum']:,.0f}) "
        f"vs {nat['requests_2025']:,.0f} national ({out['requests_2025'].sum() / nat['requests_2025'] - 1:+.2%}). "
        "The national figure counts what councils recorded (Leicester's implausible 199; the Isle of Wight's "
        "suppressed return, apparently the 138 by which the national total exceeds the council rows); "
        "here both are imputed at levels consistent with their earlier years and caseloads.",
        f"- `requests_2022`: {out['requests_2022'].sum():,} vs {nat['requests_2022']:,.0f} national "
        f"({out['requests_2022'].sum() / nat['requests_2022'] - 1:+.2%}).",
        f"- `new_plans_2025`: {out['new_plans_2025'].sum():,} (observed rows {meta['issued_observed_sum']:,.0f}) vs "
        f"{nat['issued_2025']:,.0f} plans issued nationally in the timeliness file "
        f"({out['new_plans_2025'].sum() / nat['issued_2025'] - 1:+.2%}); the newplans file counts 110,708 new plans.",
        f"- `plans_2025`: {out['plans_2025'].sum():,} (observed rows {meta['plans_observed_sum']:,.0f}). The data folder has no",
        "  national January 2026 caseload; the total is "
        f"{out['plans_2025'].sum() / 638_745 - 1:+.1%} on January 2025's 638,745 (growth was +10.8% in 2024-25).",
        f"- `special_share`: the {sp['jan23_n']} councils observed in January 2023, weighted by their January 2023 plans, "
        f"place {sp['jan23_pooled']:.1%} of plans in special schools vs {sp['national_pc'].get('202223', float('nan')):.1f}% for "
        f"England in January 2023 (`caseload_national.csv`), so the observed councils are close to representative in "
        f"level. England's share fell to {sp['national_pc'].get('202425', float('nan')):.1f}% by January 2025: the index is "
        "relative, so the level drift does not enter it.",
        "",
        "## Caveats",
        "",
        ("- **Pupils are imputed** (above); any per-pupil council rate inherits that assumption."
         if pf is None or pf["matched"] < len(out) else
         "- Pupils are observed but cover all phases of state-funded schools; the one England-wide factor to "
         "Reception-Year 11 ignores councils' different shares of nursery and sixth-form pupils (a few per cent)."),
        "- **Timeliness is a stand-in for EP capacity**: 20-week performance also reflects health and",
        "  social-care advice, panel practice, data recording and exceptions; the elasticity is assumed.",
        "- `plans_2025` is January 2026 while the model's start census is January 2025; scale by",
        "  638,745 / total if the January 2025 level is wanted.",
        "- All rates are for all ages (0-25); the model's pupils are Reception-Year 11.",
        "- Single-year council rates are noisy for small councils; `gatekeeping_index` and `appeal_index`",
        "  use a +0.5/+1 continuity correction so that 0% and 100% stay finite, and `ep_capacity_index`",
        "  clips timeliness to [2%, 98%]; no other shrinkage is applied (City of London, the Isles of Scilly",
        "  and Rutland rest on very few cases).",
        "- Some recorded values fail plausibility rules and are replaced (listed above); other oddities are",
        "  kept as recorded, e.g. councils issuing 100% of plans within 20 weeks (Barnet, Wandsworth,",
        "  Windsor and Maidenhead, Bracknell Forest: average 11-18 weeks, so plausible) and large",
        "  year-on-year swings.",
        "- Council data quality: DfE footnotes flag the Isle of Wight (calendar 2025 suppressed), placement",
        "  errors for Brighton and Hove and Wolverhampton, incomplete placements for Cambridgeshire and",
        "  North East Lincolnshire (their 2025 placements are not used here: none of them has an observed",
        "  `special_share` after January 2023), and aggregate-only returns for some councils in earlier years.",
        f"- **`special_share` is observed for {sp['periods_total']} of 153 councils**: four regions (East Midlands, East of",
        "  England, West Midlands, Yorkshire and The Humber) have no observed council and get the national median,",
        "  and most of the North West and London are filled by their regional medians, so within those groups",
        "  `special_places_index` carries no council variation. The observed shares are mostly January 2023",
        "  (Somerset's is January 2026) while `plans_2025` is January 2026; council shares may have moved since.",
        "- `special_share` counts all plans aged 0-25 (including early years and post-16 placements), not only",
        "  Reception-Year 11 pupils; tiny councils are noisy (the Isles of Scilly: 1 of 15 plans, clipped).",
        "- Councils reorganised between 2022 and 2025: Cumbria split (2022 values apportioned, above),",
        "  Buckinghamshire's code changed (matched by old code), North Yorkshire and Somerset became unitary",
        "  on unchanged footprints.",
        "",
    ]
    return "\n".join(lines)


def _observed_pupils_section(out: pd.DataFrame, meta: dict) -> list[str]:
    """The provenance note's account of observed council pupils and FSM shares (a full pupils file)."""
    pf = meta["pupils_file"]
    plan_rate = out["plans_2025"] / out["pupils_est"] * 1000
    big, small = out.nlargest(3, "pupils_est"), out.nsmallest(3, "pupils_est")
    fsm = out["fsm_share"]
    return [
        "## pupils_est and fsm_share: observed for every council",
        "",
        f"From the DfE school census, January 2025 (`{pf['name']}`, {pf['rows']} rows; every council matched):",
        f"England {pf['pupils']:,.0f} pupils and {pf['fsm_eligible']:,.0f} eligible for free school meals "
        f"({pf['fsm_eligible'] / pf['pupils']:.2%}). The census counts all phases of state-funded schools (nursery,",
        "primary, secondary, alternative provision, special); the model's pupils are Reception-Year 11 (8.1m), so",
        f"every council's headcount is multiplied by the same factor {pf['scale']:.5f} (largest-remainder rounding,",
        "so the column sums to exactly 8,100,000). `fsm_share` is `fsm_eligible / pupils` of the file, unscaled.",
        "",
        f"- `fsm_share` across councils: min {fsm.min():.1%} ({out.loc[fsm.idxmin(), 'la_name']}), median {fsm.median():.1%}, "
        f"max {fsm.max():.1%} ({out.loc[fsm.idxmax(), 'la_name']}); pupil-weighted England {meta['nat_fsm']:.2%}.",
        f"- Plans (0-25, January 2026) per 1,000 pupils: {rng_series(plan_rate)} "
        f"(England {out['plans_2025'].sum() / SCHOOL_AGE_PUPILS * 1000:.1f}).",
        "- Largest councils: " + ", ".join(f"{r.la_name} {r.pupils_est:,}" for r in big.itertuples()) + "; smallest: "
        + ", ".join(f"{r.la_name} {r.pupils_est:,}" for r in small.itertuples())
        + " (their rates rest on a few dozen cases).",
        "",
        "The section below describes the fallback used only when a pupils file is missing or partial.",
        "",
    ]


def _period_label(period: str) -> str:
    """'202223' -> 'January 2023' (caseload periods are academic years; the census is in January)."""
    return f"January {int(period[:4]) + 1}"


def _rng_index(s: pd.Series) -> str:
    q = s.quantile([0.05, 0.5, 0.95])
    return f"min {s.min():.2f}, 5% {q.iloc[0]:.2f}, median {q.iloc[1]:.2f}, 95% {q.iloc[2]:.2f}, max {s.max():.2f}"


def rng_series(s: pd.Series) -> str:
    q = s.quantile([0.05, 0.5, 0.95])
    return f"min {s.min():.1f}, 5% {q.iloc[0]:.1f}, median {q.iloc[1]:.1f}, 95% {q.iloc[2]:.1f}, max {s.max():.1f}"


def _alternative_dispersion(out: pd.DataFrame) -> dict[str, float]:
    def sd(size: pd.Series) -> float:
        pupils = size / size.sum()
        return float(np.log(out["plans_2025"] / pupils).std())
    return {
        "apportioned by plans_2025 (rejected: no heterogeneity)": sd(out["plans_2025"].astype(float)),
        "apportioned by requests_2025": sd(out["requests_2025"].astype(float)),
        "apportioned by new_plans_2025": sd(out["new_plans_2025"].astype(float)),
        "apportioned by requests_2025 + new_plans_2025 (used)": sd((out["requests_2025"] + out["new_plans_2025"]).astype(float)),
    }


def write(out: pd.DataFrame, meta: dict, csv_path: Path) -> Path:
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(csv_path, index=False, lineterminator="\n")
    md_path = csv_path.with_name(csv_path.stem + "_PROVENANCE.md")
    md_path.write_text(provenance(out, meta), encoding="utf-8")
    return md_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sen2", type=Path, default=DEFAULT_SEN2, help="folder of the SEN2 extracts")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write (the provenance note goes alongside)")
    parser.add_argument("--pupils", type=Path, default=DEFAULT_PUPILS,
                        help="CSV of council pupils and FSM eligibility (la_code, pupils, fsm_eligible); "
                             "default: the packaged DfE census table")
    parser.add_argument("--no-pupils", action="store_true",
                        help="build without council pupils and FSM figures (pupils imputed, England's FSM share)")
    parser.add_argument("--ehcp", type=Path, default=DEFAULT_EHCP,
                        help=f"CSV of the published % of pupils with an EHC plan per council (la_code, {EHCP_FILE_COLUMN})")
    args = parser.parse_args(argv)
    if not args.sen2.is_dir():
        print(f"SEN2 folder not found: {args.sen2}", file=sys.stderr)
        return 2
    try:
        out, meta = build(args.sen2, None if args.no_pupils else args.pupils, args.ehcp)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    md = write(out, meta, args.out)
    print(f"wrote {args.out} ({len(out)} councils) and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
