"""FSM eligibility follows a dated path (the 2019-2025 rise), and never falls.

Why: the share of pupils eligible for free school meals rose from 15% to 26% between 2019 and
2025 (T147, T143, T138, T149); a backtest that holds it fixed misstates both the FSM shares by
SEN status and the need they carry. `population.fsm_share_path` moves it each January.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import SendModel
from sim.processes.fsm import target_share
from tests.conftest import small_config

PATH = {2025: 0.26, 2027: 0.32, 2029: 0.32}


def _january_fsm_shares(model: SendModel) -> dict[int, float]:
    shares = {}
    for snap in model.recorder.census:
        pupils = snap.columns["year_group"] <= 11
        shares[model.timeline.calendar(snap.t)[0]] = float(snap.columns["fsm"][pupils].mean())
    return shares


def test_target_share_interpolates_and_is_flat_beyond_the_path() -> None:
    assert target_share({}, 2030) is None
    assert target_share(PATH, 2026) == pytest.approx(0.29)
    assert target_share(PATH, 2020) == pytest.approx(0.26) and target_share(PATH, 2035) == pytest.approx(0.32)


def test_fsm_share_follows_the_path_and_is_never_withdrawn() -> None:
    held = SendModel(small_config(councils=1, pupils=12000, end="2029-02"), seed=2, keep_snapshots=True).run()
    rising = SendModel(small_config({"population": {"fsm_share_path": PATH}}, councils=1, pupils=12000, end="2029-02"), seed=2).run()
    held_shares, rising_shares = _january_fsm_shares(held), _january_fsm_shares(rising)
    for year in (2026, 2027, 2028, 2029):
        assert rising_shares[year] == pytest.approx(target_share(PATH, year), abs=0.005)  # the path, to a pupil or two
        assert abs(held_shares[year] - 0.26) < 0.02  # held: only cohort composition moves it
    # eligibility is never withdrawn: every child eligible in 2027 is still eligible later
    assert not np.any(held.children.fsm & ~rising.children.fsm)
    # the newly eligible come from the lowest-income families
    new = rising.children.fsm & ~held.children.fsm
    assert new.sum() > 0 and np.all(rising.children.income_quintile[new] <= 3)
