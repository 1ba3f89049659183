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

from sim.config.schema import NEED_TYPES, ScenarioConfig
from sim.population.build import _calibrated_logits, _ranked_within_cohorts
from sim.population.need_draw import need_type_from_uniform
from sim.population.network import _by_group_in_random_order, _stable_argsort, cohort_small_world_ties, small_world_ties
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
def test_calibrated_logits_are_each_cohorts_bisection_over_every_child(case: int) -> None:
    rng = np.random.default_rng(case)
    schools = int(rng.integers(1, 400))
    cohorts, children = int(rng.integers(1, 30)), int(rng.integers(1, 3_000))
    effects = rng.normal(0.0, rng.choice([0.0, 0.3, 1.0, 3.0]), schools)
    school = rng.integers(0, schools, (cohorts, children))
    share = float(rng.choice([rng.random(), 1e-4, 0.5, 0.9999, 0.0, 1.0]))
    expected = np.concatenate([_bisection_over_every_child(share, effects[row]) for row in school])
    assert np.array_equal(_calibrated_logits(share, effects, school), expected)


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


def _type_from_a_row_of_shares_per_child(needs, fsm: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """The need type as first written: each child's own row of cumulative shares."""
    weights = np.array(needs.type_mix)[None, :] * np.exp(np.outer(fsm, needs.deprivation_type_tilt))
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    return (uniform[:, None] > cumulative).sum(axis=1).clip(0, len(NEED_TYPES) - 1)


@pytest.mark.parametrize("type_mix", [None, [0.3, 0.0, 0.2, 0.0, 0.1, 0.0, 0.0, 0.1, 0.1, 0.0, 0.0, 0.2]])
@pytest.mark.parametrize("children", [0, 1, 7, 50_000])
def test_need_type_is_the_count_of_cumulative_shares_below_the_uniform(type_mix, children: int) -> None:
    """Zero shares (repeated cumulative values) and uniforms exactly on a cumulative share are
    where a binary search and a count could part; they must not."""
    needs = ScenarioConfig.model_validate({"needs": {"type_mix": type_mix}} if type_mix else {}).needs
    rng = np.random.default_rng(children)
    fsm = rng.random(children) < 0.3
    uniform = rng.random(children)
    # some uniforms exactly on the shares of the child's row
    on_share = rng.random(children) < 0.2
    weights = np.array(needs.type_mix)[None, :] * np.exp(np.outer([False, True], needs.deprivation_type_tilt))
    shares = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    uniform[on_share] = shares[fsm[on_share].astype(int), rng.integers(0, len(NEED_TYPES), on_share.sum())]
    expected = _type_from_a_row_of_shares_per_child(needs, fsm, uniform)
    got = need_type_from_uniform(needs, fsm, uniform)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)


@pytest.mark.parametrize("case", range(30))
def test_family_communities_are_ordered_as_lexsort_orders_them(case: int) -> None:
    """Groups of a narrow and of a wide range of values, distinct draws and equal ones (where an
    unstable sort could put rows in another order than lexsort)."""
    rng = np.random.default_rng(case)
    n = int(rng.integers(0, 5000))
    group = rng.integers(0, int(rng.integers(1, 300)), n) * int(rng.choice([1, 1000])) + int(rng.choice([0, -7, 1 << 20]))
    draw = rng.random(n) if case % 2 else np.round(rng.random(n), 2)
    assert np.array_equal(_by_group_in_random_order(group, draw), np.lexsort((draw, group)))
    for keys in (group, (group % 2**14).astype(np.int16)):
        assert np.array_equal(_stable_argsort(keys), np.argsort(keys, kind="stable"))


@pytest.mark.parametrize("case", range(20))
def test_cohort_ties_are_one_small_world_a_cohort(case: int) -> None:
    """A council's cohorts' ties made together are each cohort's own small world, from its own
    stream: the ties one `small_world_ties` call a cohort gives (rows of the cohort)."""
    rng = np.random.default_rng(case)
    cohorts, size = int(rng.integers(1, 30)), int(rng.integers(1, 600))
    group = rng.integers(0, int(rng.integers(1, 200)), cohorts * size) + int(rng.choice([0, -5, 1 << 20]))
    degree, rewiring = int(rng.integers(0, 9)), float(rng.choice([0.0, 0.1, 0.7]))
    together = cohort_small_world_ties(group, size, degree, rewiring, [np.random.default_rng((case, i)) for i in range(cohorts)])
    one_by_one = np.concatenate([
        small_world_ties(group[i * size:(i + 1) * size], np.zeros(size, dtype=np.int64), degree, rewiring, np.random.default_rng((case, i)))
        for i in range(cohorts)
    ])
    assert together.dtype == np.int32 and np.array_equal(together, one_by_one)


def test_cohorts_are_ranked_as_each_cohort_alone() -> None:
    """Support goes to each cohort's highest scores, ties (equal scores, and the -inf of children
    without need) in row order: ranking all cohorts at once must rank each as a sort of its own."""
    rng = np.random.default_rng(5)
    blocks = np.arange(20 * 300).reshape(20, 300) + 1000
    score = np.round(rng.normal(size=blocks.shape), 1)
    score[rng.random(blocks.shape) < 0.3] = -np.inf
    expected = np.array([row[np.argsort(-s, kind="stable")] for row, s in zip(blocks, score)])
    assert np.array_equal(_ranked_within_cohorts(blocks, score), expected)
