"""The council table (sim/data/councils.csv): shape, completeness, provenance, national totals, the
centring of the heterogeneity indices, and byte-for-byte reproducibility of the build script."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.config.council_table import (
    DEFAULT_PATH,
    INDEX_COLUMNS,
    KEY_COLUMNS,
    VALUE_COLUMNS,
    CouncilTableError,
    load_council_table,
)

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "build_council_table.py"
PROVENANCE = DEFAULT_PATH.with_name("councils_PROVENANCE.md")

# sen2 national rows (calendar year 2025 / 2022, all ages), and January 2025 caseload
NATIONAL_REQUESTS_2025 = 162_702
NATIONAL_REQUESTS_2022 = 114_482
NATIONAL_ISSUED_2025 = 102_203  # timeliness_20_week_national.csv plans_issued_den
PLANS_JAN_2025 = 638_745


def _build_module():
    spec = importlib.util.spec_from_file_location("build_council_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return load_council_table()


def test_rows_and_keys(table):
    assert 150 <= len(table) <= 154
    assert table["la_code"].is_unique
    assert table["old_la_code"].is_unique
    assert table["la_code"].str.fullmatch(r"E(06|08|09|10)\d{6}").all()
    assert table["region_name"].nunique() == 9


def test_no_missing_key_or_model_values(table):
    cols = list(KEY_COLUMNS) + list(VALUE_COLUMNS)
    assert not table[cols].isna().any().any()
    assert (table["pupils_est"] > 0).all() and table["pupils_est"].sum() == 8_100_000
    for col in ("refusal_rate_2025", "within_20_weeks_2025", "appeal_rate_2025", "special_share"):
        assert table[col].between(0.0, 1.0).all(), col
    for col in ("ep_capacity_index", "demand_index", "appeal_index", "special_places_index"):
        assert (table[col] > 0).all(), col


def test_every_imputed_value_has_provenance(table):
    for col in VALUE_COLUMNS:
        source, imputed = table[f"{col}_source"], table[f"{col}_imputed"]
        assert source.notna().all() and (source.str.len() > 0).all(), col
        if col in INDEX_COLUMNS:
            assert (source == "derived").all(), col
        else:
            assert (source.str.startswith("observed") == ~imputed).all(), col
            assert source[imputed].str.startswith("imputed:").all(), col
    assert not table["pupils_est_imputed"].any(), "pupils come from the school census for every council"
    # an index is imputed exactly when its input is
    assert (table["special_places_index_imputed"] == table["special_share_imputed"]).all()


def test_special_share_provenance(table):
    """caseload_la_total.csv is partial: 67 councils observed, every other value imputed by a named rule."""
    source, imputed = table["special_share_source"], table["special_share_imputed"]
    assert (~imputed).sum() == 67
    assert set(source[imputed]) == {"imputed:regional_median", "imputed:national_median"}
    # a regional median fills only regions with >= 3 observed councils; the national median only the others
    observed_per_region = (~imputed).groupby(table["region_name"]).sum()
    regional = source == "imputed:regional_median"
    assert (observed_per_region[table.loc[regional, "region_name"]] >= 3).all()
    assert (observed_per_region[table.loc[source == "imputed:national_median", "region_name"]] < 3).all()
    for region in table.loc[imputed, "region_name"].unique():  # one fill value per region
        assert table.loc[imputed & (table["region_name"] == region), "special_share"].nunique() == 1, region
    assert table.loc[table["la_name"] == "Gateshead", "special_share"].item() == pytest.approx(0.519)  # 202223
    assert table.loc[table["la_name"] == "Somerset", "special_share"].item() == pytest.approx(0.278)  # 202526, latest
    text = PROVENANCE.read_text(encoding="utf-8")
    for phrase in ("special_total_pc", "January 2023 (202223): 66", "January 2026 (202526): 1", "special_share`: imputed:"):
        assert phrase in text, phrase


def test_provenance_note_covers_every_column_and_code(table):
    assert PROVENANCE.is_file()
    text = PROVENANCE.read_text(encoding="utf-8")
    for col in table.columns:
        base = re.sub(r"_(source|imputed)$", "", col)
        assert f"`{base}`" in text or base in text, col
    codes = {part for col in VALUE_COLUMNS for s in table[f"{col}_source"].unique() for part in s.split(";")}
    for code in codes:
        assert code in text, code
    for name in ("Cumbria", "North Yorkshire", "Somerset", "January 2026", "observed for every council"):
        assert name in text, name


def test_national_totals(table):
    assert abs(table["requests_2025"].sum() / NATIONAL_REQUESTS_2025 - 1) < 0.01
    assert abs(table["requests_2022"].sum() / NATIONAL_REQUESTS_2022 - 1) < 0.01
    assert abs(table["new_plans_2025"].sum() / NATIONAL_ISSUED_2025 - 1) < 0.02
    observed = table["plans_2025_source"] == "observed"
    assert table.loc[observed, "plans_2025"].sum() == 713_140  # the raw phase-transfers rows
    # plans_2025 is the January 2026 caseload: no national figure in the data; check the growth on Jan 2025
    assert 1.08 < table["plans_2025"].sum() / PLANS_JAN_2025 < 1.16


def test_indices_centred_on_england(table):
    w = table["plans_2025"]
    for col in ("ep_capacity_index", "demand_index", "appeal_index"):
        mean = np.average(table[col], weights=w)
        assert abs(mean - 1.0) < 0.15, (col, mean)
        assert abs(np.average(np.log(table[col]), weights=w)) < 0.15, col
    assert abs(np.average(table["gatekeeping_index"], weights=w)) < 0.2  # additive: England = 0
    assert table["ep_capacity_index"].between(0.4, 2.5).all()


def test_special_places_index_centred_and_clipped(table):
    idx, w = table["special_places_index"], table["plans_2025"]
    assert idx.between(0.4, 2.5).all()
    assert abs(np.average(idx, weights=w) - 1.0) < 0.05
    assert abs(np.average(np.log(idx), weights=w)) < 0.05
    observed = ~table["special_share_imputed"]
    # normalised on the observed councils: one national denominator, plan-weighted mean 1 there
    unclipped = observed & idx.between(0.41, 2.49)
    ratio = table.loc[unclipped, "special_share"] / idx[unclipped]
    assert ratio.max() - ratio.min() < 1e-4  # one national denominator
    assert np.average(idx[observed], weights=w[observed]) == pytest.approx(1.0, abs=0.01)
    assert idx.std() > 0.1  # real heterogeneity among the observed councils


def test_council_profiles_carry_the_special_places_index(table):
    from sim.config.council_table import council_profiles

    profiles = council_profiles("england")
    assert "special_places_index" in profiles.columns
    merged = profiles.merge(table[["la_code", "special_places_index"]], on="la_code", suffixes=("", "_table"))
    assert len(merged) == len(table)
    assert np.allclose(merged["special_places_index"], merged["special_places_index_table"])


def test_loader_rejects_bad_tables(tmp_path, table):
    with pytest.raises(CouncilTableError, match="not found"):
        load_council_table(tmp_path / "none.csv")
    table.drop(columns=["demand_index"]).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(CouncilTableError, match="demand_index"):
        load_council_table(tmp_path / "a.csv")
    dup = pd.concat([table, table.iloc[[0]]])
    dup.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(CouncilTableError, match="duplicate"):
        load_council_table(tmp_path / "b.csv")
    gap = table.copy()
    gap.loc[3, "pupils_est"] = np.nan
    gap.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(CouncilTableError, match="missing values"):
        load_council_table(tmp_path / "c.csv")


def test_build_reproduces_committed_files(tmp_path):
    module = _build_module()
    if not module.DEFAULT_SEN2.is_dir():
        pytest.skip(f"SEN2 extracts not available at {module.DEFAULT_SEN2}")
    out = tmp_path / "councils.csv"
    assert module.main(["--out", str(out)]) == 0
    assert out.read_bytes() == DEFAULT_PATH.read_bytes()
    assert (tmp_path / "councils_PROVENANCE.md").read_bytes() == PROVENANCE.read_bytes()


def _pupils_file(path: Path, table: pd.DataFrame, rows: dict[str, tuple[int, int]]) -> Path:
    pd.DataFrame([{"la_code": code, "pupils": p, "fsm_eligible": f} for code, (p, f) in rows.items()]).to_csv(path, index=False)
    return path


def test_without_council_fsm_figures_every_council_has_englands_share(tmp_path):
    """Built without the census file, the table says it has no council FSM figures rather than inventing a spread."""
    module = _build_module()
    if not module.DEFAULT_SEN2.is_dir():
        pytest.skip(f"SEN2 extracts not available at {module.DEFAULT_SEN2}")
    out = tmp_path / "councils.csv"
    assert module.main(["--out", str(out), "--no-pupils"]) == 0
    built = load_council_table(out)
    assert (built["fsm_share"] == 0.26).all()
    assert (built["fsm_share_source"] == "imputed:england_share").all() and built["fsm_share_imputed"].all()
    assert (built["deprivation_index"] == 0.0).all()
    assert built["pupils_est_imputed"].all() and built["pupils_est"].sum() == 8_100_000
    assert "IMPUTED" in out.with_name("councils_PROVENANCE.md").read_text(encoding="utf-8")


SOURCES = DEFAULT_PATH.parent / "council_sources"


def test_every_council_has_observed_pupils_and_fsm_from_the_census(table):
    """153 councils; England's pupils and FSM-eligible pupils within 0.5% of the census file; provenance per value."""
    census = pd.read_csv(SOURCES / "la_pupils_fsm.csv", dtype={"la_code": str})
    assert len(table) == 153 == len(census)
    assert (table["pupils_est_source"] == "observed:scaled_to_reception_y11").all()
    assert (table["fsm_share_source"] == "observed").all() and not table["fsm_share_imputed"].any()
    merged = table.merge(census, left_on="old_la_code", right_on="la_code", suffixes=("", "_census"))
    assert len(merged) == 153
    factor = merged["pupils_est"].sum() / merged["pupils"].sum()
    assert factor == pytest.approx(8_100_000 / 8_449_949, rel=1e-6)
    # one factor for every council (rounding only), so the census totals are recovered
    assert abs(merged["pupils_est"].sum() / factor / census["pupils"].sum() - 1) < 0.005
    assert np.abs(merged["pupils_est"] - merged["pupils"] * factor).max() <= 1.0
    fsm = (merged["fsm_share"] * merged["pupils"]).sum()
    assert abs(fsm / census["fsm_eligible"].sum() - 1) < 0.005
    assert np.allclose(merged["fsm_share"], merged["fsm_eligible"] / merged["pupils"], atol=1e-6)
    # deprivation differs across councils (3% to 47% FSM), centred on England
    assert table["deprivation_index"].std() > 0.3
    assert abs(np.average(table["deprivation_index"], weights=table["pupils_est"])) < 0.1
    by_name = table.set_index("la_name")
    assert by_name.loc["Manchester", "deprivation_index"] > 0.8 > -0.5 > by_name.loc["Wokingham", "deprivation_index"]


def test_published_ehcp_share_is_a_council_target(table):
    sen = pd.read_csv(SOURCES / "la_sen_2025.csv", dtype={"la_code": str})
    merged = table.merge(sen, left_on="old_la_code", right_on="la_code")
    assert len(merged) == 153 and (table["ehcp_share_2025_source"] == "observed").all()
    assert np.allclose(merged["ehcp_share_2025"], merged["ehcp_pct_all_schools_lait"] / 100)
    england = np.average(table["ehcp_share_2025"], weights=table["pupils_est"])
    assert england == pytest.approx(0.053, abs=0.002)  # DfE headline 5.3%


def test_a_pupils_file_gives_observed_pupils_and_deprivation(tmp_path, table):
    module = _build_module()
    if not module.DEFAULT_SEN2.is_dir():
        pytest.skip(f"SEN2 extracts not available at {module.DEFAULT_SEN2}")
    north_east = table.loc[table["region_name"] == "North East", "la_code"].tolist()
    rows = {code: (20_000 + 1000 * i, 8_000 + 100 * i) for i, code in enumerate(north_east[:4])}  # ~40% FSM
    rows[table.loc[table["la_name"] == "Surrey", "old_la_code"].item()] = (150_000, 18_000)  # old code, 12% FSM
    out = tmp_path / "councils.csv"
    assert module.main(["--out", str(out), "--pupils", str(_pupils_file(tmp_path / "p.csv", table, rows))]) == 0
    built = load_council_table(out).set_index("la_name")
    assert built.loc["Surrey", "pupils_est"] == 150_000 and built.loc["Surrey", "pupils_est_source"] == "observed"
    assert built.loc["Surrey", "fsm_share"] == pytest.approx(0.12)
    covered = built.loc[built["la_code"].isin(north_east[:4])]
    assert (covered["fsm_share_source"] == "observed").all()
    # log-odds relative to the table's own pupil-weighted England share
    assert (covered["deprivation_index"] > built.loc["Surrey", "deprivation_index"] + 1.0).all()
    england = np.average(built["fsm_share"], weights=built["pupils_est"])
    assert built.loc["Surrey", "deprivation_index"] == pytest.approx(np.log(0.12 / 0.88) - np.log(england / (1 - england)), abs=1e-4)
    # the rest of the North East gets its region's median; regions without 3 observed councils the national median
    rest = built.loc[(built["region_name"] == "North East") & ~built["la_code"].isin(north_east[:4])]
    assert (rest["fsm_share_source"] == "imputed:regional_median").all()
    assert rest["fsm_share"].nunique() == 1 and rest["fsm_share"].iloc[0] == pytest.approx(covered["fsm_share"].median(), abs=1e-6)
    london = built.loc[built["region_name"] == "London"]
    assert (london["fsm_share_source"] == "imputed:national_median").all()
    assert built["pupils_est"].sum() == 8_100_000  # the rest of England's pupils shared among the others
    assert "p.csv" in out.with_name("councils_PROVENANCE.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("rows", "message"), [
    ({"E99999999": (1000, 100)}, "unknown la_code"),
    ({"E06000001": (1000, 2000)}, "fsm_eligible must be between 0 and pupils"),
    ({"E06000001": (0, 0)}, "pupils must be a number > 0"),
])
def test_a_bad_pupils_file_is_refused_by_name(tmp_path, table, capsys, rows, message):
    module = _build_module()
    if not module.DEFAULT_SEN2.is_dir():
        pytest.skip(f"SEN2 extracts not available at {module.DEFAULT_SEN2}")
    out = tmp_path / "councils.csv"
    assert module.main(["--out", str(out), "--pupils", str(_pupils_file(tmp_path / "p.csv", table, rows))]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
