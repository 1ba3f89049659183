"""The population build: its shortcuts give exactly what the plain computations give.

Why: the build is the only place a whole England's children are made, so it takes shortcuts
(a bisection decided from per-school means where rounding cannot matter, councils copied
straight into the entry-year order). A national run must be the same children as before they
were taken, so each is checked against the plain computation it replaces.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from sim.population.build import _calibrated_logit
from tests.conftest import build_model


def _bisection_over_every_child(share: float, effects: np.ndarray) -> np.ndarray:
    """The calibration as first written: every halving takes the mean over every child."""
    lo, hi = -10.0, 10.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if expit(mid + effects).mean() > share:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2 + effects


@pytest.mark.parametrize("case", range(40))
def test_calibrated_logit_is_the_bisection_over_every_child(case: int) -> None:
    rng = np.random.default_rng(case)
    schools = int(rng.integers(1, 400))
    children = int(rng.integers(1, 30_000))
    effects = rng.normal(0.0, rng.choice([0.0, 0.3, 1.0, 3.0]), schools)
    school = rng.integers(0, schools, children)
    share = float(rng.choice([rng.random(), 1e-4, 0.5, 0.9999, 0.0, 1.0]))
    assert np.array_equal(_calibrated_logit(share, effects, school), _bisection_over_every_child(share, effects[school]))


def test_family_ties_stay_within_the_council_and_entry_cohort() -> None:
    """Each council's ties are drawn per cohort and moved to the state's rows as the council is
    placed in the entry-year order: every tie must land on a child of the same cohort."""
    children = build_model(councils=3, pupils=2400).children
    rows, slots = np.nonzero(children.ties >= 0)
    tied = children.ties[rows, slots]
    assert len(rows) > 0.9 * children.ties.size
    assert np.array_equal(children.council[tied], children.council[rows])
    assert np.array_equal(children.entry_year[tied], children.entry_year[rows])
    assert (tied != rows).all()
