"""A dated pandemic shock to the onset of need, switchable (1 = off).

Why: need identified after 2020 rose faster than before (speech and language, social and
emotional needs after the school closures); a backtest from 2019 needs the shock as a dated
driver, not as a free trend. With `needs.pandemic_onset_multiplier` = 2, onsets inside the
window double against the same children with no shock (common random numbers), and months
outside the window before it are identical.
"""

from __future__ import annotations

import numpy as np

from sim.model import SendModel
from tests.conftest import events_by_month


def _onsets_by_month(multiplier: float) -> tuple[np.ndarray, SendModel]:
    return events_by_month({"run": {"start": "2019-01"}, "needs": {"pandemic_onset_multiplier": multiplier}},
                           "need_onset", pupils=12000, seed=6, end="2021-12")


def test_the_pandemic_window_raises_onset_of_need_and_nothing_before_it() -> None:
    off, model = _onsets_by_month(1.0)
    on, _ = _onsets_by_month(2.0)
    start = model.timeline.month_index("2020-03")
    end = model.timeline.month_index("2021-07")
    assert np.array_equal(off[:start], on[:start])  # identical before the shock
    ratio = on[start:end + 1].sum() / off[start:end + 1].sum()
    # twice the hazard on a pool of children without need that shrinks slightly faster
    assert 1.8 < ratio < 2.1, ratio
