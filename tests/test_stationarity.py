"""A start the dynamics keep: with every trend off, latent need stays where the census put it.

Why: every forecast is the start census carried forward by the model's rules. If the rules
carry a year group's share of pupils with latent need somewhere else even when nothing in the
world changes, the baseline's growth is an artefact of the start, not a forecast. With
`configs/no_trends.yaml` the January share of pupils with latent need in each year group must
stay within 1 point of the start census for 11 years (plus the sampling noise of the cohorts
compared, which are different children: 2 binomial standard deviations of the difference).
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


def _run(councils: int, scale: float, end: str, seed: int) -> SendModel:
    config = load_config(NO_TRENDS)
    config.population.councils = councils
    config.population.scale = scale
    config.run.end = end
    return SendModel(config, seed=seed).run()


def _january_shares(model: SendModel, bands: list[list[int]]):
    """Per January: (share with latent need, pupils) per band of year groups, and FSM shares of
    pupils with and without latent need."""
    rows = []
    for snap in model.recorder.census:
        year_group, severity = snap.columns["year_group"], snap.columns["severity"]
        fsm = model.children.fsm[snap.lo:snap.hi]
        need = severity > 0
        shares = []
        for band in bands:
            sel = np.isin(year_group, band)
            shares.append((100 * need[sel].mean(), int(sel.sum())))
        pupils = year_group <= 11
        fsm_need = 100 * fsm[pupils & need].mean()
        fsm_no_need = 100 * fsm[pupils & ~need].mean()
        rows.append((shares, fsm_need, fsm_no_need, int((pupils & need).sum()), int((pupils & ~need).sum())))
    return rows


def _noise(p: float, n0: int, n1: int) -> float:
    """Standard deviation (points) of the difference of two independent shares p from n0 and n1."""
    q = p / 100
    return 100 * np.sqrt(q * (1 - q) * (1 / n0 + 1 / n1))


def _check(rows, bands, tolerance: float = TOLERANCE) -> list[str]:
    failures = []
    start_shares, start_fsm_need, start_fsm_no_need, n_need, n_no_need = rows[0]
    for year, (shares, fsm_need, fsm_no_need, m_need, m_no_need) in enumerate(rows[1:], start=1):
        for band, (p0, n0), (p1, n1) in zip(bands, start_shares, shares):
            allowed = tolerance + 2 * _noise(p0, n0, n1)
            if abs(p1 - p0) > allowed:
                failures.append(f"year +{year}, year groups {band}: latent need {p0:.1f}% -> {p1:.1f}% (allowed +-{allowed:.2f})")
        for label, f0, f1, n0, n1 in (("with need", start_fsm_need, fsm_need, n_need, m_need),
                                      ("without need", start_fsm_no_need, fsm_no_need, n_no_need, m_no_need)):
            allowed = TOLERANCE + 2 * _noise(f0, n0, n1)
            if abs(f1 - f0) > allowed:
                failures.append(f"year +{year}: FSM share of pupils {label} {f0:.1f}% -> {f1:.1f}% (allowed +-{allowed:.2f})")
    return failures


def test_latent_need_by_phase_is_kept_without_trends():
    """Fast variant: one council, primary (Reception-Y6) and secondary (Y7-Y11) bands, 6 years."""
    bands = [list(range(0, 7)), list(range(7, 12))]
    model = _run(councils=1, scale=1.0, end="2031-01", seed=3)
    assert len(model.recorder.census) == 7
    assert _check(_january_shares(model, bands), bands) == []


@pytest.mark.slow
def test_latent_need_by_year_group_is_kept_for_eleven_years_without_trends():
    """Every year group, Reception to Year 11, every January 2026-2036, four councils.

    Averaged over the eleven Januaries each year group stays within 1 point of its start; in
    single years a transient of up to 2 points remains in Years 9-10 in 2026-2028 (support at
    the start census is matched more often than the dynamics keep it, and matched mild needs
    resolve faster: docs/DYNAMICS.md), so single years are held to 2 points.
    """
    bands = [[g] for g in range(12)]
    model = _run(councils=4, scale=1.0, end="2036-01", seed=5)
    rows = _january_shares(model, bands)
    assert len(rows) == 12
    assert _check(rows, bands, tolerance=2.0) == []
    for g in range(12):
        start = rows[0][0][g][0]
        mean = np.mean([row[0][g][0] for row in rows[1:]])
        pupils = np.mean([row[0][g][1] for row in rows[1:]])
        # the mean of 11 independent cohorts: its noise is about that of one cohort / sqrt(11)
        allowed = TOLERANCE + 2 * _noise(start, rows[0][0][g][1], pupils * 11)
        assert abs(mean - start) <= allowed, (g, start, mean, allowed)


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
